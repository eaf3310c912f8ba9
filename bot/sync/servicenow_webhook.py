"""`POST /webhooks/servicenow`: a ServiceNow Business Rule tells snowbot a linked ticket changed, and that
ticket is refreshed now (its state, its new journal entries: `bot.sync.back`). Polling stays the fallback.

The request (docs/servicenow-business-rule.md gives the rule's script): a JSON object `{"table", "sys_id"}`
signed with `X-Snowbot-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
SNOWBOT_SERVICENOW_WEBHOOK_SECRET, the form GitHub's webhooks use (`X-Hub-Signature-256`). The signature is
checked on the raw bytes, in constant time (`hmac.compare_digest`), before the body is parsed; no secret
configured: 503; a missing or wrong signature: 401. The body is at most `MAX_BODY` bytes (413). Anything
but an object with a known ticket table and a 32-hex sys_id is a 400. Then 202 at once; the refresh runs as
a background task, and a ticket no link knows does nothing. Bodies are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from bot.sync.webhook import _read_body
from servicenow.kinds import KINDS

log = logging.getLogger(__name__)

PATH = "/webhooks/servicenow"
SIGNATURE_HEADER = "x-snowbot-signature"
MAX_BODY = 4 * 1024
"""Bytes; the rule's body is about 80."""
SYS_ID = re.compile(r"[0-9a-f]{32}")
AUTH_HELP = (
    "Sign the raw body: X-Snowbot-Signature: sha256=<hex HMAC-SHA256 keyed with "
    "SNOWBOT_SERVICENOW_WEBHOOK_SECRET> (docs/servicenow-business-rule.md)."
)

RefreshTicket = Callable[[str, str], Awaitable[object]]
"""(table, sys_id) -> refresh that ticket's links now (`SyncEngine.sync_ticket`)."""


def signature(secret: str, body: bytes) -> str:
    """The header's value for `body`: `sha256=` and the hex HMAC-SHA256 keyed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(secret: str, body: bytes, presented: str) -> bool:
    """Whether `presented` is the body's signature (compared in constant time)."""
    return hmac.compare_digest(presented.strip().lower().encode(), signature(secret, body).encode())


def parse_ticket(body: bytes) -> tuple[str, str]:
    """(table, sys_id) of a notification; ValueError saying what is wrong."""
    try:
        payload: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError('The body must be JSON: {"table": "incident", "sys_id": "<32 hex>"}.') from None
    if not isinstance(payload, dict):
        raise ValueError('The body must be a JSON object: {"table": ..., "sys_id": ...}.')
    table, sys_id = payload.get("table"), payload.get("sys_id")
    tables = sorted(kind.table for kind in KINDS.values())
    if not isinstance(table, str) or table not in tables:
        raise ValueError(f"table must be one of {', '.join(tables)}.")
    if not isinstance(sys_id, str) or not SYS_ID.fullmatch(sys_id):
        raise ValueError("sys_id must be the ticket's sys_id: 32 lowercase hexadecimal characters.")
    return table, sys_id


def servicenow_webhook_router(refresh_ticket: RefreshTicket | None, secret: SecretStr | None) -> APIRouter:
    """The route; `refresh_ticket` is `SyncEngine.sync_ticket` (None: the sync is not configured, 503)."""
    router = APIRouter(tags=["webhooks"])

    @router.post(
        PATH,
        status_code=202,
        summary="ServiceNow Business Rule: a ticket changed; refresh it now",
        responses={400: {}, 401: {}, 413: {}, 503: {}},
    )
    async def servicenow_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
        key = secret.get_secret_value() if secret is not None else ""
        if not key:
            return _answer(503, "The ServiceNow webhook is disabled: set SNOWBOT_SERVICENOW_WEBHOOK_SECRET.")
        body = await _read_body_capped(request)
        if body is None:
            return _answer(413, f"A ServiceNow notification is at most {MAX_BODY // 1024} KB.")
        if not signed(key, body, request.headers.get(SIGNATURE_HEADER, "")):
            return _answer(401, AUTH_HELP)
        try:
            table, sys_id = parse_ticket(body)
        except ValueError as bad:
            return _answer(400, str(bad))
        if refresh_ticket is None:
            return _answer(503, "The sync is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN.")
        background.add_task(_refresh, refresh_ticket, table, sys_id)
        return JSONResponse({"table": table, "sys_id": sys_id}, status_code=202)

    return router


async def _read_body_capped(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = await _read_body(request)
    return body if body is not None and len(body) <= MAX_BODY else None


async def _refresh(refresh_ticket: RefreshTicket, table: str, sys_id: str) -> None:
    try:
        await refresh_ticket(table, sys_id)
    except Exception:  # a background task has nobody to answer to: log it
        log.exception("refresh of %s %s (ServiceNow webhook) failed", table, sys_id)


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
