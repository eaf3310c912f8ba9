"""Errors to HTTP answers: one handler per error family, `{"detail": "..."}` bodies, never a stack trace.

InvalidInput -> 422          AnomalyNotFound, TicketNotFound, LinkNotFound -> 404
NotConnected, AlreadyLinked -> 409                     NotConfigured, StorageUnavailable -> 503
Upstream -> 504 (timeout), 503 (unavailable), 502 (bad gateway)
request validation -> 422 with each field's location (the submitted values are never echoed)
anything else -> 500 with a reference id that is also logged
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.usecases import (
    AlreadyLinked,
    AnomalyNotFound,
    InvalidInput,
    LinkNotFound,
    NotConfigured,
    NotConnected,
    StorageUnavailable,
    TicketNotFound,
    Upstream,
    UseCaseError,
)
from bot.usecases.errors import IntegrationNotFound
from bot.usecases.rules import RuleNotFound

log = logging.getLogger(__name__)

UPSTREAM_STATUS = {"timeout": 504, "unavailable": 503, "bad_gateway": 502}
STATUS: tuple[tuple[type[UseCaseError], int], ...] = (
    (InvalidInput, 422),
    (AnomalyNotFound, 404),
    (TicketNotFound, 404),
    (LinkNotFound, 404),
    (IntegrationNotFound, 404),
    (RuleNotFound, 404),
    (NotConnected, 409),
    (AlreadyLinked, 409),
    (NotConfigured, 503),
    (StorageUnavailable, 503),
)


def status_for(error: UseCaseError) -> int:
    if isinstance(error, Upstream):
        return UPSTREAM_STATUS[error.kind]
    return next((status for kind, status in STATUS if isinstance(error, kind)), 400)


async def use_case_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UseCaseError)
    body: dict[str, object] = {"detail": error.message}
    headers: dict[str, str] = {}
    if isinstance(error, InvalidInput) and error.field:
        body["field"] = error.field
    if isinstance(error, Upstream) and error.retry_after:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return JSONResponse(body, status_code=status_for(error), headers=headers)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 shape without `input`/`ctx`/`url`: a rejected body may hold credentials."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


class InternalErrorMiddleware:
    """Turns an unexpected exception into a 500 with a reference id (logged with the traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("unexpected error %s on %s %s", reference, scope.get("method"), scope.get("path"))
            if started:
                raise
            response = JSONResponse(
                {
                    "detail": f"Internal error; quote reference {reference} when reporting it.",
                    "reference": reference,
                },
                status_code=500,
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(UseCaseError, use_case_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(InternalErrorMiddleware)
