"""ServiceNow back to Qualytics and Slack (`bot.sync.back`), end to end through both emulators: every
`sync_back` mode, a Canceled ticket, a lost Qualytics answer, a restart between detection and delivery,
the watermark query, and no loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlite_utils import Database

import storage
from bot.sync import back
from bot.sync.context import Run
from bot.sync.engine import SyncEngine
from bot.sync.refresh import refresh
from bot.sync.report import PassReport
from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from servicenow import Incident, RetryPolicy, ServiceNowClient, parse_credentials
from storage import links, syncback
from storage.integrations import Integration
from storage.links import Link
from tests.bot.sync.conftest import INSTANCE_URL, Clock, Linked, no_sleep, notes_of

PERSON = "beth.anglin"


class Recorder:
    """A notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.closed: list[tuple[Link, Incident]] = []
        self.notes: list[tuple[Link, dict[str, Any]]] = []

    async def incident_closed(self, link: Link, incident: Incident) -> None:
        self.closed.append((link, incident))

    async def ticket_note(self, link: Link, payload: dict[str, Any]) -> None:
        self.notes.append((link, payload))


def comments(qe: QualyticsEmulator, anomaly_id: int) -> list[str]:
    return [c["message"] for c in qe.anomalies[anomaly_id]["comments"]]


def from_servicenow(qe: QualyticsEmulator, anomaly_id: int) -> list[str]:
    return [m.split("\n")[0] for m in comments(qe, anomaly_id) if "ref snowback-" in m]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def engine(make_engine: Callable[..., SyncEngine], recorder: Recorder) -> SyncEngine:
    return make_engine(notifier=recorder)


def set_mode(db: Database, integration: Integration, mode: syncback.Mode) -> None:
    assert syncback.set_mode(db, integration.id, mode)


async def linked_and_seen(
    engine: SyncEngine, link_anomaly: Callable[..., Linked], clock: Clock, **kwargs: Any
) -> Linked:
    linked = link_anomaly(thread=True, **kwargs)
    await engine.run_pass()  # the first read baselines the ticket: nothing before it crosses
    clock.advance(seconds=5)
    return linked


async def test_a_person_comment_goes_to_slack_and_qualytics_once_and_never_back(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
    recorder: Recorder,
) -> None:
    set_mode(db, integration, "comment")
    linked = await linked_and_seen(engine, link_anomaly, clock)
    sn.update_as(PERSON, linked.sys_id, comments="The feed was late; rerunning it.")
    sn.update_as(PERSON, linked.sys_id, work_notes="Rerun scheduled for 14:00.")

    await engine.run_pass()
    clock.advance(seconds=5)
    await engine.run_pass()  # the forward sync sees snowbot's comments: nothing goes back

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"Comment on {linked.number} by {PERSON} in ServiceNow: The feed was late; rerunning it.",
        f"Work note on {linked.number} by {PERSON} in ServiceNow: Rerun scheduled for 14:00.",
    ]
    assert [(p["label"], p["text"]) for _, p in recorder.notes] == [
        ("Comment", "The feed was late; rerunning it."),
        ("Work note", "Rerun scheduled for 14:00."),
    ]
    assert not [n for n in notes_of(sn, linked.sys_id) if "Comment from Qualytics" in n]


async def test_off_tells_slack_only(
    db: Database,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
    recorder: Recorder,
) -> None:
    linked = await linked_and_seen(engine, link_anomaly, clock)
    sn.update_as(PERSON, linked.sys_id, comments="Looking into it.")
    sn.update_as(PERSON, linked.sys_id, state="6", close_code="Solution provided", close_notes="Feed fixed.")

    await engine.run_pass()

    assert [p["text"] for _, p in recorder.notes] == ["Looking into it."]
    assert len(recorder.closed) == 1  # the thread's closing note (the refresh step's)
    assert from_servicenow(qe, linked.anomaly_id) == []
    assert not qe.anomalies[linked.anomaly_id]["archived"]


