"""In-process httpx transport for the emulators: the ASGI app is "the network".

`httpx.ASGITransport` never times out, so a response the emulator *drops* (after applying the request)
is marked with a header; this transport turns it into `httpx.ReadTimeout`, as a lost response on a real
network would look to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from emulators.faults import DROPPED_HEADER

IN_PROCESS = "emulator.in_process"
"""ASGI scope key set on requests that come through `DroppingTransport`: only those may be answered with
`DROPPED_HEADER`; a request over a real socket is held instead."""


@dataclass
class RecordedRequest:
    """One request as an emulator saw it (its `.requests` log)."""

    method: str
    path: str
    query: dict[str, Any]
    body: Any
    status: int = 0


async def lose_response(request: Request, response: Response, hang: float) -> None:
    """Lose `response` after the request was applied: mark it in-process, or hold it on a real socket.

    On a real socket the answer is held for `hang` seconds or until the client hangs up (its timeout),
    whichever comes first, so a test or a shutdown never waits for the whole `hang`.
    """
    if request.scope.get(IN_PROCESS):
        response.headers[DROPPED_HEADER] = "1"
        return

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), hang)


class DroppingTransport(httpx.AsyncBaseTransport):
    def __init__(self, app) -> None:  # app: an ASGI application
        async def in_process_app(scope, receive, send) -> None:
            scope[IN_PROCESS] = True
            await app(scope, receive, send)

        self._inner = httpx.ASGITransport(app=in_process_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if response.headers.get(DROPPED_HEADER):
            await response.aclose()
            raise httpx.ReadTimeout(
                "emulated: the response was lost after the server applied it", request=request
            )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
