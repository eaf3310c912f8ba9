"""A creation rule makes the ticket kind it names (a Problem here), through the same create path as a
person's create: numbered and stored by its own table, linked with its kind."""

from __future__ import annotations

from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import links

from .conftest import new_anomaly, spec


async def test_a_rule_of_another_kind_creates_that_kind(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator
) -> None:
    await bot.create_rule(spec(ticket_kind="problem"), actor="U1")
    await bot.poll_new_anomalies()  # the first round only sets the mark
    new_anomaly(q_emulator, 900)

    assert await bot.poll_new_anomalies() == {"created": 1}
    [made] = [
        row for row in sn_emulator.records("problem").values() if "anomaly 900" in row["short_description"]
    ]
    assert made["number"].startswith("PRB")
    [link] = links.for_anomaly(bot.db, 900)
    assert (link.ticket_kind, link.ticket_number) == ("problem", made["number"])
