"""Creating an incident from Slack: the message shortcut on a Qualytics alert and `/snow create`."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from bot.slack.blocks import ModalMetadata
from bot.slack.ids import ActionId, BlockId, Shortcut, ViewId
from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.slack.conftest import ALERTS, Harness, qualytics_alert


def input_element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b["element"] for b in view["blocks"] if b.get("block_id") == block_id)


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


async def open_create_from_alert(h: Harness, anomaly_id: int = 824) -> tuple[dict[str, Any], str]:
    """The shortcut on a Qualytics alert; returns the alert and the create modal's view id."""
    alert = h.slack.add_message(
        ALERTS, "", attachments=[qualytics_alert(anomaly_id)], user=None, bot_id="B0QUALYTICS"
    )
    response = await h.interact(h.message_action(Shortcut.CREATE_INCIDENT, alert))
    assert response.status_code == 200 and response.text == ""
    return alert, h.slack.calls_to("views.update")[-1].args["view_id"]


async def test_shortcut_opens_a_loading_modal_then_fills_it_with_the_anomaly(h: Harness) -> None:
    alert, view_id = await open_create_from_alert(h)

    assert h.world.methods() == ["views.open", "users.info", "views.update"]
    opened, updated = h.slack.calls_to("views.open")[0], h.slack.calls_to("views.update")[0]
    assert "Loading anomaly 824" in json.dumps(opened.args["view"])
    assert updated.args["view_id"] == view_id
    assert re.fullmatch(r"\d+\.[0-9a-f]{8}", updated.args["hash"])  # the hash views.open returned
    view = h.slack.views[view_id]
    assert view["callback_id"] == ViewId.CREATE_INCIDENT
    short = input_element(view, BlockId.SHORT_DESCRIPTION)["initial_value"]
    assert short == "[Qualytics] record anomaly 824 in orders_daily"
    description = input_element(view, BlockId.DESCRIPTION)["initial_value"]
    assert description.startswith("## Qualytics Anomaly Linked [")
    assert "**Anomaly ID:** 824" in description
    assert "**View in Qualytics:** https://demo.qualytics.io/datastores/23/anomalies?id=824" in description
    category = input_element(view, BlockId.CATEGORY)
    assert category["type"] == "static_select" and category["initial_option"]["value"] == "inquiry"
    subcategories = [o["value"] for o in input_element(view, BlockId.SUBCATEGORY)["options"]]
    assert subcategories == ["antivirus", "email", "internal application"]
    assert "5 - Planning" in json.dumps(block(view, BlockId.PRIORITY_HINT))
    meta = ModalMetadata.decode(view["private_metadata"])
    assert (meta.anomaly_id, meta.channel, meta.thread_ts) == (824, ALERTS, alert["ts"])
    assert meta.caller  # Jane's Slack e-mail is a ServiceNow user's


