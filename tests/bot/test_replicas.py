"""Several replicas on one database (issue 15): the timings are settings checked against each other, and an
interrupted create is reconciled by one replica at a time: the one whose request left it while its lease
runs, then any other."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import Settings, SettingsError, load_settings
from bot.sync.wiring import build_engine
from bot.usecases import Snowbot, Upstream
from emulators.servicenow import ServiceNowEmulator
from storage import integrations, intents, links

from .test_intents import FORM, HeldWrite, interrupted
from .test_usecases import posts, with_correlation_id


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"SNOWBOT_OUTBOX_LEASE": "20", "SNOWBOT_HTTP_TIMEOUT": "10", "SNOWBOT_WRITE_SETTLE": "15"},
            "SNOWBOT_OUTBOX_LEASE=20 is shorter than SNOWBOT_HTTP_TIMEOUT + SNOWBOT_WRITE_SETTLE (10 + 15)",
        ),
        ({"SNOWBOT_WRITE_SETTLE": "5"}, "SNOWBOT_WRITE_SETTLE=5 is shorter than SNOWBOT_HTTP_TIMEOUT (10)"),
        ({"SNOWBOT_CREATE_SETTLE": "1"}, "SNOWBOT_CREATE_SETTLE=1 is shorter than SNOWBOT_HTTP_TIMEOUT (10)"),
        (
            {"SNOWBOT_RETRY_BASE": "60", "SNOWBOT_RETRY_MAX": "30"},
            "SNOWBOT_RETRY_MAX=30 is below SNOWBOT_RETRY_BASE=60",
        ),
        (
            {"SNOWBOT_OUTBOX_LEASE": "0"},
            "SNOWBOT_OUTBOX_LEASE='0' is too small: set it to a number from 1 to 86400",
        ),
        ({"SNOWBOT_RETRY_MAX": "1e9"}, "SNOWBOT_RETRY_MAX='1e9' is too large"),
    ],
)
def test_timings_that_would_let_a_replica_repeat_a_write_are_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path, env: dict[str, str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    [line] = str(refused.value).splitlines()
    assert says in line, line


def test_short_timings_reach_the_engine_and_the_use_cases(
    make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    settings = make_settings(
        http_timeout=1.0, outbox_lease=4.0, write_settle=2.0, create_settle=3.0, retry_base=0.5, retry_max=2.0
    )
    snowbot = make_snowbot(settings)
    config = build_engine(settings, snowbot).config
    assert (config.lease, config.settle_delay, config.base_delay, config.max_delay) == (4.0, 2.0, 0.5, 2.0)
    runtime = snowbot.runtime
    assert (runtime.lease, runtime.intent_settle, runtime.reconcile_interval) == (4.0, 3.0, 4.0)
    assert config.replica == runtime.replica and runtime.replica is not None
    assert runtime.replica.endswith(f":{settings.port}")


async def test_an_interrupted_create_is_left_to_its_replica_while_the_lease_runs_then_any_replica_links_it(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    held = HeldWrite(sn_emulator.transport())
    first = make_snowbot(settings, servicenow_transport=held)
    other = make_snowbot(settings)  # a second replica on the same database file
    other.runtime.replica = "replica-b:3000"
    await interrupted(first, held, lambda: first.create_ticket_for_anomaly(824, FORM, "U1"))
    await held.applied()  # ServiceNow made the incident; the request that asked is gone

    assert (await other.reconcile_intents())["undecided"] == 1  # the first replica's claim still runs
    with pytest.raises(Upstream, match="was interrupted"):
        await other.create_ticket_for_anomaly(824, FORM, "U1")
    assert links.for_anomaly(other.db, 824) == []

    later = datetime.now(UTC) + timedelta(seconds=other.runtime.lease + 1)
    other.clock = lambda: later  # the first replica never came back: its lease ran out
    assert (await other.reconcile_intents())["linked"] == 1
    assert (await first.reconcile_intents())["linked"] == 0  # taken over: not linked a second time
    retry = await other.create_ticket_for_anomaly(824, FORM, "U1")

    [made] = with_correlation_id(sn_emulator)
    assert retry.incident.sys_id == made["sys_id"] and "no second incident" in retry.message
    assert len(posts(sn_emulator)) == 1
    assert [link.ticket_sys_id for link in links.for_anomaly(other.db, 824)] == [made["sys_id"]]
    assert intents.open_intents(other.db) == []


def test_replicas_starting_at_once_record_the_environments_integration_once(
    make_snowbot: Callable[..., Snowbot], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, saves = integrations.save, []

    def loses_the_race(db: object, *args: object, **kwargs: object) -> object:
        """The other replica's insert commits between our look and ours (PostgreSQL, READ COMMITTED)."""
        saves.append(kwargs["instance_url"])
        real(db, *args, **kwargs)  # type: ignore[arg-type]
        raise sqlite3.IntegrityError("UNIQUE constraint failed: integrations.instance_url")

    monkeypatch.setattr(integrations, "save", loses_the_race)
    bot = make_snowbot(settings)  # starts: reads the winner's row instead of failing

    [recorded] = integrations.list_all(bot.db)
    assert recorded.source == "env" and len(saves) == 1


