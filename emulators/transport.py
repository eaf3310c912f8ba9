"""In-process httpx transport for the emulators: the ASGI app is "the network".

`httpx.ASGITransport` never times out, so a response the emulator *drops* (after applying the request)
is marked with a header; this transport turns it into `httpx.ReadTimeout`, as a lost response on a real
network would look to the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

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