async def test_comment_mode_comments_the_resolution_and_archives_nothing(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
) -> None:
    set_mode(db, integration, "comment")
    linked = await linked_and_seen(engine, link_anomaly, clock)
    sn.update_as(PERSON, linked.sys_id, state="6", close_code="Solution provided", close_notes="Feed fixed.")

    await engine.run_pass()
    clock.advance(seconds=5)
    await engine.run_pass()

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"{linked.number} resolved in ServiceNow by Beth Anglin: Solution provided - Feed fixed."
    ]
    assert not qe.anomalies[linked.anomaly_id]["archived"]


async def test_comment_and_archive_archives_once_every_ticket_is_resolved(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
) -> None:
    set_mode(db, integration, "comment_and_archive")
    first = link_anomaly(thread=True)
    second = link_anomaly(anomaly_id=first.anomaly_id, thread=True)
    await engine.run_pass()
    clock.advance(seconds=5)

    sn.update_as(PERSON, first.sys_id, state="6", close_code="Solution provided", close_notes="One done.")
    await engine.run_pass()
    assert not qe.anomalies[first.anomaly_id]["archived"]  # the second is still open

    clock.advance(seconds=5)
    sn.update_as(PERSON, second.sys_id, state="6", close_code="Solution provided", close_notes="Both done.")
    await engine.run_pass()
    clock.advance(seconds=5)
    await engine.run_pass()

    anomaly = qe.anomalies[first.anomaly_id]
    assert anomaly["archived"] and anomaly["status"] == "Resolved"
    assert from_servicenow(qe, first.anomaly_id) == [
        f"{first.number} resolved in ServiceNow by Beth Anglin: Solution provided - One done.",
        f"{second.number} resolved in ServiceNow by Beth Anglin: Solution provided - Both done.",
    ]


async def test_a_canceled_ticket_is_commented_but_archives_nothing(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
) -> None:
    set_mode(db, integration, "comment_and_archive")
    linked = await linked_and_seen(engine, link_anomaly, clock)
    sn.update_as(PERSON, linked.sys_id, state="8")

    await engine.run_pass()
    clock.advance(seconds=5)
    await engine.run_pass()

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"{linked.number} canceled in ServiceNow by {PERSON}: no resolution code"
    ]
    assert not qe.anomalies[linked.anomaly_id]["archived"]


async def test_a_comment_whose_qualytics_answer_is_lost_crosses_once(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
    recorder: Recorder,
) -> None:
    set_mode(db, integration, "comment")
    linked = await linked_and_seen(engine, link_anomaly, clock)
    sn.update_as(PERSON, linked.sys_id, comments="Added while the answer is lost.")
    healthy = qe.faults
    qe.faults = Faults(drop_rate=1.0, methods=frozenset({"POST"}), paths=("/api/comments",))

    await engine.run_pass()  # the comment lands, its answer is lost
    qe.faults = healthy
    [item] = [i for i in syncback.items(db) if i.kind == "note"]
    assert item.qualytics_state == "pending" and item.attempts == 1
    await engine.run_pass()  # not due yet: the retry waits for the write to settle
    clock.advance(seconds=engine.config.settle_delay + 1)
    await engine.run_pass()  # found by its marker: not sent again

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"Comment on {linked.number} by {PERSON} in ServiceNow: Added while the answer is lost."
    ]
    assert [p["text"] for _, p in recorder.notes] == ["Added while the answer is lost."]
    assert syncback.items(db)[0].qualytics_state == "done"


