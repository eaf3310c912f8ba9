"""`POST /webhooks/qualytics`: a Qualytics Flow notification makes snowbot sync the anomalies it names now.

The secret. A Flow's actions send it in different ways (userguide docs/flows/workflow.md, the OpenAPI's
CreateActionNotification): the **HTTP Action** (the one to use) sends `Authorization: Bearer <secret>`
with Auth Type Bearer, or Basic with the secret as the password (any user name); only the **n8n** action
sends `x-qualytics-secret: <secret>`; the plain **Webhook** action has no secret field, so it cannot be
used. Each form is compared with SNOWBOT_WEBHOOK_SECRET in constant time, and all of them are always
compared. Digest is not accepted (it needs a challenge round trip). No secret configured: 503, the route
is never open. Wrong or missing secret: 401. Then 202 at once; the sync runs as a background task.

The body. At most `MAX_BODY` bytes (413, refused before the rest is read) and, as JSON, at most
`MAX_DEPTH` levels deep (400). It is JSON or text:

* JSON: only n8n's payload is documented (`context.anomalies[].id`), and the notes spell some keys two
  ways, so ids are read from every place an anomaly can be named: `context.anomalies[]`, `anomalies[]`,
  `anomaly{id}`, `anomaly_id`, `anomaly_ids`, and anomaly URLs in `target_link` or `message`. When none
  of those names one, every string in the payload is searched as text (below).
* Text (an HTTP Action's message, written by a person around `{{ target_link }}`; no message variable
  carries an anomaly id): the anomaly URLs in it, in every form `bot.slack.anomaly_ref` knows
  (`/anomalies/824`, `/datastores/23/anomalies?id=824`, escaped or URL-encoded), and "Anomaly ID: 824".

Ids are positive 63-bit integers (SQLite's INTEGER); a number outside that range is a 400, never a
background failure. A notification naming no anomaly is accepted and does nothing. Bodies are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from bot.slack.anomaly_ref import anomaly_ids_in_text

log = logging.getLogger(__name__)

PATH = "/webhooks/qualytics"
SECRET_HEADER = "x-qualytics-secret"
MAX_IDS = 500
MAX_BODY = 256 * 1024
"""Bytes; a Flow notification is a few KB."""
MAX_DEPTH = 32
"""JSON nesting levels; n8n's payload has four."""
MAX_ID = 2**63 - 1
MAX_STRINGS = 2000
"""Strings of a JSON payload searched as text when no known key names an anomaly."""
ANOMALY_URL = re.compile(r"/anomalies/(\d+)|anomalies\?(?:[^#\s]*&)?id=(\d+)")
AUTH_HELP = (
    "Send the shared secret as `Authorization: Bearer <secret>` (a Flow's HTTP Action with Auth Type Bearer), "
    "as the Basic password, or in the x-qualytics-secret header (the n8n action)."
)

SyncAnomalies = Callable[[list[int]], Awaitable[object]]


class BadNotification(ValueError):
    """The notification cannot be used; the message says why (the 400's detail)."""


def anomaly_ids(payload: Any, qualytics_url: str | None = None) -> list[int]:
    """The anomaly ids a Flow notification names, in order, each once (at most `MAX_IDS`). `payload` is the
    parsed JSON, or a `str` for a text body. Raises `BadNotification` for an id out of range."""
    found: dict[int, None] = {}

    def add(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int):
            if not 0 < value <= MAX_ID:
                raise BadNotification(f"Anomaly ids are positive 63-bit integers; {str(value)[:30]} is not.")
            found.setdefault(value, None)

    def add_items(items: Any) -> None:
        for item in items if isinstance(items, list) else ():
            add(item.get("id", item.get("anomaly_id")) if isinstance(item, dict) else item)

    def add_text(text: Any) -> None:
        if isinstance(text, str):
            if qualytics_url is None:  # any host, also a bare `anomalies?id=20`
                for match in ANOMALY_URL.finditer(text):
                    add(match.group(1) or match.group(2))
            for anomaly_id in anomaly_ids_in_text(text, qualytics_url, limit=MAX_IDS):
                add(anomaly_id)

    if isinstance(payload, str):
        add_text(payload)
    elif isinstance(payload, dict):
        context = payload.get("context")
        places: Iterable[dict[str, Any]] = (payload, context) if isinstance(context, dict) else (payload,)
        for place in places:
            add_items(place.get("anomalies"))
            anomaly = place.get("anomaly")
            add(anomaly.get("id") if isinstance(anomaly, dict) else anomaly)
            add(place.get("anomaly_id"))
            add_items(place.get("anomaly_ids"))
            add_text(place.get("target_link"))
            add_text(place.get("message"))
    elif isinstance(payload, list):
        add_items(payload)
    if not found and isinstance(payload, dict | list):  # a shape nobody documented: read it as text
        for text in _strings(payload):
            add_text(text)
    return list(found)[:MAX_IDS]


