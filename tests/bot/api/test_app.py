"""`build_app`: extensions add routes and run their lifespans; a bot the app built is closed on shutdown."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from bot.app import Extension, build_app
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.servicenow import ServiceNowEmulator


async def test_extensions_get_routes_and_lifespans(make_settings: Callable[..., Settings]) -> None:
    events: list[str] = []

    def slack(settings: Settings, snowbot: Snowbot) -> Extension:
        router = APIRouter()

        @router.post("/slack/events")
        async def events_endpoint() -> dict[str, bool]:
            return {"ok": snowbot.settings is settings}

        @asynccontextmanager
        async def scheduler(app: FastAPI, bot: Snowbot) -> AsyncIterator[None]:
            events.append("start")
            yield
            events.append("stop")

        return Extension(routers=[router], lifespans=[scheduler])

    app = build_app(make_settings(), extensions=[slack])
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/slack/events")).json() == {"ok": True}
            assert (await client.get("/healthz")).status_code == 200
        assert events == ["start"]
    assert events == ["start", "stop"]
    with pytest.raises(sqlite3.ProgrammingError):  # the bot the app built was closed with it
        app.state.snowbot.db.execute("SELECT 1")


async def test_an_unexpected_error_is_a_500_with_a_logged_reference(
    api_client: httpx.AsyncClient,
    snowbot: Snowbot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> list[object]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(snowbot, "list_integrations", broken)
    response = await api_client.get("/api/integrations/ticketing")

    assert response.status_code == 500
    body = response.json()
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert body["reference"] in body["detail"]
    assert any(body["reference"] in record.getMessage() and record.exc_info for record in caplog.records)


async def test_a_rate_limited_servicenow_says_when_to_retry(
    api_client: httpx.AsyncClient, sn_emulator: ServiceNowEmulator
) -> None:
    sn_emulator.faults.fail_next(429, count=10, retry_after=120)
    response = await api_client.get("/api/integrations/ticketing/tickets/search?query=x")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120" and "120" in response.json()["detail"]
