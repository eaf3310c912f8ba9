"""`snowbot sync --once` and the hook into `snowbot run` (bot.app's extension points)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.sync.cli import run_sync_once
from bot.sync.engine import SyncEngine
from bot.sync.wiring import build_engine, sync_extension
from bot.usecases import NotConfigured, Snowbot, TicketForm
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator


async def test_sync_once_runs_a_pass_and_prints_what_it_did(
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    snowbot = make_snowbot(settings)
    created = await snowbot.create_ticket_for_anomaly(824, TicketForm(short_description="max_value"), "U1")
    q_emulator.set_status(824, "Acknowledged")

    assert await run_sync_once(settings, snowbot=snowbot) == 0

    out = capsys.readouterr().out.splitlines()
    assert "work notes sent:    1" in out
    assert "events recorded:    1" in out
    assert any(line.startswith("sync pass: ") and "1 notes sent" in line for line in out)
    assert out[-1] == "outbox: 0 pending, 0 failed, 1 done"
    assert len(sn_emulator.journal(created.incident.sys_id)) == 1


async def test_sync_once_without_qualytics_exits_1_and_says_why(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_sync_once(make_settings(qualytics_url=None)) == 1
    assert "set QUALYTICS_URL and QUALYTICS_TOKEN" in capsys.readouterr().err


async def test_sync_once_without_servicenow_exits_1_and_says_why(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(servicenow_instance_url=None, servicenow_credentials=None)
    assert await run_sync_once(settings) == 1
    assert "ServiceNow is not connected" in capsys.readouterr().err


async def test_the_extension_serves_the_webhook_and_runs_the_scheduler_for_the_life_of_the_app(
    make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    settings = make_settings(webhook_secret="s3cret")
    snowbot = make_snowbot(settings)

    extension = sync_extension(settings, snowbot)
    assert [route.path for router in extension.routers for route in router.routes] == ["/webhooks/qualytics"]
    assert len(extension.lifespans) == 1

    app = build_app(settings, snowbot=snowbot, extensions=[sync_extension])
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.sync_engine, SyncEngine)


async def test_without_qualytics_there_is_no_scheduler_and_no_engine(
    make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    settings = make_settings(qualytics_url=None)
    snowbot = make_snowbot(settings)
    assert sync_extension(settings, snowbot).lifespans == ()
    with pytest.raises(NotConfigured):
        build_engine(settings, snowbot)


async def test_the_engine_takes_its_settings(make_settings: Callable[..., Settings], make_snowbot) -> None:
    settings = make_settings(sync_concurrency=5, close_code=" Solution provided ")
    engine = build_engine(settings, make_snowbot(settings))
    assert (engine.config.concurrency, engine.config.close_code) == (5, "Solution provided")
