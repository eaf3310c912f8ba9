"""`/snow help|status|search|tickets|link` and the Unlink button: ephemeral replies through response_url."""

from __future__ import annotations

import json

from bot.slack.ids import ActionId
from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.slack.conftest import ALERTS, Harness

NIGHTLY_LOAD = "INC0000002"  # "Nightly orders_daily load failed"
SHARED_FOLDER = "INC0000001"


async def reply(h: Harness, text: str) -> dict:
    response = await h.command(text)
    assert response.status_code == 200 and response.text == ""  # acknowledged with nothing to show
    [answer] = h.world.hooks.to("command")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    return answer


async def test_help_for_no_subcommand_and_for_help(h: Harness) -> None:
    for text in ("", "help"):
        h.world.hooks.posts.clear()
        answer = await reply(h, text)
        assert "/snow create <anomaly id or Qualytics anomaly URL>" in json.dumps(answer["blocks"])
    assert h.world.methods() == []


async def test_an_unknown_subcommand_shows_help_with_a_note(h: Harness) -> None:
    answer = await reply(h, "frobnicate 824")

    assert answer["text"].startswith("I don't know `frobnicate`.")
    assert "/snow search <text>" in json.dumps(answer["blocks"])


async def test_status_shows_the_integration_sync_health_and_recent_links(h: Harness) -> None:
    await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")

    answer = await reply(h, "status")

    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "https://dev-snowbot.service-now.com" in text
    assert "Pending: 0" in text and "Failed: 0" in text
    assert "Anomaly 824 → <" in text and NIGHTLY_LOAD in text


async def test_search_lists_matching_incidents(h: Harness) -> None:
    answer = await reply(h, "search orders_daily")

    assert answer["text"] == '1 incident matches "orders_daily"'
    assert NIGHTLY_LOAD in json.dumps(answer["blocks"])


async def test_tickets_then_unlink_replaces_the_list(h: Harness) -> None:
    first = await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    await h.snowbot.link_existing_ticket(824, SHARED_FOLDER, "test")

    answer = await reply(h, "tickets 824")

    assert answer["text"] == "2 tickets linked to anomaly 824"
    unlink = next(
        e
        for blk in answer["blocks"]
        if blk["type"] == "actions"
        for e in blk["elements"]
        if e["action_id"] == ActionId.UNLINK_TICKET and e["value"] == f"824:{first.link.id}"
    )
    ephemeral = {"ts": "1700000300.000001", "channel": ALERTS}  # Slack leaves the message out of the payload
    await h.interact(h.block_actions_on_message(ephemeral, unlink, ephemeral=True, hook="unlink"))

    assert [link.ticket_number for link in links.for_anomaly(h.snowbot.db, 824)] == [SHARED_FOLDER]
    [replaced] = h.world.hooks.to("unlink")
    assert replaced["replace_original"] is True
    assert replaced["text"] == "1 ticket linked to anomaly 824"

    await h.interact(h.block_actions_on_message(ephemeral, unlink, ephemeral=True, hook="again"))
    [again] = h.world.hooks.to("again")  # a second click on the stale list only refreshes it
    assert again["text"] == "1 ticket linked to anomaly 824"


async def test_link_with_numbers_links_at_once_and_reports_each_ticket(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    await h.snowbot.link_existing_ticket(824, SHARED_FOLDER, "test")

    answer = await reply(h, f"link 824 {NIGHTLY_LOAD} {SHARED_FOLDER} INC9999999 banana")

    text = json.dumps(answer)
    assert answer["text"].startswith(f"{NIGHTLY_LOAD} linked to anomaly 824")
    assert f"{SHARED_FOLDER} is already linked to anomaly 824." in text
    assert "ServiceNow has no incident INC9999999" in text
    assert "banana: A ticket is identified by its sys_id" in text
    numbers = sorted(link.ticket_number for link in links.for_anomaly(h.snowbot.db, 824))
    assert numbers == [SHARED_FOLDER, NIGHTLY_LOAD]
    linked = next(link for link in links.for_anomaly(h.snowbot.db, 824) if link.ticket_number == NIGHTLY_LOAD)
    assert (linked.channel_id, linked.thread_ts, linked.created_by) == (ALERTS, None, "jane.doe via Slack")
    incident = sn_emulator.get_by_number(NIGHTLY_LOAD)
    assert incident is not None and "**Anomaly ID:** 824" in incident["description"]


async def test_a_use_case_error_is_a_clear_ephemeral_message(h: Harness) -> None:
    answer = await reply(h, "tickets 999999")

    assert "Qualytics has no anomaly 999999" in answer["text"]
    assert "Reference" not in json.dumps(answer)


async def test_status_for_an_admin_adds_the_doctor_report_and_not_for_others(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    sn_emulator.add_user("admin", "admin", ["itil"])  # sys_choice and sys_journal_field closed to it
    response = await h.command("status", user="U_ADMIN")
    assert response.status_code == 200 and response.text == ""
    [answer] = h.world.hooks.to("command")
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "*Doctor* (admins only): 2 of" in text
    assert ":x: FAIL servicenow sys_choice: " in text and "SNOWBOT_CLOSE_CODE" in text
    assert ":white_check_mark: ok   slack token: valid" in text

    h.world.hooks.posts.clear()
    text = json.dumps((await reply(h, "status"))["blocks"], ensure_ascii=False)  # U_JANE: not an admin
    assert "Doctor" not in text and "Pending: 0" in text
