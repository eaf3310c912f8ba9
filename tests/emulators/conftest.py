from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulators.servicenow import ServiceNowEmulator


class TickingClock:
    """Moves one second per reading, so every write gets its own timestamp (and order is visible)."""

    def __init__(self, start: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def servicenow(clock: TickingClock) -> ServiceNowEmulator:
    emulator = ServiceNowEmulator(clock=clock)
    emulator.add_user("itil.user", "itil-pw", ["itil"])
    emulator.add_user("viewer", "viewer-pw", [])
    return emulator


@pytest.fixture
def sn_client_for(servicenow: ServiceNowEmulator) -> Callable[..., httpx.AsyncClient]:
    """httpx clients into the `servicenow` fixture; pass auth=None for an anonymous one."""

    def make(auth: tuple[str, str] | None = ("admin", "admin")) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=servicenow.transport(), base_url=servicenow.base_url, auth=auth)

    return make


@pytest.fixture
async def sn(sn_client_for: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with sn_client_for() as client:
        yield client
