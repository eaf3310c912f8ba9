"""What a person sees when the service account has only the itil role, or an incident is closed
(issue 9 items 6 and 8): the create form, `/snow status`, App Home and `snowbot sync --once`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.settings import Settings
from bot.slack import render
from bot.sync.cli import run_sync_once
from bot.usecases import CHOICES_REFUSED_HINT, Snowbot, TicketForm
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator

NOW = datetime(2026, 1, 23, 19, 51, 23, tzinfo=UTC)
GRANT = "label, value, element and dependent_value"


def _texts(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                out.append(element["text"])
    return "\n".join(out)


@pytest.fixture
def itil_only(sn_emulator: ServiceNowEmulator) -> ServiceNowEmulator:
    sn_emulator.add_user("admin", "admin", ["itil"])  # the configured account loses admin
    return sn_emulator


async def test_the_create_form_is_free_text_with_a_hint_when_sys_choice_is_closed(
    snowbot: Snowbot, itil_only: ServiceNowEmulator
) -> None:
    draft = await snowbot.ticket_draft(824)

    assert draft.form.choices_source == "free_text"
    assert draft.form.field("category").type == "string"
    assert draft.choices_hint == CHOICES_REFUSED_HINT
    view = render.create_modal(draft, render.blocks.ModalMetadata())
    assert "refused snowbot's read of its choice lists (sys_choice)" in _texts(view["blocks"])
    assert GRANT in _texts(view["blocks"])

    # the free-text values are taken as typed (the instance's own rules judge them)
    created = await snowbot.create_ticket_for_anomaly(
        824, TicketForm(short_description="max_value", category="database", subcategory="oracle"), "U1"
    )
    assert itil_only.incidents[created.incident.sys_id]["category"] == "database"


async def test_status_names_the_refused_read_and_the_acl_that_grants_it(
    snowbot: Snowbot, itil_only: ServiceNowEmulator
) -> None:
    await snowbot.ticket_draft(824)

    (refused,) = (await snowbot.status()).refused_reads
    assert "refused to read sys_choice" in refused
    assert "Field(s) present in the query do not have permission to be read" in refused
    assert GRANT in refused
    message = render.status_message(await snowbot.overview(), NOW)
    home = render.home_view(await snowbot.overview(), NOW, is_admin=False)
    for blocks in (message["blocks"], home["blocks"]):
        assert "refused to read sys_choice" in _texts(blocks) and GRANT in _texts(blocks)


async def test_a_form_with_readable_choices_has_no_hint(snowbot: Snowbot) -> None:
    draft = await snowbot.ticket_draft(824)
    assert draft.form.choices_source == "instance" and draft.choices_hint is None
    assert (await snowbot.status()).refused_reads == []


async def test_a_note_not_delivered_to_a_closed_incident_shows_in_status_home_and_sync_once(
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    snowbot = make_snowbot(settings)
    created = await snowbot.create_ticket_for_anomaly(824, TicketForm(short_description="max_value"), "U1")
    sn_emulator.incidents[created.incident.sys_id].update(
        state="7", close_code="Solution provided", close_notes="closed by the desk"
    )
    q_emulator.set_status(824, "Acknowledged")

    assert await run_sync_once(settings, snowbot=snowbot) == 0

    expected = f"not delivered: {created.incident.number} is Closed"
    out = capsys.readouterr().out
    assert "not delivered:      1 (incident Closed or Canceled)" in out
    assert f"failed: status note (link {created.link.id}): {expected}" in out
    assert sn_emulator.journal(created.incident.sys_id) == []
    assert any(expected in line for line in (await snowbot.status()).sync.recent_failures)
    assert expected in _texts(render.status_message(await snowbot.overview(), NOW)["blocks"])
    assert expected in _texts(render.home_view(await snowbot.overview(), NOW, is_admin=True)["blocks"])
