"""A hard-deleted anomaly (404 after `DELETE ?archive=false`): one note, no more polling, the link says so."""

from __future__ import annotations

import json

import httpx
from sqlite_utils import Database

from bot.models import TicketLinkOut
from bot.slack import blocks
from bot.sync.detect import DELETED_EVENT_KEY
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import links, sync

from .conftest import T0, Clock, expected_note, notes_of

LINE = (
    "[2026-01-23 19:51:23 UTC] Qualytics anomaly {id} was deleted in Qualytics; snowbot no longer syncs it."
)


async def test_a_deleted_anomaly_gets_one_note_on_each_incident_and_is_no_longer_polled(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    first = link_anomaly()
    second = link_anomaly(anomaly_id=first.anomaly_id)
    async with httpx.AsyncClient(transport=qe.transport(), base_url=qe.base_url) as http:
        deleted = await http.delete(
            f"/api/anomalies/{first.anomaly_id}",
            params={"archive": "false"},
            headers={"Authorization": f"Bearer {qe.token}"},
        )
    assert deleted.status_code == 204
    engine = make_engine()

    report = await engine.run_pass()

    assert (report.deleted, report.read_failures, report.notes_sent, report.unwatched) == (1, 0, 2, 2)
    line = LINE.format(id=first.anomaly_id)
    for item in (first, second):
        assert notes_of(sn, item.sys_id) == [expected_note(db, item.link.id, 0, line)]
        assert [row.event_key for row in sync.items(db, item.link.id)] == [DELETED_EVENT_KEY]
        stored = links.get(db, item.link.id)
        assert stored is not None and stored.anomaly_deleted_at == clock()
    assert links.watched(db) == []
    assert "deleted anomalies:  1" in "\n".join(report.lines())

    clock.advance(hours=1)
    qe.reset_log()
    again = await engine.run_pass()
    assert (again.anomalies_read, again.read_failures, again.deleted) == (0, 0, 0)
    assert qe.requests == []  # not polled any more

    named = await engine.sync_anomalies([first.anomaly_id])  # a webhook or a Slack button names it again
    assert (named.deleted, named.events_recorded, named.notes_sent) == (0, 0, 0)
    assert len(notes_of(sn, first.sys_id)) == 1 and len(notes_of(sn, second.sys_id)) == 1
    assert links.get(db, first.link.id).anomaly_deleted_at == T0  # type: ignore[union-attr]  # the first time kept


async def test_the_deleted_note_survives_a_lost_answer_exactly_once(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly()
    qe.delete(linked.anomaly_id)
    sn.faults.drop_next()  # the work note is written, its answer lost
    engine = make_engine()
    await engine.run_pass()
    clock.advance(hours=1)
    await engine.run_pass()  # the retry looks in the journal first
    await engine.sync_anomalies([linked.anomaly_id])

    assert notes_of(sn, linked.sys_id) == [
        expected_note(db, linked.link.id, 0, LINE.format(id=linked.anomaly_id))
    ]


async def test_a_link_never_baselined_still_gets_the_note(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    linked = link_anomaly(baseline=False)
    qe.delete(linked.anomaly_id)

    report = await make_engine().run_pass()

    assert report.deleted == 1 and len(notes_of(sn, linked.sys_id)) == 1
    state = sync.get_state(db, linked.link.id)
    assert state is not None and state.last_status == "Deleted" and state.watch is False


def test_the_rest_api_link_says_the_anomaly_was_deleted(db: Database, link_anomaly, clock: Clock) -> None:
    linked = link_anomaly()
    assert TicketLinkOut.from_link(links.get(db, linked.link.id)).anomaly_deleted is False  # type: ignore[arg-type]
    links.mark_anomaly_deleted(db, linked.anomaly_id, now=clock())
    out = TicketLinkOut.from_link(links.get(db, linked.link.id))  # type: ignore[arg-type]
    assert out.anomaly_deleted is True and out.anomaly_deleted_at is not None


def test_slack_shows_the_link_of_a_deleted_anomaly_as_such(db: Database, link_anomaly, clock: Clock) -> None:
    linked = link_anomaly()
    links.mark_anomaly_deleted(db, linked.anomaly_id, now=clock())
    stored = links.for_anomaly(db, linked.anomaly_id)

    listed = json.dumps(blocks.tickets_message(linked.anomaly_id, stored, now=clock()))
    status = json.dumps(blocks.status_blocks(integration=None, recent_links=stored, now=clock()))

    assert "The anomaly was deleted in Qualytics" in listed and "no longer synced" in listed
    assert "anomaly deleted in Qualytics" in status
