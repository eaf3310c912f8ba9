"""Recurrence through the emulators: a new anomaly like one whose ticket is open (the same fingerprint, or
the same check on the same container) within the rule's window joins that ticket with a "Recurred" work
note instead of a new ticket, and the card counts the occurrences; outside the window, or once the
ticket is resolved, it gets a ticket of its own. By hand, the create form offers the link."""

from __future__ import annotations

import json

from bot.slack import render
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import links, sync

from .conftest import NOW, Told, later, new_anomaly, spec


async def first_ticket(bot: Snowbot, q: QualyticsEmulator, **data: object) -> str:
    await bot.create_rule(spec(), actor="U1")
    await bot.poll_new_anomalies()
    new_anomaly(q, 900, created=NOW, **data)  # type: ignore[arg-type]
    assert await bot.poll_new_anomalies() == {"created": 1}
    [link] = links.for_anomaly(bot.db, 900)
    return link.ticket_number


async def test_the_same_fingerprint_within_the_window_is_linked_with_a_recurred_note(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator, told: Told
) -> None:
    number = await first_ticket(bot, q_emulator, fingerprint=884211093)
    new_anomaly(q_emulator, 901, created=later(2), fingerprint=884211093)
    tickets_before = len(sn_emulator.incidents)

    assert await bot.poll_new_anomalies() == {"recurred": 1}
    assert len(sn_emulator.incidents) == tickets_before  # no new ticket
    assert [link.ticket_number for link in links.for_anomaly(bot.db, 901)] == [number]
    row = sn_emulator.get_by_number(number)
    assert row is not None
    notes = [entry["value"] for entry in sn_emulator.journal(row["sys_id"])]
    assert any(
        note.startswith("Recurred: anomaly 901 (the same fingerprint as anomaly 900") for note in notes
    )
    assert (await bot.anomaly_card(900)).occurrences == [900, 901]
    assert (await bot.anomaly_card(901)).occurrences == [900, 901]
    [(earlier, linked)] = told.recurred
    assert (earlier.anomaly_id, linked.anomaly_id) == (900, 901)

    new_anomaly(q_emulator, 902, created=later(4), fingerprint=884211093)
    assert await bot.poll_new_anomalies() == {"recurred": 1}
    card = await bot.anomaly_card(900)
    assert card.occurrences == [900, 901, 902]
    assert "Occurred 3 times (anomalies 900, 901, 902)" in json.dumps(render.anomaly_card(card))


async def test_the_same_check_on_the_same_container_recurs_too(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator
) -> None:
    number = await first_ticket(bot, q_emulator, check_id=9500)
    new_anomaly(q_emulator, 901, created=later(1), check_id=9500)
    assert await bot.poll_new_anomalies() == {"recurred": 1}
    [link] = links.for_anomaly(bot.db, 901)
    assert link.ticket_number == number


async def test_outside_the_window_it_gets_a_ticket_of_its_own(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator
) -> None:
    number = await first_ticket(bot, q_emulator, fingerprint=42)
    new_anomaly(q_emulator, 901, created=later(10), fingerprint=42)  # the rule's window is 7 days
    assert await bot.poll_new_anomalies() == {"created": 1}
    [link] = links.for_anomaly(bot.db, 901)
    assert link.ticket_number != number


async def test_a_resolved_ticket_is_not_joined(bot: Snowbot, q_emulator: QualyticsEmulator) -> None:
    number = await first_ticket(bot, q_emulator, fingerprint=42)
    [link] = links.for_anomaly(bot.db, 900)
    sync.set_resolved(bot.db, link.id, True)  # what the sync's refresh records when it is resolved
    new_anomaly(q_emulator, 901, created=later(1), fingerprint=42)
    assert await bot.poll_new_anomalies() == {"created": 1}
    assert links.for_anomaly(bot.db, 901)[0].ticket_number != number


async def test_creating_by_hand_offers_the_open_ticket_of_an_earlier_occurrence(
    bot: Snowbot, q_emulator: QualyticsEmulator
) -> None:
    number = await first_ticket(bot, q_emulator, check_id=9500)
    new_anomaly(q_emulator, 901, created=later(1), check_id=9500)
    draft = await bot.ticket_draft(901)
    assert draft.recurrence_hint == f"Anomaly 900 with the same check has {number} open — link instead?"
    new_anomaly(q_emulator, 902, created=later(1), check_id=9501)
    assert (await bot.ticket_draft(902)).recurrence_hint is None
