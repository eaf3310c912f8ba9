"""Two ServiceNow instances for one snowbot: the second emulator (another host, another service account
and password) and the in-process transport that sends each request to the emulator of its host, as the
network would."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.usecases import Snowbot
from emulators.servicenow import ServiceNowEmulator
from storage.integrations import Integration

B_URL = "https://dev-b.service-now.com"
B_USER, B_PASSWORD = "svc-b", "Bravo-pass-2"
"""Instance B's only login: the env instance (A, admin:admin) refuses it, and B refuses A's."""


def instance_b(base_url: str = B_URL) -> ServiceNowEmulator:
    return ServiceNowEmulator(base_url=base_url, users=[(B_USER, B_PASSWORD, ("admin", "itil"))])


class ByHost(httpx.AsyncBaseTransport):
    """Each request to the transport of its URL's host (an unknown host fails as DNS would)."""

    def __init__(self, routes: Mapping[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = dict(routes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no such host {request.url.host}", request=request)
        return await transport.handle_async_request(request)


def routes(*emulators: ServiceNowEmulator) -> ByHost:
    return ByHost({httpx.URL(e.base_url).host: e.transport() for e in emulators})


async def connect_b(bot: Snowbot, url: str = B_URL) -> Integration:
    """Connect instance B through snowbot (it becomes the default, as any connection made in snowbot)."""
    return (await bot.connect(url, f"{B_USER}:{B_PASSWORD}", actor="test")).integration
