"""Ticket state back (refresh, notifier) and which anomalies are still polled."""

from __future__ import annotations

from sqlite_utils import Database

from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import links, sync

from .conftest import Clock, RecordingNotifier, expected_note, notes_of

RESOLVED = {"state": "6", "close_code": "Solution provided", "close_notes": "fixed"}


def _reads(qe: QualyticsEmulator, anomaly_id: int) -> int:
    return sum(1 for r in qe.requests if r.path == f"/api/anomalies/{anomaly_id}")


async def test_refresh_stores_each_links_incident_state_and_sync_time(
    db: Database, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    first, second = link_anomaly(), link_anomaly(incident={"state": "2"})
    sn.incidents[first.sys_id]["state"] = "3"

    report = await make_engine().run_pass()

    assert report.links_refreshed == 2
    assert [
        (link.status, link.last_synced_at)
        for link in map(lambda i: links.get(db, i.link.id), (first, second))
    ] == [
        ("On Hold", clock()),
        ("In Progress", clock()),
    ]


async def test_incidents_are_read_back_100_per_request(
    sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    for _ in range(150):
        link_anomaly()
    sn.reset_log()

    report = await make_engine().run_pass()

    reads = [r for r in sn.requests if r.method == "GET" and r.path == "/api/now/table/incident"]
    assert report.links_refreshed == 150
    assert sorted(len(r.query["sysparm_query"].split(",")) for r in reads) == [50, 100]


async def test_the_notifier_hears_once_when_an_incident_closes_in_servicenow(
    db: Database, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    threaded, silent = link_anomaly(thread=True), link_anomaly()
    notifier = RecordingNotifier()
    engine = make_engine(notifier=notifier)
    await engine.run_pass()
    assert notifier.calls == []

    for item in (threaded, silent):
        sn.incidents[item.sys_id].update(RESOLVED)
    clock.advance(minutes=1)
    report = await engine.run_pass()
    clock.advance(minutes=1)
    sn.incidents[threaded.sys_id]["state"] = "7"  # Resolved -> Closed is no new closure
    await engine.run_pass()

    assert (report.incidents_closed, report.notified) == (2, 1)
    [(link, incident)] = notifier.calls
    assert (link.id, link.thread_ts, incident.number, incident.state) == (
        threaded.link.id,
        "1700000000.000100",
        threaded.number,
        "6",
    )
    state = sync.get_state(db, silent.link.id)
    assert state is not None and state.resolved


async def test_a_reopened_incident_is_announced_again_when_it_closes_again(
    sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly(thread=True)
    notifier = RecordingNotifier()
    engine = make_engine(notifier=notifier)
    for state in ("8", "2", "8"):
        sn.incidents[linked.sys_id]["state"] = state
        await engine.run_pass()
    assert [incident.state for _, incident in notifier.calls] == ["8", "8"]


async def test_a_failing_notifier_does_not_stop_the_sync(
    sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly(thread=True)

    class Broken:
        async def incident_closed(self, link, incident) -> None:
            raise RuntimeError("slack is down")

    sn.incidents[linked.sys_id].update(RESOLVED)
    report = await make_engine(notifier=Broken()).run_pass()
    assert (report.incidents_closed, report.notified, report.links_refreshed) == (1, 0, 1)


async def test_an_archived_anomaly_whose_incidents_are_resolved_is_no_longer_polled(
    db: Database, qe: QualyticsEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    other = link_anomaly(anomaly_id=linked.anomaly_id)  # the same anomaly, a second incident
    engine = make_engine()
    qe.set_status(linked.anomaly_id, "Resolved")

    report = await engine.run_pass()  # resolves both incidents, sees them resolved, sets them aside

    assert (report.resolved, report.unwatched) == (2, 2)
    assert links.watched(db) == []
    qe.reset_log()
    clock.advance(minutes=1)
    await engine.run_pass()
    assert _reads(qe, linked.anomaly_id) == 0
    assert other.anomaly_id == linked.anomaly_id


async def test_an_archived_anomaly_with_an_open_incident_is_still_polled(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")
    engine = make_engine()
    sn.faults.fail_next(403)  # the resolve is refused (an ACL): the incident stays open
    await engine.run_pass()
    assert sn.incidents[linked.sys_id]["state"] == "1"
    assert [link.id for link in links.watched(db)] == [linked.link.id]


async def test_naming_a_set_aside_anomaly_polls_it_again_once_it_is_reopened(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    engine = make_engine()
    qe.set_status(linked.anomaly_id, "Resolved")
    await engine.run_pass()
    assert links.watched(db) == []

    clock.advance(hours=1)
    qe.restore(linked.anomaly_id)  # restored in Qualytics: Acknowledged again
    await engine.run_pass()
    assert len(notes_of(sn, linked.sys_id)) == 1  # not polled: the restore is not seen yet

    report = await engine.sync_anomalies([linked.anomaly_id])  # a webhook or a Slack action names it

    assert (report.events_recorded, report.notes_sent, report.rewatched) == (1, 1, 1)
    assert report.summary().startswith(
        f"sync of anomaly {linked.anomaly_id}: 1 anomalies read, 1 events recorded"
    )
    assert notes_of(sn, linked.sys_id)[1] == expected_note(
        db, linked.link.id, 1, "[2026-01-23 20:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
    )
    assert [link.id for link in links.watched(db)] == [linked.link.id]
    clock.advance(minutes=1)
    qe.set_status(linked.anomaly_id, "Active")
    qe.reset_log()
    await engine.run_pass()
    assert _reads(qe, linked.anomaly_id) == 1
    assert len(notes_of(sn, linked.sys_id)) == 3


async def test_naming_an_anomaly_that_is_still_archived_and_resolved_keeps_it_aside(
    db: Database, qe: QualyticsEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    engine = make_engine()
    qe.set_status(linked.anomaly_id, "Resolved")
    await engine.run_pass()

    report = await engine.sync_anomalies([linked.anomaly_id, 999_999])

    assert (report.anomalies_read, report.events_recorded, report.rewatched) == (1, 0, 0)
    assert links.watched(db) == []


async def test_a_new_link_on_a_set_aside_anomaly_brings_its_older_links_along(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    old = link_anomaly()
    engine = make_engine()
    qe.set_status(old.anomaly_id, "Resolved")
    await engine.run_pass()
    assert links.watched(db) == []

    new = link_anomaly(anomaly_id=old.anomaly_id)  # linked later, watched, incident open
    clock.advance(hours=1)
    qe.restore(old.anomaly_id)
    await engine.run_pass()

    line = "[2026-01-23 20:51:23 UTC] Qualytics Anomaly Status: Acknowledged"
    assert notes_of(sn, old.sys_id)[-1] == expected_note(db, old.link.id, 1, line)
    assert notes_of(sn, new.sys_id) == [expected_note(db, new.link.id, 0, line)]
    assert sorted(link.id for link in links.watched(db)) == [old.link.id, new.link.id]


async def test_each_pass_is_recorded_for_status(
    db: Database, qe: QualyticsEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")

    report = await make_engine().run_pass()

    run = sync.last_run(db)
    assert run is not None
    assert run.summary["notes_sent"] == 1 and run.summary["trigger"] == "pass"
    assert str(report) == report.summary()
    assert report.summary().startswith(
        "sync pass: 1 anomalies read, 1 events recorded, 1 notes sent, 0 resolved, 0 retried, 0 failed, "
        "1 links refreshed in "
    )
    assert report.lines()[-1] == report.summary()
