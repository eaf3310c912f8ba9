"""Adaptive polling: each watched anomaly is read again soon after a change, less and less often while it
is quiet (bounded), never while archived with every incident resolved; a webhook or Slack action makes it
hot at once; the schedule lives in the database. Time is driven by the injected clock, never waited for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlite_utils import Database

import storage
from bot.sync.engine import SyncEngine
from bot.sync.webhook import webhook_router
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import schedule

from .conftest import T0, Clock, notes_of

ADAPTIVE = {"min_read_interval": 60, "max_read_interval": 900, "hot_window": 86400}
RESOLVED = {"state": "6", "close_code": "Solution provided", "close_notes": "fixed"}


def _reads(qe: QualyticsEmulator, anomaly_id: int) -> int:
    return sum(1 for r in qe.requests if r.path == f"/api/anomalies/{anomaly_id}")


async def _read_times(
    engine: SyncEngine, qe: QualyticsEmulator, clock: Clock, anomaly_id: int, *, minutes: int
) -> list[int]:
    """Run a pass every 60 s for `minutes`; the seconds since T0 of the passes that read the anomaly."""
    times = []
    for _ in range(minutes):
        before = _reads(qe, anomaly_id)
        await engine.run_pass()
        if _reads(qe, anomaly_id) > before:
            times.append(int((clock() - T0).total_seconds()))
        clock.advance(seconds=60)
    return times


async def test_a_quiet_anomaly_is_read_half_as_often_after_each_quiet_read_up_to_the_bound(
    qe: QualyticsEmulator, make_engine: Callable[..., SyncEngine], link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    engine = make_engine(**ADAPTIVE)

    times = await _read_times(engine, qe, clock, linked.anomaly_id, minutes=61)

    assert times == [0, 60, 180, 420, 900, 1800, 2700, 3600]  # waits 60, 120, 240, 480, then 900 at most


async def test_a_change_is_read_again_every_minute_while_it_is_hot_then_backs_off(
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine: Callable[..., SyncEngine],
    link_anomaly,
    clock: Clock,
) -> None:
    linked = link_anomaly()
    engine = make_engine(**{**ADAPTIVE, "hot_window": 300})
    await _read_times(engine, qe, clock, linked.anomaly_id, minutes=31)  # quiet: at the 900 s tier now
    qe.set_status(linked.anomaly_id, "Acknowledged")
    changed_at = clock()

    times = await _read_times(engine, qe, clock, linked.anomaly_id, minutes=40)

    since = [t - int((changed_at - T0).total_seconds()) for t in times]
    assert since[0] <= 900  # the quiet anomaly's change is seen at its next read, within the bound
    assert len(notes_of(sn, linked.sys_id)) == 1
    hot = [t - since[0] for t in since]
    # hot for 300 s after the change was seen (every pass), then 120, 240, 480, 900 again
    assert hot[:9] == [0, 60, 120, 180, 240, 300, 420, 660, 1140]


@pytest.mark.parametrize("how", ["engine", "webhook"])
async def test_a_webhook_or_slack_action_reads_it_at_once_and_makes_it_hot(
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine: Callable[..., SyncEngine],
    link_anomaly,
    clock: Clock,
    how: str,
) -> None:
    linked = link_anomaly()
    engine = make_engine(**ADAPTIVE)
    await _read_times(engine, qe, clock, linked.anomaly_id, minutes=20)  # quiet: next read 900 s away
    assert not schedule.due_links(engine.db, clock() + timedelta(minutes=5))
    qe.add_comment(linked.anomaly_id, "looking into it")
    qe.reset_log()

    if how == "engine":  # what ChatOps' anomaly_changed hook calls
        await engine.sync_anomalies([linked.anomaly_id])
    else:  # Qualytics' Flow: the route runs the sync as a background task before the call returns
        app = FastAPI()
        app.include_router(webhook_router(engine.sync_anomalies, SecretStr("s3cret")))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://snowbot.test"
        ) as client:
            answer = await client.post(
                "/webhooks/qualytics",
                json={"anomaly_id": linked.anomaly_id},
                headers={"Authorization": "Bearer s3cret"},
            )
        assert answer.status_code == 202

    assert _reads(qe, linked.anomaly_id) == 1
    assert len(notes_of(sn, linked.sys_id)) == 1  # the comment's note, at once
    clock.advance(seconds=60)
    times = await _read_times(engine, qe, clock, linked.anomaly_id, minutes=3)
    assert len(times) == 3  # hot: read on every pass again


async def test_an_archived_anomaly_whose_incidents_are_resolved_is_never_read_until_named(
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine: Callable[..., SyncEngine],
    link_anomaly,
    clock: Clock,
) -> None:
    linked = link_anomaly()
    engine = make_engine(**ADAPTIVE)
    qe.set_status(linked.anomaly_id, "Resolved")
    report = await engine.run_pass()  # the archive resolves the incident, then it is set aside
    assert report.unwatched == 1
    clock.advance(seconds=60)

    assert await _read_times(engine, qe, clock, linked.anomaly_id, minutes=120) == []

    qe.restore(linked.anomaly_id)
    await engine.sync_anomalies([linked.anomaly_id])  # a webhook or Slack action names it: watched, hot
    clock.advance(seconds=60)
    assert len(await _read_times(engine, qe, clock, linked.anomaly_id, minutes=3)) == 3


async def test_the_schedule_survives_a_restart(
    db_path,
    qe: QualyticsEmulator,
    make_engine: Callable[..., SyncEngine],
    link_anomaly,
    clock: Clock,
) -> None:
    linked = link_anomaly()
    await _read_times(make_engine(**ADAPTIVE), qe, clock, linked.anomaly_id, minutes=16)  # last read at 900
    reopened = storage.connect(db_path)  # a new process: a new connection, a new engine
    try:
        restarted = make_engine(database=reopened, **ADAPTIVE)
        times = await _read_times(restarted, qe, clock, linked.anomaly_id, minutes=15)
    finally:
        reopened.close()

    assert times == [1800]  # not read on start-up: still 900 s after the last read


async def test_with_no_intervals_every_watched_anomaly_is_read_on_every_pass(
    db: Database, qe: QualyticsEmulator, make_engine: Callable[..., SyncEngine], link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    times = await _read_times(make_engine(), qe, clock, linked.anomaly_id, minutes=5)
    assert times == [0, 60, 120, 180, 240]
    assert schedule.get(db, [linked.anomaly_id]) == {}