async def test_a_request_keeps_its_intent_while_it_runs_so_no_replica_retires_it_under_its_post(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    held = HeldWrite(sn_emulator.transport())
    first = make_snowbot(settings, servicenow_transport=held)
    first.runtime.lease = 0.3  # renewed every 0.1 s while the request runs
    other = make_snowbot(settings)
    other.runtime.replica, other.intent_settle = "replica-b:3000", 0.0  # would retire what it may claim
    creating = asyncio.ensure_future(first.create_ticket_for_anomaly(824, FORM, "U1"))
    await asyncio.wait_for(held.arrived.wait(), 10)  # the POST is on its way, held by a slow instance
    [intent] = intents.open_intents(other.db)
    recorded = intent.lease_until
    assert recorded is not None
    deadline = asyncio.get_running_loop().time() + 10
    while (intents.get(other.db, intent.id).lease_until or recorded) <= recorded + timedelta(seconds=0.3):
        assert asyncio.get_running_loop().time() < deadline, "the claim was never renewed"
        await asyncio.sleep(0.02)  # polling the database for the renewal, bounded by the deadline

    assert (await other.reconcile_intents())["retired"] == 0  # the claim still runs: not looked at
    await held.applied()
    created = await creating

    assert [row["sys_id"] for row in with_correlation_id(sn_emulator)] == [created.incident.sys_id]
    assert len(links.for_anomaly(other.db, 824)) == 1


async def test_two_replicas_that_both_found_no_earlier_create_make_one_incident(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    """Replica B checked for an earlier create of the anomaly just before replica A recorded its intent
    (the window the anomaly's in-process lock cannot close across processes): the database refuses B's
    intent, B sends nothing and says to try again, A's create is the one incident."""
    held = HeldWrite(sn_emulator.transport())
    first = make_snowbot(settings, servicenow_transport=held)
    other = make_snowbot(settings)  # a second replica on the same database
    other.runtime.replica = "replica-b:3000"
    creating = asyncio.ensure_future(first.create_ticket_for_anomaly(824, FORM, "U1"))
    await asyncio.wait_for(held.arrived.wait(), 10)  # A's intent is recorded, its POST on the wire

    async def checked_before_a_recorded(*_args: object, **_kwargs: object) -> None:
        return None

    other.reconciler.earlier_create = checked_before_a_recorded  # type: ignore[method-assign]
    with pytest.raises(Upstream, match="Another request is creating a ticket for anomaly 824"):
        await other.create_ticket_for_anomaly(824, FORM, "U2")
    await held.applied()
    created = await creating

    assert [row["sys_id"] for row in with_correlation_id(sn_emulator)] == [created.incident.sys_id]
    assert len(links.for_anomaly(other.db, 824)) == 1