async def test_submit_creates_the_incident_links_it_and_answers_in_the_alerts_thread(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    alert, view_id = await open_create_from_alert(h)
    group = next(
        sys_id for sys_id, g in sn_emulator._tables["sys_user_group"].items() if g["name"] == "Database"
    )

    await choose_category(h, view_id, "database")  # the subcategory select now offers database's

    entered = {
        BlockId.URGENCY: "1",
        BlockId.IMPACT: "2",
        BlockId.CATEGORY: "database",
        BlockId.SUBCATEGORY: "oracle",
        BlockId.ASSIGNMENT_GROUP: (group, "Database"),
    }
    response = await h.interact(h.view_submission(view_id, entered))

    assert response.status_code == 200
    assert response.json()["response_action"] == "update"
    [link] = links.for_anomaly(h.snowbot.db, 824)
    incident = sn_emulator.get_by_number(link.ticket_number)
    assert incident is not None
    assert incident["short_description"] == "[Qualytics] record anomaly 824 in orders_daily"
    assert (incident["urgency"], incident["impact"]) == ("1", "2")
    assert (incident["category"], incident["subcategory"]) == ("database", "oracle")
    assert incident["assignment_group"] == group
    assert incident["caller_id"]  # Jane, found by her Slack e-mail
    assert "**Anomaly ID:** 824" in incident["description"]
    assert (link.channel_id, link.thread_ts, link.created_by) == (ALERTS, alert["ts"], "jane.doe via Slack")
    post, card = h.slack.calls_to("chat.postMessage")
    assert (post.args["channel"], post.args["thread_ts"]) == (ALERTS, alert["ts"])
    assert post.args["text"] == f"{link.ticket_number} created and linked to anomaly 824"
    assert h.slack.app_messages(ALERTS, alert["ts"])[0]["text"] == post.args["text"]
    assert "Incident created" in json.dumps(h.slack.views[view_id]["title"])
    # then snowbot's own anomaly card in the same thread: the incident with its state, and the buttons
    assert (card.args["channel"], card.args["thread_ts"]) == (ALERTS, alert["ts"])
    shown = json.dumps(h.card_in(ALERTS, alert["ts"])["blocks"], ensure_ascii=False)
    assert f"{link.ticket_number}> · Incident · New" in shown and ActionId.ACKNOWLEDGE in shown


async def test_a_wrong_field_is_answered_on_the_field_and_nothing_is_created(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    _, view_id = await open_create_from_alert(h)
    before = len(sn_emulator.incidents)
    h.slack.reset_log()

    response = await h.interact(h.view_submission(view_id, {BlockId.SHORT_DESCRIPTION: "   "}))

    assert response.json() == {
        "response_action": "errors",
        "errors": {BlockId.SHORT_DESCRIPTION: "A short description is required."},
    }
    assert len(sn_emulator.incidents) == before and links.for_anomaly(h.snowbot.db, 824) == []
    assert h.world.methods() == []


async def test_a_servicenow_failure_keeps_the_form_with_the_reason_on_top(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    _, view_id = await open_create_from_alert(h)
    sn_emulator.faults.fail_next(503)

    await h.interact(h.view_submission(view_id, {BlockId.SHORT_DESCRIPTION: "Orders load is broken"}))

    view = h.slack.views[view_id]
    assert view["callback_id"] == ViewId.CREATE_INCIDENT and view["submit"]["text"] == "Create"
    assert (
        view["blocks"][0]["block_id"] == BlockId.ERROR and "ServiceNow" in view["blocks"][0]["text"]["text"]
    )
    assert input_element(view, BlockId.SHORT_DESCRIPTION)["initial_value"] == "Orders load is broken"
    assert links.for_anomaly(h.snowbot.db, 824) == []
    assert h.slack.calls_to("chat.postMessage") == []


async def test_urgency_and_impact_changes_update_the_priority_hint_with_the_hash(h: Harness) -> None:
    _, view_id = await open_create_from_alert(h)
    view = h.slack.views[view_id]
    view["state"] = {
        "values": {
            BlockId.URGENCY: {ActionId.URGENCY: {"type": "static_select", "selected_option": {"value": "1"}}},
            BlockId.IMPACT: {ActionId.IMPACT: {"type": "static_select", "selected_option": {"value": "1"}}},
        }
    }
    current_hash = view["hash"]
    h.slack.reset_log()

    action = {"type": "static_select", "action_id": ActionId.URGENCY, "block_id": BlockId.URGENCY}
    await h.interact(h.block_actions_in_view(view_id, {**action, "selected_option": {"value": "1"}}))

    [update] = h.slack.calls_to("views.update")
    assert update.args["hash"] == current_hash and update.error is None
    hint = json.dumps(block(h.slack.views[view_id], BlockId.PRIORITY_HINT))
    assert "1 - Critical" in hint


async def choose_category(h: Harness, view_id: str, category: str) -> None:
    view = h.slack.views[view_id]
    chosen = {"type": "static_select", "selected_option": {"value": category}}
    view["state"] = {"values": {BlockId.CATEGORY: {ActionId.CATEGORY: chosen}}}
    action = {"type": "static_select", "action_id": ActionId.CATEGORY, "block_id": BlockId.CATEGORY}
    await h.interact(h.block_actions_in_view(view_id, {**action, "selected_option": {"value": category}}))


async def test_a_category_change_offers_its_subcategories(h: Harness) -> None:
    _, view_id = await open_create_from_alert(h)

    await choose_category(h, view_id, "database")

    options = input_element(h.slack.views[view_id], BlockId.SUBCATEGORY)["options"]
    assert [o["value"] for o in options] == ["db2", "sql server", "oracle"]


async def test_assignment_group_and_user_suggestions(h: Harness) -> None:
    _, view_id = await open_create_from_alert(h)

    groups = await h.interact(
        h.block_suggestion(view_id, ActionId.ASSIGNMENT_GROUP, BlockId.ASSIGNMENT_GROUP, "data")
    )
    users = await h.interact(h.block_suggestion(view_id, ActionId.ASSIGNED_TO, BlockId.ASSIGNED_TO, "jane"))

    assert [o["text"]["text"] for o in groups.json()["options"]] == ["Data Quality", "Database"]
    [jane] = users.json()["options"]
    assert jane["text"]["text"] == "Jane Doe" and re.fullmatch(r"[0-9a-f]{32}", jane["value"])


async def test_slash_command_creates_and_announces_in_the_channel(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    await h.command("create https://demo.qualytics.io/datastores/23/anomalies?id=825")
    view_id = h.slack.calls_to("views.update")[-1].args["view_id"]
    assert ModalMetadata.decode(h.slack.views[view_id]["private_metadata"]).anomaly_id == 825

    await h.interact(h.view_submission(view_id))

    [link] = links.for_anomaly(h.snowbot.db, 825)
    post, card = h.slack.calls_to("chat.postMessage")
    assert post.args["channel"] == ALERTS and "thread_ts" not in post.args
    assert post.args["text"] == f"{link.ticket_number} created and linked to anomaly 825"
    assert h.world.hooks.posts == []  # nothing ephemeral: the announcement is the answer
    # the announcement starts the anomaly's thread: the sync answers there when the incident closes
    [announcement] = [m for m in h.slack.messages if m.get("text") == post.args["text"]]
    assert (link.channel_id, link.thread_ts) == (ALERTS, announcement["ts"])
    # and the anomaly's card is the thread's first reply
    assert card.args["thread_ts"] == announcement["ts"]
    assert "Anomaly ID: 825" in h.card_in(ALERTS, announcement["ts"])["text"]


async def test_slash_command_without_an_anomaly_explains_the_usage(h: Harness) -> None:
    await h.command("create the orders one")

    [reply] = h.world.hooks.to("command")
    assert reply["response_type"] == "ephemeral"
    assert "/snow create" in reply["text"]
    assert h.world.methods() == []


async def test_a_message_without_an_anomaly_asks_for_it_then_continues(h: Harness) -> None:
    chatter = h.slack.add_message(ALERTS, "the nightly orders load looks off again")
    await h.interact(h.message_action(Shortcut.CREATE_INCIDENT, chatter))
    asked = h.slack.calls_to("views.open")[-1]
    view_id = next(v for v, view in h.slack.views.items() if view["callback_id"] == ViewId.ANOMALY_ID)
    assert asked.error is None

    wrong = await h.interact(h.view_submission(view_id, {BlockId.ANOMALY_ID: "the orders one"}))
    assert wrong.json()["response_action"] == "errors"
    assert BlockId.ANOMALY_ID in wrong.json()["errors"]

    right = await h.interact(h.view_submission(view_id, {BlockId.ANOMALY_ID: "#824"}))
    assert right.json()["response_action"] == "update"
    view = h.slack.views[view_id]
    assert view["callback_id"] == ViewId.CREATE_INCIDENT
    meta = ModalMetadata.decode(view["private_metadata"])
    assert (meta.anomaly_id, meta.thread_ts) == (824, chatter["ts"])


async def test_an_unknown_anomaly_is_explained_in_the_modal(h: Harness) -> None:
    chatter = h.slack.add_message(ALERTS, "what about anomaly_id=999999 ?")
    await h.interact(h.message_action(Shortcut.CREATE_INCIDENT, chatter))

    view = h.last_view()
    assert view["callback_id"] == ViewId.MESSAGE
    assert "Qualytics has no anomaly 999999" in json.dumps(view)


async def test_an_unexpected_failure_shows_a_reference_that_is_logged_with_the_traceback(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail 42")

    monkeypatch.setattr(h.snowbot, "ticket_draft", broken)
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        await open_create_from_alert(h)

    shown = json.dumps(h.last_view())
    reference = re.search(r"Reference `([0-9a-f]{8})`", shown)
    assert reference is not None and "internal detail 42" not in shown
    [record] = [r for r in caplog.records if reference.group(1) in r.getMessage()]
    assert record.exc_info is not None and "internal detail 42" in str(record.exc_info[1])


async def test_rate_limited_slack_calls_are_retried_after_retry_after(h: Harness) -> None:
    h.slack.rate_limit_next("chat.postMessage", retry_after=3)
    _, view_id = await open_create_from_alert(h)

    await h.interact(h.view_submission(view_id))

    statuses = [call.status for call in h.slack.calls_to("chat.postMessage")]
    assert statuses == [429, 200, 200]  # the announcement (retried once), then the anomaly card
    assert len(h.sleeps) == 1 and 3 <= h.sleeps[0] < 4  # Retry-After plus jitter, through the injected sleep
    assert len(links.for_anomaly(h.snowbot.db, 824)) == 1


async def test_a_modal_closed_meanwhile_is_no_error(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    _, view_id = await open_create_from_alert(h)
    submission = h.view_submission(view_id)
    del h.slack.views[view_id]  # the person closed it: Slack answers views.update with not_found

    with caplog.at_level(logging.INFO, logger="bot.slack"):
        await h.interact(submission)

    assert len(links.for_anomaly(h.snowbot.db, 824)) == 1
    assert h.slack.calls_to("views.update")[-1].error == "not_found"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("was closed before it could be updated" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("refusal", ["expired_trigger_id", "exchanged_trigger_id", "ratelimited"])
async def test_slack_refusing_to_open_the_form_says_what_happened_and_to_try_again(
    h: Harness, refusal: str
) -> None:
    alert = h.slack.add_message(
        ALERTS, "", attachments=[qualytics_alert(824)], user=None, bot_id="B0QUALYTICS"
    )
    click = h.message_action(Shortcut.CREATE_INCIDENT, alert)
    if refusal == "expired_trigger_id":
        h.slack.expire_trigger(click["trigger_id"])
    elif refusal == "ratelimited":  # longer than a trigger id lives: not retried
        h.slack.rate_limit_next("views.open", retry_after=30)
    else:
        h.slack.refuse_next("views.open", refusal)

    response = await h.interact(click)

    assert response.status_code == 200
    assert [call.error for call in h.slack.calls_to("views.open")] == [refusal]
    [shown] = h.world.hooks.to("shortcut")
    text = json.dumps(shown)
    assert shown["response_type"] == "ephemeral"
    assert "did not open the form" in text and "try again" in text
    assert "Something went wrong" not in text and "Reference" not in text
    if refusal == "ratelimited":
        assert "Slack is busy" in text


async def test_announcement_still_rate_limited_says_slack_is_busy_and_the_incident_exists(
    h: Harness,
) -> None:
    _, view_id = await open_create_from_alert(h)
    h.slack.rate_limit_next("chat.postMessage", retry_after=3, count=3)  # more than the client's 2 retries

    await h.interact(h.view_submission(view_id))

    assert [call.status for call in h.slack.calls_to("chat.postMessage")] == [429, 429, 429]
    [link] = links.for_anomaly(h.snowbot.db, 824)
    shown = json.dumps(h.slack.views[view_id])
    assert "Incident created" in shown
    assert "Slack is busy" in shown and f"{link.ticket_number} exists" in shown
    assert "invite" not in shown


@pytest.mark.parametrize("channel", ["C_GENERAL", "G_PRIVATE"])
async def test_announcement_in_a_channel_snowbot_is_not_in_gives_the_invite_advice(
    h: Harness, channel: str
) -> None:
    h.slack.scopes.discard("chat:write.public")  # not_in_channel for a public channel; private: not found
    alert = h.slack.add_message(
        channel, "", attachments=[qualytics_alert(824)], user=None, bot_id="B0QUALYTICS"
    )
    click = h.message_action(Shortcut.CREATE_INCIDENT, alert)
    click["channel"] = {"id": channel, "name": "elsewhere"}
    await h.interact(click)
    view_id = h.slack.calls_to("views.update")[-1].args["view_id"]

    await h.interact(h.view_submission(view_id))

    [post] = h.slack.calls_to("chat.postMessage")
    assert post.error == ("not_in_channel" if channel == "C_GENERAL" else "channel_not_found")
    shown = json.dumps(h.slack.views[view_id])
    assert "Incident created" in shown and "/invite @snowbot" in shown
