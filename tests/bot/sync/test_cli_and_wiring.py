"""`snowbot sync --once` / `--requeue` and the hook into `snowbot run` (bot.app's extension points)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import storage
from bot.app import build_app
from bot.composition import Outside, compose
from bot.settings import Settings
from bot.sync.cli import run_sync, run_sync_once
from bot.sync.engine import SyncEngine
from bot.sync.wiring import build_engine, sync_extension
from bot.usecases import NotConfigured, Snowbot, TicketForm
from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from snowbot import cli
from storage import sync


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
    assert out[-1] == "outbox: 0 pending (0 retrying), 0 failed, 1 done"
    assert len(sn_emulator.journal(created.incident.sys_id)) == 1


async def test_sync_once_shows_why_a_note_is_retrying(
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
    sn_emulator.faults = Faults(error_rate=1.0, error_statuses=(503,), methods=frozenset({"PATCH"}))

    assert await run_sync_once(settings, snowbot=snowbot) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "outbox: 1 pending (1 retrying), 0 failed, 0 done"
    assert out[-1].startswith(
        f"  retrying: status note (link {created.link.id}, 1 attempts): {created.incident.number}: HTTP 503"
    )


async def test_requeue_sends_the_failed_notes_again_once_the_cause_is_fixed(
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
    sn_emulator.faults = Faults(error_rate=1.0, error_statuses=(403,), methods=frozenset({"PATCH"}))
    assert await run_sync_once(settings, snowbot=snowbot) == 0
    out = capsys.readouterr().out.splitlines()
    assert "outbox: 0 pending (0 retrying), 1 failed, 0 done" in out
    assert out[-1] == "  once the cause is fixed, `snowbot sync --requeue` sends the failed notes again"

    sn_emulator.faults = Faults()  # the service account got its role back
    assert await run_sync(settings, requeue=True, once=False, snowbot=snowbot) == 0
    assert capsys.readouterr().out == "requeued 1 failed note; the next sync pass sends them\n"
    assert sync.counts(snowbot.db)["failed"] == 0
    assert await run_sync(settings, snowbot=snowbot) == 0

    assert "outbox: 0 pending (0 retrying), 0 failed, 1 done" in capsys.readouterr().out.splitlines()
    assert len(sn_emulator.journal(created.incident.sys_id)) == 1


def test_snowbot_sync_requeue_needs_only_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "snowbot.db"
    db = storage.connect(path)
    storage.migrate(db)
    db.close()
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("QUALYTICS_URL", "QUALYTICS_TOKEN", "SERVICENOW_INSTANCE_URL", "SERVICENOW_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SNOWBOT_DB", str(path))

    assert cli.main(["sync", "--requeue"]) == 0

    assert capsys.readouterr().out == "requeued 0 failed notes; the next sync pass sends them\n"


def test_snowbot_sync_flags_choose_what_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    async def fake_run_sync(settings: Settings | None = None, **kwargs: bool) -> int:
        calls.append(kwargs)
        return 0

    monkeypatch.setattr("bot.sync.cli.run_sync", fake_run_sync)
    for argv in (["sync"], ["sync", "--once"], ["sync", "--requeue"], ["sync", "--requeue", "--once"]):
        assert cli.main(argv) == 0
    assert calls == [
        {"once": True, "requeue": False},
        {"once": True, "requeue": False},
        {"once": False, "requeue": True},
        {"once": True, "requeue": True},
    ]


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
    make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot], outside: Outside
) -> None:
    settings = make_settings(webhook_secret="s3cret")
    snowbot = make_snowbot(settings)

    extension = sync_extension(settings, snowbot)
    assert [route.path for router in extension.routers for route in router.routes] == [
        "/webhooks/qualytics",
        "/webhooks/servicenow",
    ]
    assert len(extension.lifespans) == 2  # the sync pass and the creation rules poll

    process = compose(settings, outside=outside)
    assert isinstance(process.engine, SyncEngine) and process.engine.notifier is None  # no Slack settings
    app = build_app(settings, process=process)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/webhooks/qualytics", json={})).status_code == 401  # served, unsigned


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
