"""Delivery when ServiceNow fails or the process dies: no note lost, none written twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

import storage
from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from servicenow import ServiceNowClient
from storage import sync

from .conftest import Clock, expected_note, notes_of

ACK = "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
JOURNAL_PATH = "/api/now/table/sys_journal_field"


def _patches(sn: ServiceNowEmulator) -> int:
    return sum(1 for r in sn.requests if r.method == "PATCH")


async def test_a_server_error_backs_off_and_the_retry_checks_the_journal_first(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.fail_next(503)
    engine = make_engine()

    report = await engine.run_pass()

    assert (report.notes_sent, report.retried) == (0, 1)
    item = sync.items(db, linked.link.id)[0]
    assert item.state == "pending" and item.attempts == 1 and "HTTP 503" in (item.last_error or "")
    assert item.next_attempt_at == clock() + timedelta(seconds=15)  # base 30 s x (0.5 + 0.5 x jitter 0)
    assert notes_of(sn, linked.sys_id) == []

    clock.advance(seconds=14)
    assert (await engine.run_pass()).notes_sent == 0  # not due yet
    clock.advance(seconds=1)
    sn.reset_log()
    report = await engine.run_pass()

    assert report.notes_sent == 1
    assert [(r.method, r.path) for r in sn.requests][:2] == [
        ("GET", JOURNAL_PATH),
        ("PATCH", f"/api/now/table/incident/{linked.sys_id}"),
    ]
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]


async def test_a_429_is_retried_when_retry_after_says(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.fail_next(429, retry_after=120)
    engine = make_engine()

    await engine.run_pass()

    item = sync.items(db, linked.link.id)[0]
    assert item.next_attempt_at == clock() + timedelta(seconds=120)
    assert "HTTP 429" in (item.last_error or "")
    clock.advance(seconds=119)
    assert (await engine.run_pass()).notes_sent == 0
    clock.advance(seconds=1)
    assert (await engine.run_pass()).notes_sent == 1
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]


async def test_rate_limits_never_make_the_engine_give_up(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    engine = make_engine(max_attempts=2)
    for _ in range(3):
        sn.faults.fail_next(429, retry_after=1, count=4)  # the journal read retries 3 times, then the write
        await engine.run_pass()
        clock.advance(seconds=1)
    item = sync.items(db, linked.link.id)[0]
    assert (item.state, item.attempts) == ("pending", 3)
    await engine.run_pass()
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]


async def test_a_dropped_answer_is_not_sent_again_because_the_journal_has_it(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.drop_next()  # ServiceNow writes the note, the answer is lost (httpx.ReadTimeout)
    engine = make_engine()

    first = await engine.run_pass()
    assert (first.notes_sent, first.retried) == (0, 1)
    item = sync.items(db, linked.link.id)[0]
    assert "Timeout" in (item.last_error or "")
    assert item.next_attempt_at == clock() + timedelta(minutes=2)  # time for a slow write to finish
    clock.advance(minutes=2)
    second = await engine.run_pass()

    assert (second.notes_sent, second.confirmed) == (0, 1)
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]
    assert _patches(sn) == 1
    assert sync.items(db, linked.link.id)[0].state == "done"


async def test_a_dropped_resolve_is_not_repeated(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")
    sn.faults = Faults(drop_rate=1.0, methods=frozenset({"PATCH"}))  # applied, answer lost
    engine = make_engine()

    first = await engine.run_pass()
    assert (first.resolved, first.retried) == (0, 1)
    assert sn.incidents[linked.sys_id]["state"] == "6"
    sn.faults = Faults()
    clock.advance(hours=1)
    second = await engine.run_pass()

    assert (second.confirmed, second.resolved) == (1, 0)
    assert notes_of(sn, linked.sys_id) == [
        expected_note(db, linked.link.id, 0, "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Resolved")
    ]
    assert _patches(sn) == 1


async def test_when_the_journal_table_is_closed_the_incident_work_notes_are_searched(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.drop_next()
    engine = make_engine()
    await engine.run_pass()
    sn.faults = Faults(error_rate=1.0, error_statuses=(403,), paths=(JOURNAL_PATH,))
    clock.advance(hours=1)

    report = await engine.run_pass()

    assert report.confirmed == 1
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]


async def test_a_permanent_failure_is_marked_failed_with_its_reason_and_later_notes_go_on(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.fail_next(403)
    engine = make_engine()

    report = await engine.run_pass()

    assert (report.failed, report.retried) == (1, 0)
    assert sync.counts(db) == {"pending": 0, "failed": 1, "done": 0}
    [failure] = sync.failures(db)
    assert failure.last_error is not None
    assert failure.last_error.startswith(f"{linked.number}: HTTP 403 PermissionDeniedError")
    assert any("403" in e for e in report.errors)

    clock.advance(minutes=1)
    qe.add_comment(linked.anomaly_id, "still here")
    await engine.run_pass()
    assert len(notes_of(sn, linked.sys_id)) == 1  # the comment went ahead of the failed item
    assert sync.items(db, linked.link.id)[1].state == "done"


async def test_an_incident_deleted_in_servicenow_fails_at_once(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    del sn.incidents[linked.sys_id]

    await make_engine().run_pass()

    [failure] = sync.failures(db)
    assert "HTTP 404 NotFoundError" in (failure.last_error or "")


async def test_an_item_that_keeps_failing_is_given_up_after_max_attempts(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults = Faults(error_rate=1.0, error_statuses=(500,), methods=frozenset({"PATCH"}))
    engine = make_engine(max_attempts=3)
    delays = []
    for _ in range(3):
        await engine.run_pass()
        item = sync.items(db, linked.link.id)[0]
        delays.append(item.next_attempt_at - clock())
        clock.advance(hours=2)

    assert delays[:2] == [timedelta(seconds=15), timedelta(seconds=30)]  # doubling, bounded by max_delay
    assert item.state == "failed"
    assert (item.last_error or "").startswith(
        f"gave up after 3 attempts: {linked.number}: HTTP 500 ServerError"
    )
    assert notes_of(sn, linked.sys_id) == []


async def test_backoff_is_bounded_and_jittered(make_engine) -> None:
    from servicenow.errors import ServerError

    engine = make_engine(base_delay=30, max_delay=600)
    error = ServerError("boom", status_code=500)
    engine._jitter = lambda: 1.0
    assert [engine._retry_delay(n, error).total_seconds() for n in (1, 2, 5, 6, 20)] == [
        30,
        60,
        480,
        600,
        600,
    ]
    engine._jitter = lambda: 0.0
    assert engine._retry_delay(20, error).total_seconds() == 300


class Killed(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing in the engine handles it."""


