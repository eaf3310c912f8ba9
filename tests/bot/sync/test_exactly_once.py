"""Delivery when ServiceNow fails or the process dies: no note lost, none written twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlite_utils import Database

import storage
from bot.sync.engine import SyncEngine
from bot.sync.push import retry_delay
from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from servicenow import RetryPolicy, ServiceNowClient, parse_credentials
from servicenow.errors import ConfigurationError
from storage import sync

from .conftest import INSTANCE_URL, Clock, expected_note, no_sleep, notes_of

ACK = "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
JOURNAL_PATH = "/api/now/table/sys_journal_field"
SETTLE = timedelta(minutes=2)  # SyncConfig.settle_delay


def _patches(sn: ServiceNowEmulator) -> int:
    return sum(1 for r in sn.requests if r.method == "PATCH")


class Outage(httpx.AsyncBaseTransport):
    """Between the client and ServiceNow: while `answer` is set, every request gets it (a response, or
    the exception it raises) without reaching the instance."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.answer: Callable[[httpx.Request], httpx.Response] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.answer is not None:
            return self.answer(request)
        return await self.inner.handle_async_request(request)


def _client(transport: httpx.AsyncBaseTransport) -> ServiceNowClient:
    return ServiceNowClient.connect(
        INSTANCE_URL,
        parse_credentials("admin:admin"),
        transport=transport,
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
    )


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def _not_json(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="upstream says ok", headers={"content-type": "text/plain"})


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
    assert item.next_attempt_at == clock() + SETTLE  # a 5xx may come while the write is still applied
    assert notes_of(sn, linked.sys_id) == []

    clock.advance(seconds=119)
    assert (await engine.run_pass()).notes_sent == 0  # not due yet
    clock.advance(seconds=1)
    sn.reset_log()
    report = await engine.run_pass()

    assert report.notes_sent == 1
    assert [(r.method, r.path) for r in sn.requests][:3] == [
        ("GET", JOURNAL_PATH),
        ("GET", f"/api/now/table/incident/{linked.sys_id}"),  # an empty journal may be a denial: work_notes
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
    engine = make_engine()
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


@pytest.mark.parametrize(("status", "error"), [(400, "BadRequestError"), (403, "PermissionDeniedError")])
async def test_a_permanent_failure_is_marked_failed_with_its_reason_and_later_notes_go_on(
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    clock: Clock,
    status: int,
    error: str,
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.fail_next(status)
    engine = make_engine()

    report = await engine.run_pass()

    assert (report.failed, report.retried) == (1, 0)
    assert sync.counts(db) == {"pending": 0, "retrying": 0, "failed": 1, "done": 0}
    [failure] = sync.failures(db)
    assert failure.last_error is not None
    assert failure.last_error.startswith(f"{linked.number}: HTTP {status} {error}")
    assert any(str(status) in e for e in report.errors)

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


def _http_errors(status: int) -> Callable[[ServiceNowEmulator, Outage, SyncEngine], None]:
    def start(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
        sn.faults = Faults(error_rate=1.0, error_statuses=(status,))

    return start


def _timeouts(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    sn.faults = Faults(drop_rate=1.0)  # the first write is applied, its answer lost; then nothing answers


def _rate_limited(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    sn.faults = Faults(rate_limit_rate=1.0, retry_after=300)


def _connection_refused(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    outage.answer = _refused


def _not_the_table_api(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    outage.answer = _not_json


def _hibernating(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    sn.hibernating = True


def _password_changed(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    sn.add_user("admin", "rotated", ("admin", "itil"))


def _secret_key_missing(sn: ServiceNowEmulator, outage: Outage, engine: SyncEngine) -> None:
    async def no_client(integration_id: int) -> ServiceNowClient:
        raise ConfigurationError("SNOWBOT_SECRET_KEY is not set: the integration's password cannot be read")

    engine.servicenow = no_client


OUTAGES = {
    "503": (_http_errors(503), "HTTP 503 ServerError"),
    "502 from a proxy": (_http_errors(502), "HTTP 502 ServerError"),
    "timeouts": (_timeouts, "ServiceNowTimeoutError"),
    "connection refused": (_connection_refused, "ServiceNowConnectionError"),
    "hibernating (HTML)": (_hibernating, "InvalidResponseError"),
    "not JSON": (_not_the_table_api, "InvalidResponseError"),
    "429": (_rate_limited, "HTTP 429 RateLimitError"),
    "401": (_password_changed, "HTTP 401 AuthenticationError"),
    "missing secret key": (_secret_key_missing, "ConfigurationError: SNOWBOT_SECRET_KEY is not set"),
}


@pytest.mark.parametrize("outage_kind", list(OUTAGES))
async def test_an_outage_of_hours_never_gives_up_and_shows_why_while_retrying(
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    clock: Clock,
    outage_kind: str,
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    outage = Outage(sn.transport())
    async with _client(outage) as client:
        engine = make_engine(servicenow=client)
        working = engine.servicenow
        start, reason = OUTAGES[outage_kind]
        start(sn, outage, engine)
        began = clock()
        retries = 0
        while clock() < began + timedelta(hours=3):  # a pass a minute, as the scheduler would run
            report = await engine.run_pass()
            assert report.failed == 0
            retries += report.retried
            clock.advance(minutes=1)

        [item] = sync.items(db, linked.link.id)
        assert item.state == "pending" and item.attempts == retries >= 8
        assert item.next_attempt_at - clock() <= timedelta(minutes=30)  # the backoff stays capped
        assert sync.counts(db) == {"pending": 1, "retrying": 1, "failed": 0, "done": 0}
        [retrying] = sync.retrying(db)
        assert retrying.last_error is not None and retrying.last_error.startswith(f"{linked.number}: ")
        assert reason in retrying.last_error

        sn.faults, sn.hibernating, outage.answer, engine.servicenow = Faults(), False, None, working
        sn.add_user("admin", "admin", ("admin", "itil"))
        clock.advance(minutes=30)
        await engine.run_pass()

    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]
    assert sync.counts(db) == {"pending": 0, "retrying": 0, "failed": 0, "done": 1}


def _fail_next(status: int) -> Callable[[ServiceNowEmulator, Outage], None]:
    def fault(sn: ServiceNowEmulator, outage: Outage) -> None:
        sn.faults.fail_next(status)

    return fault


def _drop_next(sn: ServiceNowEmulator, outage: Outage) -> None:
    sn.faults.drop_next()


def _answer(
    answer: Callable[[httpx.Request], httpx.Response],
) -> Callable[[ServiceNowEmulator, Outage], None]:
    def fault(sn: ServiceNowEmulator, outage: Outage) -> None:
        outage.answer = answer

    return fault


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (_fail_next(500), "HTTP 500"),
        (_fail_next(502), "HTTP 502"),
        (_fail_next(504), "HTTP 504"),
        (_drop_next, "ServiceNowTimeoutError"),
        (_answer(_refused), "ServiceNowConnectionError"),
        (_answer(_not_json), "InvalidResponseError"),
    ],
    ids=["500", "502", "504", "timeout", "connection error", "not JSON"],
)
async def test_after_an_outcome_that_may_have_applied_the_write_the_retry_waits_to_settle(
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    clock: Clock,
    fault: Callable[[ServiceNowEmulator, Outage], None],
    kind: str,
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    outage = Outage(sn.transport())
    async with _client(outage) as client:
        engine = make_engine(servicenow=client)
        fault(sn, outage)
        await engine.run_pass()
        outage.answer = None

        [item] = sync.items(db, linked.link.id)
        assert kind in (item.last_error or "")
        assert item.next_attempt_at == clock() + SETTLE  # not the first backoff's 15 s
        clock.advance(seconds=119)
        early = await engine.run_pass()
        assert early.notes_sent + early.confirmed == 0
        clock.advance(seconds=1)
        report = await engine.run_pass()

    assert report.notes_sent + report.confirmed == 1
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]


async def test_a_rate_limit_without_retry_after_keeps_the_plain_backoff(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    outage = Outage(sn.transport())
    outage.answer = lambda request: httpx.Response(429, json={"error": {"message": "Too many requests"}})
    async with _client(outage) as client:
        await make_engine(servicenow=client).run_pass()
    [item] = sync.items(db, linked.link.id)
    assert "HTTP 429" in (item.last_error or "")
    assert item.next_attempt_at == clock() + timedelta(seconds=15)  # base 30 s x (0.5 + 0.5 x jitter 0)


async def test_backoff_is_bounded_and_jittered(make_engine) -> None:
    from servicenow.errors import ServerError

    engine = make_engine(base_delay=30, max_delay=600)
    error = ServerError("boom", status_code=500)

    def delay(attempts: int, jitter: float) -> float:
        return retry_delay(attempts, error, config=engine.config, jitter=lambda: jitter).total_seconds()

    assert [delay(n, 1.0) for n in (1, 2, 5, 6, 20)] == [30, 60, 480, 600, 600]
    assert delay(20, 0.0) == 300
    assert delay(100_000, 0.0) == 300  # months of retries: still capped


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

    async def dies_after_the_third_write(sys_id: str, text: str, *, retry_safe: bool = False, **kind):
        nonlocal writes
        writes += 1
        result = await real(sys_id, text, retry_safe=retry_safe, **kind)  # ServiceNow has the note...
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
    assert sync.counts(db) == {"pending": 0, "retrying": 0, "failed": 0, "done": 6}


class SlowWrite(httpx.AsyncBaseTransport):
    """Holds the first PATCH (a work note) on its way to ServiceNow: the client gives up on it (`answer`:
    its own ReadTimeout after `timeout` seconds, or a proxy's 502/504) while the instance is still
    writing. The write lands when the test sets `land` (`landing` is then done): after the client gave
    up, and whenever the test says, e.g. just before the engine's retry would read the journal."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock, answer: str, timeout: float) -> None:
        self.inner = inner
        self.clock = clock
        self.answer = answer
        self.timeout = timeout
        self.land = asyncio.Event()
        self.landing: asyncio.Task[httpx.Response] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PATCH" or self.landing is not None:
            return await self.inner.handle_async_request(request)
        await request.aread()
        self.landing = asyncio.create_task(self._apply_when_told(request))
        self.clock.advance(seconds=self.timeout)  # the client waits its timeout (on the injected clock)
        if self.answer == "timeout":
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request)
        status = int(self.answer)
        page = f"<html><body><h1>{status} Gateway error</h1></body></html>"
        return httpx.Response(status, text=page, headers={"content-type": "text/html"}, request=request)

    async def _apply_when_told(self, request: httpx.Request) -> httpx.Response:
        await self.land.wait()
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("answer", ["timeout", "502", "504"])
async def test_a_slow_write_that_lands_after_the_client_gave_up_is_not_written_twice(
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    clock: Clock,
    answer: str,
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    slow = SlowWrite(sn.transport(), clock, answer, timeout=30)
    async with _client(slow) as client:
        engine = make_engine(servicenow=client)
        first = await engine.run_pass()
        gave_up = clock()
        assert (first.notes_sent, first.retried) == (0, 1) and slow.landing is not None
        retry_at = sync.items(db, linked.link.id)[0].next_attempt_at
        assert notes_of(sn, linked.sys_id) == []  # still being written

        # A pass every 15 s; the instance finishes the write 90 s after the client gave up, which is
        # before the engine's retry reads the journal (the settle delay).
        confirmed = sent = 0
        while clock() < gave_up + timedelta(minutes=5):
            clock.advance(seconds=15)
            if clock() >= gave_up + timedelta(seconds=90) and not slow.land.is_set():
                slow.land.set()
                assert (await slow.landing).status_code == 200
                assert len(notes_of(sn, linked.sys_id)) == 1
            report = await engine.run_pass()
            confirmed += report.confirmed
            sent += report.notes_sent

    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]
    assert (confirmed, sent) == (1, 0)  # found in the journal, not sent again
    assert _patches(sn) == 1
    assert sync.items(db, linked.link.id)[0].state == "done"
    assert retry_at == gave_up + SETTLE  # the settle delay counts from when the client gave up