def webhook_router(
    sync_anomalies: SyncAnomalies | None, secret: SecretStr | None, *, qualytics_url: str | None = None
) -> APIRouter:
    """The route; `sync_anomalies` is `SyncEngine.sync_anomalies` (None: sync not configured, 503).
    `qualytics_url` (QUALYTICS_URL) restricts the anomaly URLs read from text to that instance."""
    router = APIRouter(tags=["webhooks"])

    @router.post(
        PATH,
        status_code=202,
        summary="Qualytics Flow notification: sync the anomalies it names",
        responses={400: {}, 401: {}, 413: {}, 503: {}},
    )
    async def qualytics_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
        expected = secret.get_secret_value() if secret is not None else ""
        if not expected:
            return _answer(503, "The Qualytics webhook is disabled: set SNOWBOT_WEBHOOK_SECRET.")
        if not _authorized(request, expected):
            return _answer(401, AUTH_HELP, headers={"WWW-Authenticate": 'Bearer realm="snowbot"'})
        if sync_anomalies is None:
            return _answer(503, "The sync is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN.")
        body = await _read_body(request)
        if body is None:
            return _answer(413, f"A Qualytics notification is at most {MAX_BODY // 1024} KB.")
        try:
            ids = anomaly_ids(_parse(body, request.headers.get("content-type", "")), qualytics_url)
        except BadNotification as bad:
            return _answer(400, str(bad))
        if ids:
            background.add_task(_sync, sync_anomalies, ids)
        return JSONResponse({"anomaly_ids": ids}, status_code=202)

    return router


def _authorized(request: Request, expected: str) -> bool:
    """Every presented form is compared (in constant time) whether or not an earlier one matched."""
    want = expected.encode()
    header = request.headers.get(SECRET_HEADER, "").encode()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    bearer = credentials.encode() if scheme.lower() == "bearer" else b""
    basic = _basic_password(credentials) if scheme.lower() == "basic" else b""
    matches = [hmac.compare_digest(presented, want) for presented in (header, bearer, basic)]
    return any(matches)


def _basic_password(credentials: str) -> bytes:
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        return b""
    return decoded.partition(b":")[2]


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it is known to exceed `MAX_BODY` (by its Content-Length, else while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, content_type: str) -> Any:
    """JSON (by its content type, or a body that starts like JSON) or UTF-8 text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadNotification("The notification is neither JSON nor UTF-8 text.") from None
    looks_like_json = text.lstrip()[:1] in ("{", "[")
    if "json" not in content_type.lower() and not looks_like_json:
        return text
    try:
        payload = json.loads(text or "null")
    except RecursionError:
        raise BadNotification(f"The notification is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError:
        if "json" in content_type.lower():
            raise BadNotification("The notification is not JSON.") from None
        return text  # text that merely starts with a brace
    if _depth(payload) > MAX_DEPTH:
        raise BadNotification(f"The notification is nested more than {MAX_DEPTH} levels deep.")
    return payload


def _depth(payload: Any) -> int:
    """How deeply containers nest (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(payload, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:  # no need to look further down
                stack.extend(
                    (child, level + 1) for child in (node.values() if isinstance(node, dict) else node)
                )
    return deepest


def _strings(payload: Any) -> Iterator[str]:
    count = 0
    stack = [payload]
    while stack and count < MAX_STRINGS:
        node = stack.pop()
        if isinstance(node, str):
            count += 1
            yield node
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


async def _sync(sync_anomalies: SyncAnomalies, ids: list[int]) -> None:
    try:
        await sync_anomalies(ids)
    except Exception:  # a background task has nobody to answer to: log it
        log.exception("sync of anomalies %s (webhook) failed", ids)


def _answer(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)
