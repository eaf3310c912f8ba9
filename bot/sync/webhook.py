"""`POST /webhooks/qualytics`: a Qualytics Flow notification makes snowbot sync the anomalies it names now.

Qualytics Flows (an "Anomaly Status Change" or "Anomaly" trigger with an n8n or webhook action) POST a
JSON notification; the shared secret arrives in the `x-qualytics-secret` header and must equal
SNOWBOT_WEBHOOK_SECRET (compared in constant time). No secret configured: 503, the route is never open.
Wrong or missing secret: 401. The answer is 202 at once; the sync runs as a background task.

The payload is only documented for n8n (`context.anomalies[].id`), and the notes spell some keys in two
ways, so ids are read defensively from every place an anomaly can be named: `context.anomalies[]`,
`anomalies[]`, `anomaly{id}`, `anomaly_id`, `anomaly_ids`, and anomaly URLs in `target_link` or
`message` (`.../anomalies/824`, `...anomalies?id=824`). A notification naming no anomaly is accepted
and does nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

log = logging.getLogger(__name__)

PATH = "/webhooks/qualytics"
SECRET_HEADER = "x-qualytics-secret"
MAX_IDS = 500
ANOMALY_URL = re.compile(r"/anomalies/(\d+)|anomalies\?(?:[^#\s]*&)?id=(\d+)")

SyncAnomalies = Callable[[list[int]], Awaitable[object]]


def anomaly_ids(payload: Any) -> list[int]:
    """The anomaly ids a Flow notification names, in order, each once (at most `MAX_IDS`)."""
    found: dict[int, None] = {}

    def add(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int) and value > 0:
            found.setdefault(value, None)

    def add_items(items: Any) -> None:
        for item in items if isinstance(items, list) else ():
            add(item.get("id", item.get("anomaly_id")) if isinstance(item, dict) else item)

    def add_urls(text: Any) -> None:
        if isinstance(text, str):
            for match in ANOMALY_URL.finditer(text):
                add(match.group(1) or match.group(2))

    if isinstance(payload, dict):
        context = payload.get("context")
        places: Iterable[dict[str, Any]] = (payload, context) if isinstance(context, dict) else (payload,)
        for place in places:
            add_items(place.get("anomalies"))
            anomaly = place.get("anomaly")
            add(anomaly.get("id") if isinstance(anomaly, dict) else anomaly)
            add(place.get("anomaly_id"))
            add_items(place.get("anomaly_ids"))
            add_urls(place.get("target_link"))
            add_urls(place.get("message"))
    elif isinstance(payload, list):
        add_items(payload)
    return list(found)[:MAX_IDS]


def webhook_router(sync_anomalies: SyncAnomalies | None, secret: SecretStr | None) -> APIRouter:
    """The route; `sync_anomalies` is `SyncEngine.sync_anomalies` (None: sync not configured, 503)."""
    router = APIRouter(tags=["webhooks"])

    @router.post(PATH, status_code=202, summary="Qualytics Flow notification: sync the anomalies it names")
    async def qualytics_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
        expected = secret.get_secret_value() if secret is not None else ""
        if not expected:
            return _answer(503, "The Qualytics webhook is disabled: set SNOWBOT_WEBHOOK_SECRET.")
        presented = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return _answer(401, f"Send the shared secret in the {SECRET_HEADER} header.")
        if sync_anomalies is None:
            return _answer(503, "The sync is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN.")
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError:
            return _answer(400, "The notification is not JSON.")
        ids = anomaly_ids(payload)
        if ids:
            background.add_task(_sync, sync_anomalies, ids)
        return JSONResponse({"anomaly_ids": ids}, status_code=202)

    return router


async def _sync(sync_anomalies: SyncAnomalies, ids: list[int]) -> None:
    try:
        await sync_anomalies(ids)
    except Exception:  # a background task has nobody to answer to: log it
        log.exception("sync of anomalies %s (webhook) failed", ids)


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
