"""Detect and push: one rule per test, with the exact journal of each incident."""

from __future__ import annotations

import asyncio

import httpx
from sqlite_utils import Database

from bot.sync.context import Run
from bot.sync.detect import detect
from bot.sync.engine import PassReport, SyncEngine
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import Anomaly, QualyticsClient, QualyticsNotFoundError
from servicenow import RetryPolicy, ServiceNowClient, parse_credentials
from storage import links, sync

from .conftest import INSTANCE_URL, JANE, Clock, Linked, expected_note, no_sleep, notes_of


async def test_a_link_without_state_records_its_baseline_and_sends_nothing(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked: Linked = link_anomaly(baseline=False)
    qe.add_comment(linked.anomaly_id, "old news", user=JANE)
    qe.set_status(linked.anomaly_id, "Acknowledged")

    report = await make_engine().run_pass()

    assert report.baselined == 1 and report.events_recorded == 0 and report.notes_sent == 0
    state = sync.get_state(db, linked.link.id)
    assert state is not None and state.last_status == "Acknowledged" and len(state.seen_comment_ids) == 1
    assert notes_of(sn, linked.sys_id) == []


async def test_acknowledging_adds_one_timestamped_status_note_and_keeps_the_incident_state(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly(incident={"state": "2"})
    qe.set_status(linked.anomaly_id, "Acknowledged")

    report = await make_engine().run_pass()

    assert (report.events_recorded, report.notes_sent, report.resolved) == (1, 1, 0)
    assert notes_of(sn, linked.sys_id) == [
        expected_note(
            db, linked.link.id, 0, "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
        )
    ]
    assert sn.incidents[linked.sys_id]["state"] == "2"
    # A second pass finds nothing new.
    again = await make_engine().run_pass()
    assert (again.events_recorded, again.notes_sent) == (0, 0)
    assert len(notes_of(sn, linked.sys_id)) == 1


async def test_a_comment_becomes_a_note_with_its_time_and_author(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.add_comment(
        linked.anomaly_id, "Upstream feed fixed; re-running.", user=JANE, created="2026-01-23T18:00:05Z"
    )

    await make_engine().run_pass()

    marker = sync.items(db, linked.link.id)[0].marker
    assert notes_of(sn, linked.sys_id) == [
        "[2026-01-23 18:00:05 UTC] Comment from Qualytics: Upstream feed fixed; re-running.\n"
        f"(Qualytics anomaly {linked.anomaly_id}, comment by Jane Doe, ref {marker})"
    ]


async def test_a_comment_made_through_the_api_is_sent_as_the_token_user(
    db: Database, sn: ServiceNowEmulator, make_engine, link_anomaly, q_client: QualyticsClient, clock: Clock
) -> None:
    linked = link_anomaly()
    await q_client.add_comment(linked.anomaly_id, "Looking into it")

    await make_engine().run_pass()

    line = "[2026-01-23 19:51:23 UTC] Comment from Qualytics: Looking into it"
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, line)]
    assert ", comment by Snowbot Service, ref snowbot-" in notes_of(sn, linked.sys_id)[0]


async def test_comments_seen_with_a_status_change_go_first_oldest_first(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.add_comment(linked.anomaly_id, "second", user=JANE, created="2026-01-23T19:00:00Z")
    qe.add_comment(linked.anomaly_id, "first", user=JANE, created="2026-01-23T18:00:00Z")
    qe.set_status(linked.anomaly_id, "Acknowledged")

    await make_engine().run_pass()

    lines = [
        "[2026-01-23 18:00:00 UTC] Comment from Qualytics: first",
        "[2026-01-23 19:00:00 UTC] Comment from Qualytics: second",
        "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged",
    ]
    assert notes_of(sn, linked.sys_id) == [
        expected_note(db, linked.link.id, i, line) for i, line in enumerate(lines)
    ]


async def test_other_status_changes_never_change_the_incident_state(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly(incident={"state": "3", "hold_reason": "1"})
    engine = make_engine()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    await engine.run_pass()
    clock.advance(minutes=1)
    qe.set_status(linked.anomaly_id, "Active")
    await engine.run_pass()

    assert notes_of(sn, linked.sys_id) == [
        expected_note(
            db, linked.link.id, 0, "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
        ),
        expected_note(db, linked.link.id, 1, "[2026-01-23 19:52:23 UTC] Qualytics Anomaly Status: Active"),
    ]
    patches = [r for r in sn.requests if r.method == "PATCH"]
    assert len(patches) == 2 and all(set(r.body or {}) == {"work_notes"} for r in patches)
    assert sn.incidents[linked.sys_id]["state"] == "3"


async def test_archiving_resolves_the_incident_in_one_patch(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")

    report = await make_engine().run_pass()

    assert (report.notes_sent, report.resolved) == (1, 1)
    incident = sn.incidents[linked.sys_id]
    assert incident["state"] == "6"
    assert incident["close_code"] == "Solution provided"
    assert incident["close_notes"] == f"Qualytics anomaly {linked.anomaly_id} was archived as Resolved."
    assert notes_of(sn, linked.sys_id) == [
        expected_note(db, linked.link.id, 0, "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Resolved")
    ]
    patches = [r for r in sn.requests if r.method == "PATCH"]
    assert len(patches) == 1
    assert set(patches[0].body or {}) == {"state", "close_code", "close_notes", "work_notes"}


async def test_every_archive_status_resolves(
    qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = {status: link_anomaly() for status in ("Duplicate", "Invalid", "Discarded")}
    for status, item in linked.items():
        qe.set_status(item.anomaly_id, status)

    await make_engine().run_pass()

    for status, item in linked.items():
        incident = sn.incidents[item.sys_id]
        assert incident["state"] == "6"
        assert incident["close_notes"] == f"Qualytics anomaly {item.anomaly_id} was archived as {status}."
    assert {status: sn.incidents[item.sys_id]["close_code"] for status, item in linked.items()} == {
        "Duplicate": "Duplicate",  # the instance has a code of that name
        "Invalid": "Solution provided",
        "Discarded": "Solution provided",
    }
    assert len([r for r in sn.requests if r.path.endswith("/sys_choice")]) == 1


async def test_without_a_preferred_close_code_the_first_active_one_is_used(
    qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = {status: link_anomaly() for status in ("Resolved", "Duplicate")}
    for status, item in linked.items():
        qe.set_status(item.anomaly_id, status)
    for choice in sn._tables["sys_choice"].values():  # an instance that retired these codes
        if choice["element"] == "close_code" and choice["value"] in ("Duplicate", "Solution provided"):
            choice["inactive"] = "true"
    sn._derived.clear()

    await make_engine().run_pass()

    # Utah's list in display order, without the retired ones: "Known error" comes first.
    assert [sn.incidents[item.sys_id]["close_code"] for item in linked.values()] == ["Known error"] * 2


async def test_the_close_code_comes_from_the_settings_when_set(
    qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")

    await make_engine(close_code="Workaround provided").run_pass()

    assert sn.incidents[linked.sys_id]["close_code"] == "Workaround provided"
    assert not [r for r in sn.requests if r.path.endswith("/sys_choice")]


class Yielding(httpx.AsyncBaseTransport):
    """Lets other coroutines run while a request is "on the wire", as a real network does."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return await self.inner.handle_async_request(request)


async def test_a_legacy_instance_gets_its_own_close_code_read_once(
    qe: QualyticsEmulator, make_engine, link_anomaly
) -> None:
    legacy = ServiceNowEmulator(base_url=INSTANCE_URL, seed=False, close_codes="legacy")
    linked = [link_anomaly() for _ in range(4)]
    for item in linked:
        legacy.add_incident(sys_id=item.sys_id, number=item.number, short_description="x")
        qe.set_status(item.anomaly_id, "Invalid")
    client = ServiceNowClient.connect(
        INSTANCE_URL,
        parse_credentials("admin:admin"),
        transport=Yielding(legacy.transport()),
        retry=RetryPolicy(sleep=no_sleep),
    )
    async with client:
        await make_engine(servicenow=client).run_pass()

    assert [legacy.incidents[i.sys_id]["close_code"] for i in linked] == ["Solved (Permanently)"] * 4
    assert len([r for r in legacy.requests if r.path.endswith("/sys_choice")]) == 1


async def test_an_incident_already_resolved_is_not_resolved_again_but_gets_the_note(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    # (a Closed or Canceled one gets no note at all: test_servicenow_rights.py)
    closed = {"state": "6", "close_code": "Duplicate", "close_notes": "handled elsewhere"}
    linked = link_anomaly(incident=closed)
    qe.set_status(linked.anomaly_id, "Resolved")

    report = await make_engine().run_pass()

    assert (report.notes_sent, report.resolved) == (1, 0)
    incident = sn.incidents[linked.sys_id]
    assert (incident["state"], incident["close_code"], incident["close_notes"]) == (
        "6",
        "Duplicate",
        "handled elsewhere",
    )
    assert notes_of(sn, linked.sys_id) == [
        expected_note(db, linked.link.id, 0, "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Resolved")
    ]
    assert [set(r.body or {}) for r in sn.requests if r.method == "PATCH"] == [{"work_notes"}]


async def test_a_restore_after_an_archive_is_a_note_and_no_state_change(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    engine = make_engine()
    qe.set_status(linked.anomaly_id, "Resolved")
    await engine.run_pass()
    clock.advance(hours=1)
    qe.restore(linked.anomaly_id)  # Qualytics restores as Acknowledged
    await engine.sync_anomalies([linked.anomaly_id])  # set aside after the archive: named to be seen again

    assert notes_of(sn, linked.sys_id)[1] == expected_note(
        db, linked.link.id, 1, "[2026-01-23 20:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
    )
    assert sn.incidents[linked.sys_id]["state"] == "6"


async def test_the_pass_keeps_the_state_it_advanced_to(
    db: Database, qe: QualyticsEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.add_comment(linked.anomaly_id, "on it", user=JANE)
    qe.set_status(linked.anomaly_id, "Acknowledged")
    engine = make_engine()
    run = Run(PassReport("pass", clock()), polling=True, groups={linked.anomaly_id: [linked.link]})

    await detect(engine.context(), run)

    stored = sync.get_state(db, linked.link.id)
    assert stored is not None and (stored.last_status, len(stored.seen_comment_ids)) == ("Acknowledged", 1)
    assert run.states[linked.link.id] == stored  # not the state from before the events


async def test_a_named_anomaly_pushes_only_its_own_links_notes(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    named, other = link_anomaly(), link_anomaly()
    for item in (named, other):
        qe.set_status(item.anomaly_id, "Acknowledged")
    other_state = sync.get_state(db, other.link.id)
    assert other_state is not None
    event = {"event_key": sync.status_event_key(other_state, "Acknowledged"), "kind": "status"}
    payload = {"anomaly_id": other.anomaly_id, "status": "Acknowledged", "observed_at": clock().isoformat()}
    sync.record_events(
        db, other.link.id, "Acknowledged", False, [], [{**event, "payload": payload}], now=clock()
    )

    report = await make_engine().sync_anomalies([named.anomaly_id])

    assert report.notes_sent == 1 and len(notes_of(sn, named.sys_id)) == 1
    assert notes_of(sn, other.sys_id) == [] and sync.items(db, other.link.id)[0].state == "pending"
    assert (await make_engine().run_pass()).notes_sent == 1
    assert len(notes_of(sn, other.sys_id)) == 1


async def test_one_read_per_anomaly_is_shared_by_all_its_links(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    first = link_anomaly()
    second = link_anomaly(anomaly_id=first.anomaly_id)
    qe.set_status(first.anomaly_id, "Acknowledged")
    qe.reset_log()

    report = await make_engine().run_pass()

    assert report.anomalies_read == 1
    reads = [r.path for r in qe.requests if not r.path.endswith("/ticket-links")]  # see test_native_links
    assert reads == [f"/api/anomalies/{first.anomaly_id}"]
    for item in (first, second):
        assert notes_of(sn, item.sys_id) == [
            expected_note(
                db, item.link.id, 0, "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
            )
        ]


async def test_reads_run_at_most_concurrency_at_a_time(db: Database, make_engine, link_anomaly, qe) -> None:
    for _ in range(12):
        link_anomaly()
    engine: SyncEngine = make_engine(concurrency=3)
    real = engine.qualytics
    in_flight = peak = 0

    class Counting:
        async def get_anomaly(self, anomaly_id: int) -> Anomaly:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)  # yield so that other reads could start
            try:
                return await real.get_anomaly(anomaly_id)
            finally:
                in_flight -= 1

    engine.qualytics = Counting()
    report = await engine.run_pass()

    assert report.anomalies_read == 12 and peak == 3


async def test_a_failed_read_is_counted_and_the_others_go_on(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    gone, kept = link_anomaly(), link_anomaly()
    del qe.anomalies[gone.anomaly_id]
    qe.set_status(kept.anomaly_id, "Acknowledged")
    engine = make_engine()
    real = engine.qualytics

    class UsersUnreadable:  # a 404 while the token's own user cannot be read: maybe a wrong QUALYTICS_URL
        get_anomaly = real.get_anomaly

        async def whoami(self) -> None:
            raise QualyticsNotFoundError("Qualytics has no such endpoint: check QUALYTICS_URL")

    engine.qualytics = UsersUnreadable()
    report = await engine.run_pass()

    assert (report.anomalies_read, report.read_failures, report.notes_sent, report.deleted) == (1, 1, 1, 0)
    assert any(f"anomaly {gone.anomaly_id}" in e for e in report.errors)
    assert links.get(db, gone.link.id).anomaly_deleted_at is None  # type: ignore[union-attr]
    assert len(links.watched(db)) == 2  # still polled: not taken for a deletion