async def test_a_restart_between_detection_and_delivery_delivers_once(
    db: Database,
    db_path: Any,
    integration: Integration,
    engine: SyncEngine,
    make_engine: Callable[..., SyncEngine],
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
) -> None:
    set_mode(db, integration, "comment")
    linked = await linked_and_seen(engine, link_anomaly, clock)
    sn.update_as(PERSON, linked.sys_id, work_notes="Noted before the restart.")
    ctx = engine.context()  # detection only: the process dies before delivering
    run = Run(PassReport("pass", clock()), polling=True, groups={linked.anomaly_id: links.watched(db)})
    await refresh(ctx, run)
    await back.record_back(ctx, run)

    reopened = storage.connect(db_path)
    try:
        again = make_engine(database=reopened, notifier=Recorder())
        await again.run_pass()
        clock.advance(seconds=5)
        await again.run_pass()
    finally:
        reopened.close()

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"Work note on {linked.number} by {PERSON} in ServiceNow: Noted before the restart."
    ]


async def test_snowbot_s_own_notes_never_come_back(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
    recorder: Recorder,
) -> None:
    set_mode(db, integration, "comment")
    linked = await linked_and_seen(engine, link_anomaly, clock)
    qe.add_comment(linked.anomaly_id, "Checked upstream.")  # forwarded as a work note by snowbot
    await engine.run_pass()
    clock.advance(seconds=5)
    await engine.run_pass()

    assert any("Comment from Qualytics: Checked upstream." in n for n in notes_of(sn, linked.sys_id))
    assert from_servicenow(qe, linked.anomaly_id) == []
    assert recorder.notes == []


async def test_a_pass_over_unchanged_tickets_asks_only_for_changes(
    db: Database,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    clock: Clock,
) -> None:
    for _ in range(3):
        link_anomaly()
    await engine.run_pass()
    clock.advance(seconds=5)
    sn.reset_log()

    await engine.run_pass()

    reads = [r for r in sn.requests if r.method == "GET"]
    assert len(reads) == 1
    assert "sys_updated_on>" in reads[0].query.get("sysparm_query", "")


async def test_without_sys_journal_field_the_ticket_s_journal_fields_are_read(
    db: Database,
    integration: Integration,
    make_engine: Callable[..., SyncEngine],
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
    recorder: Recorder,
) -> None:
    sn.add_user("snowbot_integration", "secret-pw", ["itil"])  # sys_journal_field answers it no rows
    client = ServiceNowClient.connect(
        INSTANCE_URL,
        parse_credentials("snowbot_integration:secret-pw"),
        transport=sn.transport(),
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
    )
    async with client:
        engine = make_engine(notifier=recorder, servicenow=client)
        set_mode(db, integration, "comment")
        linked = await linked_and_seen(engine, link_anomaly, clock)
        sn.update_as(PERSON, linked.sys_id, comments="Seen through the field.")
        await engine.run_pass()
        clock.advance(seconds=5)
        await engine.run_pass()
        assert "sys_journal_field" in client.refused_reads

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"Comment on {linked.number} by Beth Anglin in ServiceNow: Seen through the field."
    ]
    assert len(recorder.notes) == 1


async def test_a_comment_in_the_same_second_as_the_last_pass_still_crosses(
    db: Database,
    integration: Integration,
    engine: SyncEngine,
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
) -> None:
    set_mode(db, integration, "comment")
    linked = link_anomaly(thread=True)
    await engine.run_pass()  # the clock stands still: sys_updated_on stays the same second
    sn.update_as(PERSON, linked.sys_id, comments="Within the second.")

    await engine.run_pass()

    assert from_servicenow(qe, linked.anomaly_id) == [
        f"Comment on {linked.number} by {PERSON} in ServiceNow: Within the second."
    ]


async def test_unchanged_tickets_still_show_when_they_were_last_checked(
    db: Database, engine: SyncEngine, link_anomaly: Callable[..., Linked], clock: Clock
) -> None:
    linked = link_anomaly()
    await engine.run_pass()
    later = clock.advance(minutes=5)

    await engine.run_pass()  # the watermark query answers nothing for it

    link = links.get(db, linked.link.id)
    assert link is not None and link.last_synced_at == later
