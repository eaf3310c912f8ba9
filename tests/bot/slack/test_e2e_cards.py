"""snowbot's own anomaly card under Qualytics alerts in watched channels (`/snow watch`, App Home), once
per alert whatever Slack retries, and kept current by the sync. Message events are shaped as in
bolt-python's tests/scenario_tests (test_message_bot.py, test_events_ignore_self.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot.slack.ids import ActionId, BlockId
from bot.slack.notifier import SlackNotifier
from bot.sync.wiring import build_engine
from emulators.servicenow import ServiceNowEmulator
from storage import cards, links
from tests.bot.slack.conftest import ALERTS, Harness, qualytics_alert
from tests.conftest import INSTANCE_URL

NIGHTLY_LOAD = "INC0000002"


def post_alert(h: Harness, anomaly_id: int = 824, channel: str = ALERTS) -> dict[str, Any]:
    """Qualytics posts its alert (another app's message)."""
    return h.slack.add_message(
        channel, "", attachments=[qualytics_alert(anomaly_id)], user=None, bot_id="B0QUALYTICS"
    )


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


async def test_a_watched_channel_gets_one_card_per_alert_whatever_slack_retries(h: Harness) -> None:
    await h.command("watch")
    [reply] = h.world.hooks.to("command")
    assert "now posts an anomaly card under each Qualytics alert in <#C_ALERTS>" in reply["text"] + shown(
        reply
    )
    alert = post_alert(h)

    first = await h.event(h.message_event(alert))
    again = await h.event(h.message_event(alert), retry=1)  # Slack saw no answer in time: it sends it again
    await h.event(h.message_event(alert), event_id="Ev0002", retry=2)

    assert (first.status_code, again.status_code) == (200, 200)
    card = h.card_in(ALERTS, alert["ts"])  # exactly one, a reply in the alert's thread
    assert card["thread_ts"] == alert["ts"]
    assert "Anomaly ID: 824" in card["text"] and "Linked tickets:* none yet" in shown(card)
    assert len(h.slack.calls_to("chat.postMessage")) == 1


async def test_only_new_app_alerts_in_watched_channels_get_a_card(h: Harness) -> None:
    await h.command("watch")
    people = h.slack.add_message(ALERTS, "see https://demo.qualytics.io/anomalies/824")  # a person's link
    edited = {**h.message_event(post_alert(h)), "subtype": "message_changed"}
    reply_in_thread = post_alert(h)
    reply_in_thread["thread_ts"] = "1690000000.000001"
    ours = {**h.message_event(post_alert(h)), "bot_id": "B_SNOWBOT"}  # snowbot's own (Bolt skips it too)
    no_anomaly = h.slack.add_message(ALERTS, "Flow finished", user=None, bot_id="B0QUALYTICS")
    elsewhere = post_alert(h, channel="C_GENERAL")  # not watched

    for event in (
        h.message_event(people),
        edited,
        h.message_event(reply_in_thread),
        ours,
        h.message_event(no_anomaly),
        h.message_event(elsewhere),
    ):
        await h.event(event)
    assert h.slack.calls_to("chat.postMessage") == []

    alert = post_alert(h)  # while a new alert from Qualytics does get one
    await h.event(h.message_event(alert))
    assert h.card_in(ALERTS, alert["ts"])["thread_ts"] == alert["ts"]


async def test_watch_and_unwatch_another_channel_by_its_link(h: Harness) -> None:
    await h.command("watch <#C_GENERAL|general>")
    await h.command("watch #general")  # a bare name: Slack did not turn it into a link
    await h.command("unwatch <#C_GENERAL|general>")
    await h.command("unwatch <#C_GENERAL|general>")

    watched, bare, unwatched, not_watched = (r["text"] for r in h.world.hooks.to("command"))
    assert watched == "Watching C_GENERAL for Qualytics alerts"
    assert "#-autocomplete" in bare and "/snow watch [#channel]" in bare
    assert unwatched == "Not watching C_GENERAL"
    assert "was not watching" in shown(h.world.hooks.to("command")[-1])
    assert not_watched == unwatched
    await h.event(h.message_event(post_alert(h, channel="C_GENERAL")))
    assert h.slack.calls_to("chat.postMessage") == []


async def test_the_app_home_lists_watched_channels_and_toggles_them(h: Harness) -> None:
    await h.event({"type": "app_home_opened", "user": "U_JANE", "tab": "home"})
    home_id = h.slack.home_views["U_JANE"]
    picker = next(b for b in h.slack.views[home_id]["blocks"] if b.get("block_id") == BlockId.WATCH_CHANNEL)
    assert picker["accessory"]["type"] == "conversations_select"

    # bolt-js's ConversationsSelectAction: the picked channel is `selected_conversation`
    await h.interact(
        h.block_actions_in_view(
            home_id,
            {
                "type": "conversations_select",
                "action_id": ActionId.WATCH_CHANNEL,
                "block_id": BlockId.WATCH_CHANNEL,
                "selected_conversation": ALERTS,
            },
        )
    )
    home = h.slack.views[home_id]
    assert "<#C_ALERTS>" in shown(home)
    [unwatch] = [
        b["accessory"]
        for b in home["blocks"]
        if b.get("accessory", {}).get("action_id") == ActionId.UNWATCH_CHANNEL
    ]
    assert cards.is_watched(h.snowbot.db, ALERTS)

    await h.interact(h.block_actions_in_view(home_id, {**unwatch, "block_id": "x"}))
    assert not cards.is_watched(h.snowbot.db, ALERTS)
    assert "<#C_ALERTS>" not in shown(h.slack.views[home_id])


async def test_the_sync_updates_the_card_when_its_incident_is_resolved(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    await h.command("watch")
    alert = post_alert(h)
    await h.event(h.message_event(alert))
    linked = await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    notifier = SlackNotifier(h.app.state.slack.client, cards=h.app.state.slack.deps.cards)
    engine = build_engine(h.snowbot.settings, h.snowbot, notifier=notifier)
    await engine.run_pass()  # the link's baseline: the card learns of the incident
    assert f"{NIGHTLY_LOAD}> · " in shown(h.card_in(ALERTS, alert["ts"]))
    async with httpx.AsyncClient(
        transport=sn_emulator.transport(), base_url=INSTANCE_URL, auth=("admin", "admin")
    ) as sn:
        resolved = await sn.patch(
            f"/api/now/table/incident/{linked.incident.sys_id}",
            json={"state": "6", "close_code": "Solution provided", "close_notes": "Reloaded."},
        )
        assert resolved.status_code == 200, resolved.text
    h.slack.reset_log()

    await engine.run_pass()

    [update] = h.slack.calls_to("chat.update")
    card = h.card_in(ALERTS, alert["ts"])
    assert (update.args["channel"], update.args["ts"]) == (ALERTS, card["ts"])  # its own card, edited
    assert f"{NIGHTLY_LOAD}> · Incident · Resolved · changed " in shown(card)
    await engine.run_pass()  # nothing changed: the card is left alone
    assert len(h.slack.calls_to("chat.update")) == 1


async def test_a_card_deleted_in_slack_is_forgotten(h: Harness) -> None:
    await h.command("watch")
    alert = post_alert(h)
    await h.event(h.message_event(alert))
    card = h.card_in(ALERTS, alert["ts"])
    h.slack.messages.remove(card)  # someone deleted it

    await h.app.state.slack.deps.cards.refresh(824)

    assert h.slack.calls_to("chat.update")[-1].error == "message_not_found"
    assert cards.for_anomaly(h.snowbot.db, 824) == []


async def test_a_ticket_closed_in_servicenow_edits_the_card_in_place_with_one_thread_note(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    await h.command("watch")
    alert = post_alert(h)
    await h.event(h.message_event(alert))
    linked = await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    links.set_thread(h.snowbot.db, linked.link.id, ALERTS, alert["ts"])  # the link speaks in that thread
    notifier = SlackNotifier(h.app.state.slack.client, cards=h.app.state.slack.deps.cards)
    engine = build_engine(h.snowbot.settings, h.snowbot, notifier=notifier)
    await engine.run_pass()
    sys_id = linked.incident.sys_id
    sn_emulator.update_as("beth.anglin", sys_id, comments="Reloaded the partition.")
    sn_emulator.update_as(
        "beth.anglin", sys_id, state="6", close_code="Solution provided", close_notes="Reloaded."
    )
    h.slack.reset_log()

    await engine.sync_ticket("incident", sys_id)  # what POST /webhooks/servicenow runs
    await engine.run_pass()  # and the next poll finds nothing more

    card = h.card_in(ALERTS, alert["ts"])
    updates = h.slack.calls_to("chat.update")
    assert updates and all((u.args["channel"], u.args["ts"]) == (ALERTS, card["ts"]) for u in updates)
    assert f"{NIGHTLY_LOAD}> · Incident · Resolved" in shown(card)
    posted = [c.args for c in h.slack.calls_to("chat.postMessage")]
    assert all(p.get("thread_ts") == alert["ts"] for p in posted)
    texts = [p["text"] for p in posted]
    assert [t for t in texts if "is resolved" in t] == [f"{NIGHTLY_LOAD} is resolved (anomaly 824)"]
    assert [t for t in texts if t.startswith("Comment on")] == [
        f"Comment on {NIGHTLY_LOAD} by beth.anglin (anomaly 824)"
    ]
