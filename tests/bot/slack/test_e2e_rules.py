"""`/snow rules` end to end: add a rule through its modal (saved disabled), enable it only after its dry
run, the ticket a rule creates announced with the anomaly card in the rule's channel, and a rule the rate
guard paused saying so in its channel and on the App Home."""

from __future__ import annotations

import json

from bot.slack.ids import ActionId, BlockId, ViewId
from emulators.qualytics import QualyticsEmulator
from tests.bot.rules.conftest import new_anomaly, spec
from tests.bot.slack.conftest import ALERTS, Harness


async def test_an_admin_adds_a_rule_in_the_modal_and_enables_it_after_its_dry_run(
    h: Harness, q_emulator: QualyticsEmulator
) -> None:
    await h.command("rules add", user="U_ADMIN")
    await h.settle()
    assert len(h.slack.calls_to("views.open")) == 1
    view_id = h.last_view()["id"]
    assert h.slack.views[view_id]["callback_id"] == ViewId.RULE_ADD

    bad = await h.interact(
        h.view_submission(
            view_id, {BlockId.RULE_NAME: "Severe", BlockId.RULE_SHORT_DESCRIPTION: "{nope}"}, user="U_ADMIN"
        )
    )
    answer = bad.json()
    assert (
        answer["response_action"] == "errors"
        and "Unknown field {nope}" in answer["errors"][BlockId.RULE_SHORT_DESCRIPTION]
    )
    assert await h.snowbot.list_rules() == []

    entered = {
        BlockId.RULE_NAME: "Severe sales anomalies",
        BlockId.RULE_MATCH: "datastore=23 min_weight=40",
        BlockId.RULE_CHANNEL: ALERTS,
    }
    await h.interact(h.view_submission(view_id, entered, user="U_ADMIN"))
    await h.settle()
    [rule] = await h.snowbot.list_rules()
    assert (rule.name, rule.enabled, rule.match) == (
        "Severe sales anomalies",
        False,
        {"datastore": 23, "min_weight": 40},
    )
    assert rule.channel_id == ALERTS and rule.created_by == "admin via Slack"

    new_anomaly(q_emulator, 900)
    await h.command(f"rules enable {rule.id}", user="U_ADMIN")
    await h.settle()
    dry_run = h.world.hooks.to("command")[-1]
    assert "tickets would be created" in dry_run["text"] and "900: would create" in json.dumps(dry_run)
    assert not (await h.snowbot.get_rule(rule.id)).enabled  # shown, not enabled yet
    message = {"ts": "1700000500.000100", "channel": ALERTS, **dry_run}
    click = {
        "type": "button",
        "action_id": ActionId.RULE_ENABLE,
        "value": str(rule.id),
        "block_id": BlockId.RULE_ACTIONS,
    }
    await h.interact(h.block_actions_on_message(message, click, user="U_ADMIN", ephemeral=True))
    await h.settle()
    assert (await h.snowbot.get_rule(rule.id)).enabled
    assert [c.action for c in await h.snowbot.rule_changes(rule.id)] == ["created", "enabled"]


async def test_people_who_are_not_admins_may_list_but_not_add(h: Harness) -> None:
    await h.command("rules add", user="U_JANE")
    await h.settle()
    assert "manage creation rules" in h.world.hooks.to("command")[-1]["text"]
    assert not h.slack.calls_to("views.open")
    await h.command("rules", user="U_JANE")
    await h.settle()
    assert "No creation rules yet" in h.world.hooks.to("command")[-1]["text"]


async def test_a_rule_posts_the_card_in_its_channel_and_says_when_it_pauses(
    h: Harness, q_emulator: QualyticsEmulator
) -> None:
    rule = await h.snowbot.create_rule(spec(channel_id=ALERTS, max_per_hour=2), actor="U_ADMIN")
    await h.snowbot.poll_new_anomalies()
    for n in range(3):
        new_anomaly(q_emulator, 900 + n)
    assert await h.snowbot.poll_new_anomalies() == {"created": 2, "paused": 1}

    posted = h.slack.messages_in(ALERTS)
    created = [m for m in posted if "created and linked to anomaly" in m["text"]]
    assert [m["text"].split(" ")[-1] for m in created] == ["900", "901"]
    for message in created:
        [card] = h.cards_in(ALERTS, message["ts"])
        assert "Anomaly ID: " in card["text"]
    [paused] = [m for m in posted if "paused itself" in m["text"]]
    assert f"Creation rule {rule.id}" in paused["text"]

    await h.event(
        {"type": "app_home_opened", "user": "U_JANE", "channel": "D_JANE", "tab": "home", "event_ts": "1.1"}
    )
    home = json.dumps(h.slack.views[h.slack.home_views["U_JANE"]])
    assert "Creation rules" in home and "paused" in home and "more than 2 tickets in an hour" in home