async def test_a_kill_mid_pass_neither_loses_nor_duplicates_notes(
    db_path: Path,
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    sn_client: ServiceNowClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    linked = [link_anomaly() for _ in range(6)]
    for item in linked:
        qe.set_status(item.anomaly_id, "Acknowledged")
    real = sn_client.add_work_note
    writes = 0

    async def dies_after_the_third_write(sys_id: str, text: str, *, retry_safe: bool = False):
        nonlocal writes
        writes += 1
        result = await real(sys_id, text, retry_safe=retry_safe)  # ServiceNow has the note...
        if writes == 3:
            raise Killed  # ...and the process dies before recording it
        return result

    monkeypatch.setattr(sn_client, "add_work_note", dies_after_the_third_write)
    with pytest.raises(BaseExceptionGroup) as killed:
        await make_engine(concurrency=1).run_pass()
    assert killed.group_contains(Killed)
    monkeypatch.undo()
    assert sync.counts(db)["done"] == 2

    fresh_db = storage.connect(db_path)  # a new process: a new connection, a new engine
    try:
        clock.advance(minutes=6)  # past the "sending" lease of the killed attempt
        report = await make_engine(database=fresh_db).run_pass()
    finally:
        fresh_db.close()

    assert (report.confirmed, report.notes_sent) == (1, 3)
    for item in linked:
        assert notes_of(sn, item.sys_id) == [expected_note(db, item.link.id, 0, ACK)]
    assert sync.counts(db) == {"pending": 0, "failed": 0, "done": 6}
