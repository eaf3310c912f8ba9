"""Creation rules with several ServiceNow instances: a rule creates in the integration it names (not the
default one), and a recurrence links the earlier ticket in the instance that ticket lives in."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.composition import Outside
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.two_instances import connect_b, instance_b, routes

from .conftest import new_anomaly, spec

A = 1
"""The environment's integration (dev-snowbot); B, connected in each test, becomes the default."""


@pytest.fixture
def sn_b() -> ServiceNowEmulator:
    return instance_b()


@pytest.fixture
def outside(outside: Outside, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator) -> Outside:
    return replace(outside, servicenow_transport=routes(sn_emulator, sn_b))


def made_by_rule(sn: ServiceNowEmulator) -> list[dict[str, str]]:
    return [row for row in sn.incidents.values() if row["description"].startswith("Found by rule")]


async def test_a_rule_creates_in_the_integration_it_names_and_recurrences_link_there(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator
) -> None:
    b = await connect_b(bot)
    assert b.is_default  # so a rule that ignored its integration_id would create in B
    await bot.create_rule(spec(integration_id=A, recurrence_window=7 * 86400), actor="U1")
    await bot.poll_new_anomalies()  # the first round only sets the mark
    new_anomaly(q_emulator, 900, fingerprint="fp-orders")

    assert await bot.poll_new_anomalies() == {"created": 1}
    assert (len(made_by_rule(sn_emulator)), len(made_by_rule(sn_b))) == (1, 0)
    [first] = links.for_anomaly(bot.db, 900)
    assert first.integration_id == A

    new_anomaly(q_emulator, 901, fingerprint="fp-orders")  # the same fingerprint, inside the window
    assert await bot.poll_new_anomalies() == {"recurred": 1}
    [again] = links.for_anomaly(bot.db, 901)
    assert (again.integration_id, again.ticket_sys_id) == (A, first.ticket_sys_id)
    assert (len(made_by_rule(sn_emulator)), len(made_by_rule(sn_b))) == (1, 0)
