"""A cap on every request body, enforced before it is read: 413 instead of buffering whatever arrives.

The first time the app asks for the body, a declared `Content-Length` over the cap is refused without
taking a byte; a body without one (chunked) is counted as it streams and refused as soon as it passes
the cap. Either way the app sees `BodyTooLarge` (an `HTTPException`, so FastAPI's body parsing passes it
on and its exception middleware answers `{"detail": ...}` with 413). A route that never reads its body
is never refused. Nothing here logs a body. (Every reader is a route, inside that exception middleware.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MiB = 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, path: str) -> None:
        super().__init__(
            status_code=413,
            detail=f"The request body is larger than {limit} bytes, the most {path} accepts; send less.",
        )


class BodyLimitMiddleware:
    """`limits`: (path prefix, bytes) pairs, the first match wins; other paths get `default`."""

    def __init__(self, app: ASGIApp, *, default: int, limits: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.default = default
        self.limits = tuple(limits)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.limit_for(path)
        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                _refused(scope, limit, f"Content-Length {declared}")
                raise BodyTooLarge(limit, path)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    _refused(scope, limit, f"more than {limit} bytes streamed")
                    raise BodyTooLarge(limit, path)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _refused(scope: Scope, limit: int, why: str) -> None:
    log.info("413 on %s %s: %s (the cap is %d bytes)", scope.get("method"), scope.get("path"), why, limit)
