"""The sync against an account with only the itil role, and against closed incidents (issue 9 items 6-8).

The emulator models what the reference's corrections section records: sys_choice's name/element/value are
hidden from itil accounts (403 on a filtered read), sys_journal_field answers them 200 with no rows, and
journal writes to Closed (7) / Canceled (8) incidents are dropped silently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlite_utils import Database

from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from servicenow import RetryPolicy, ServiceNowClient, parse_credentials
from storage import links, sync

from .conftest import INSTANCE_URL, Clock, expected_note, no_sleep, notes_of

RESOLVED_NOTE = "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Resolved"
ACK = "[2026-01-23 19:51:23 UTC] Qualytics Anomaly Status: Acknowledged"


@pytest.fixture
async def itil(sn: ServiceNowEmulator) -> AsyncIterator[ServiceNowClient]:
    """A client logged in as an account with only the itil role (the README's service account)."""
    sn.add_user("snowbot_integration", "itil-pw", ["itil"])
    client = ServiceNowClient.connect(
        INSTANCE_URL,
        parse_credentials("snowbot_integration:itil-pw"),
        transport=sn.transport(),
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
    )
    async with client:
        yield client


def _patches(sn: ServiceNowEmulator) -> list[set[str]]:
    return [set(r.body or {}) for r in sn.requests if r.method == "PATCH"]


async def test_an_archive_resolves_with_the_fallback_code_when_sys_choice_is_closed(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, itil
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")

    report = await make_engine(servicenow=itil).run_pass()

    assert (report.notes_sent, report.resolved, report.failed) == (1, 1, 0)
    incident = sn.incidents[linked.sys_id]
    assert (incident["state"], incident["close_code"]) == ("6", "Solution provided")
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, RESOLVED_NOTE)]
    assert _patches(sn) == [{"state", "close_code", "close_notes", "work_notes"}]  # still one PATCH
    assert "sys_choice" in itil.refused_reads
    assert "label, value, element and dependent_value" in itil.refused_reads["sys_choice"]


async def test_a_refused_resolution_code_still_delivers_the_note_once_and_says_what_to_set(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock, itil
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")

    report = await make_engine(servicenow=itil, close_code="Fixed it").run_pass()

    assert (report.notes_sent, report.resolved, report.failed) == (1, 0, 1)
    assert sn.incidents[linked.sys_id]["state"] == "1"
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, RESOLVED_NOTE)]
    (item,) = sync.items(db, linked.link.id)
    assert item.state == "failed"
    reason = item.last_error or ""
    assert "work note delivered; resolving refused" in reason
    assert "The following fields are mandatory: Resolution code" in reason
    assert "'Fixed it' (SNOWBOT_CLOSE_CODE)" in reason and "set SNOWBOT_CLOSE_CODE" in reason
    assert "itil" not in reason

    sync.requeue_failed(db, now=clock())  # the admin fixed SNOWBOT_CLOSE_CODE
    sn.reset_log()
    again = await make_engine(servicenow=itil, close_code="Solution provided").run_pass()

    assert (again.confirmed, again.resolved, again.notes_sent) == (1, 1, 0)
    assert sn.incidents[linked.sys_id]["close_code"] == "Solution provided"
    assert len(notes_of(sn, linked.sys_id)) == 1  # never duplicated
    assert _patches(sn) == [{"state", "close_code", "close_notes"}]


async def test_no_duplicate_note_after_a_lost_answer_for_an_itil_only_account(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock, itil
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults.drop_next()  # the note is written, the answer lost
    engine = make_engine(servicenow=itil)
    first = await engine.run_pass()
    assert first.retried == 1
    clock.advance(hours=1)

    second = await engine.run_pass()

    # sys_journal_field answered 200 with no rows: the marker was found in the incident's work_notes
    assert (second.confirmed, second.notes_sent) == (1, 0)
    assert notes_of(sn, linked.sys_id) == [expected_note(db, linked.link.id, 0, ACK)]
    assert len(_patches(sn)) == 1
    assert "sys_journal_field" in itil.refused_reads


async def test_without_the_marker_in_work_notes_the_note_is_sent(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock, itil
) -> None:
    linked = link_anomaly(incident={"work_notes": "someone else's note"})
    qe.set_status(linked.anomaly_id, "Acknowledged")
    sn.faults = Faults(error_rate=1.0, error_statuses=(502,), methods=frozenset({"PATCH"}))  # not applied
    engine = make_engine(servicenow=itil)
    await engine.run_pass()
    sn.faults = Faults()
    clock.advance(hours=1)

    report = await engine.run_pass()

    assert (report.confirmed, report.notes_sent) == (0, 1)
    assert notes_of(sn, linked.sys_id)[-1] == expected_note(db, linked.link.id, 0, ACK)


@pytest.mark.parametrize(("state", "label"), [("7", "Closed"), ("8", "Canceled")])
async def test_a_note_to_a_closed_incident_is_never_counted_as_delivered(
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    clock: Clock,
    state: str,
    label: str,
) -> None:
    closing = {"state": state, "close_code": "Duplicate", "close_notes": "handled elsewhere"}
    linked = link_anomaly(incident=closing)  # stored as "New": not refreshed yet
    qe.set_status(linked.anomaly_id, "Acknowledged")
    engine = make_engine()

    report = await engine.run_pass()

    assert (report.notes_sent, report.not_delivered) == (0, 1)
    assert notes_of(sn, linked.sys_id) == []  # ServiceNow answered 200 and dropped it
    (item,) = sync.items(db, linked.link.id)
    assert (item.state, item.last_error) == ("failed", f"not delivered: {linked.number} is {label}")
    assert f"not delivered: {linked.number} is {label}" in report.errors
    assert "not delivered:      1 (incident Closed or Canceled)" in report.lines()
    assert links.get(db, linked.link.id).status == label  # refreshed in the same pass

    # the refreshed state is used: no write at all to the closed incident
    sn.reset_log()
    qe.set_status(linked.anomaly_id, "Resolved")
    clock.advance(minutes=5)
    later = await engine.run_pass()
    assert (later.notes_sent, later.not_delivered, later.resolved) == (0, 1, 0)
    assert not [r for r in sn.requests if r.method == "PATCH"]
    assert sync.items(db, linked.link.id)[1].last_error == f"not delivered: {linked.number} is {label}"


async def test_an_archive_of_a_closed_incident_writes_nothing(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly(incident={"state": "8"})
    qe.set_status(linked.anomaly_id, "Resolved")

    report = await make_engine().run_pass()

    assert (report.notes_sent, report.resolved, report.not_delivered) == (0, 0, 1)
    assert _patches(sn) == []  # the archive's own read of the incident showed it Canceled
    assert sync.items(db, linked.link.id)[0].last_error == f"not delivered: {linked.number} is Canceled"


async def test_an_archive_note_found_after_a_lost_answer_on_a_since_closed_incident_counts_as_delivered(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock, itil
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")
    sn.faults = Faults(drop_rate=1.0, methods=frozenset({"PATCH"}))  # resolved with its note, answer lost
    engine = make_engine(servicenow=itil)
    await engine.run_pass()
    sn.faults = Faults()
    sn.incidents[linked.sys_id]["state"] = "7"  # the desk closes it meanwhile
    clock.advance(hours=1)

    report = await engine.run_pass()

    assert (report.confirmed, report.not_delivered) == (1, 0)
    assert sync.items(db, linked.link.id)[0].state == "done"
    assert len(notes_of(sn, linked.sys_id)) == 1
