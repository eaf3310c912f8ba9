"""Qualytics' own ticketing integration on a linked anomaly: both write work notes, so `/snow status` warns."""

from __future__ import annotations

import json

from bot.slack import blocks, render
from bot.usecases import SyncHealth
from emulators.qualytics import QualyticsEmulator
from qualytics_api import QualyticsAuthError

from .conftest import Clock


def _links_reads(qe: QualyticsEmulator) -> list[str]:
    return [r.path for r in qe.requests if r.path.endswith("/ticket-links")]


async def test_an_anomaly_with_qualytics_own_ticket_links_is_reported_and_shown_in_status(
    qe: QualyticsEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    plain, doubled = link_anomaly(), link_anomaly()
    qe.add_ticket_link(doubled.anomaly_id, "INC0099999")
    for item in (plain, doubled):
        qe.set_status(
            item.anomaly_id, "Acknowledged"
        )  # notes are about to be written: that is when it is asked
    engine = make_engine()

    report = await engine.run_pass()

    assert report.native_ticket_links == [doubled.anomaly_id]
    assert any("every work note arrives twice" in line for line in report.lines())
    health = SyncHealth(pending=0, failed=0, done=0, last_run_at=clock(), last_run_summary=report.as_dict())
    text = json.dumps(blocks.status_blocks(integration=None, health=render.sync_health(health), now=clock()))
    assert f"also links tickets to anomalies {doubled.anomaly_id}: it writes its own work notes" in text
    assert plain.anomaly_id not in report.native_ticket_links


async def test_ticket_links_are_read_again_only_after_an_hour(
    qe: QualyticsEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    linked = link_anomaly(baseline=False)
    engine = make_engine()
    await engine.run_pass()  # the baseline: asked
    assert len(_links_reads(qe)) == 1
    await engine.run_pass()  # nothing new: not asked
    assert len(_links_reads(qe)) == 1

    clock.advance(minutes=30)
    qe.add_ticket_link(linked.anomaly_id, "INC0099999")
    qe.set_status(linked.anomaly_id, "Acknowledged")
    assert (await engine.run_pass()).native_ticket_links == []  # looked at half an hour ago
    clock.advance(minutes=31)
    qe.set_status(linked.anomaly_id, "Active")
    assert (await engine.run_pass()).native_ticket_links == [linked.anomaly_id]
    assert len(_links_reads(qe)) == 2
    clock.advance(hours=2)
    assert (await engine.run_pass()).native_ticket_links == [linked.anomaly_id]  # remembered, not asked
    assert len(_links_reads(qe)) == 2


async def test_a_refusal_stops_the_checks_and_never_the_sync(
    qe: QualyticsEmulator, make_engine, link_anomaly, clock: Clock
) -> None:
    for item in (link_anomaly(), link_anomaly()):
        qe.add_comment(item.anomaly_id, "new")
    engine = make_engine(concurrency=1)
    calls: list[int] = []

    async def refused(anomaly_id: int) -> list[dict]:  # an older Qualytics, or a token without Reporter
        calls.append(anomaly_id)
        raise QualyticsAuthError("the Qualytics token may not read the ticket links", status_code=403)

    engine.qualytics.ticket_links = refused  # type: ignore[method-assign]
    first = await engine.run_pass()
    clock.advance(hours=2)
    for anomaly_id in list(qe.anomalies):
        qe.add_comment(anomaly_id, "newer")
    again = await engine.run_pass()

    assert (first.anomalies_read, first.read_failures, first.notes_sent) == (2, 0, 2)
    assert (again.anomalies_read, again.notes_sent) == (2, 2)
    assert len(calls) == 1 and again.native_ticket_links == []
