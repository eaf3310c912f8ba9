"""Chat-ops buttons on snowbot's anomaly card (Acknowledge, Archive, Comment) and the sync they start,
and the sync notifier's note in the anomaly's thread when its incident is closed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from bot.slack.ids import ActionId, BlockId, ViewId
from bot.slack.notifier import SlackNotifier, slack_notifier
from bot.sync.wiring import build_engine
from bot.usecases import SlackContext
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from tests.bot.slack.conftest import ALERTS, Harness, qualytics_alert
from tests.conftest import INSTANCE_URL

NIGHTLY_LOAD = "INC0000002"


class RecordingEngine:
    """Records the syncs the use cases ask the composed engine for (in place of running them)."""

    def __init__(self, h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        assert h.process is not None and h.process.engine is not None
        self.engine = h.process.engine
        self.synced: list[list[int]] = []
        monkeypatch.setattr(self.engine, "sync_anomalies", self.sync_anomalies)

    @property
    def notifier(self) -> Any:
        return self.engine.notifier

    async def sync_anomalies(self, anomaly_ids: Iterable[int]) -> None:
        self.synced.append(list(anomaly_ids))


async def our_card(h: Harness, anomaly_id: int = 824) -> dict[str, Any]:
    """The anomaly card snowbot really posts: #dq-alerts is watched, Qualytics posts its alert there,
    and the card is snowbot's reply in the alert's thread."""
    await h.command("watch")
    alert = h.slack.add_message(
        ALERTS, "", attachments=[qualytics_alert(anomaly_id)], user=None, bot_id="B0QUALYTICS"
    )
    await h.event(h.message_event(alert))
    h.slack.reset_log()
    return h.card_in(ALERTS, alert["ts"])


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    actions = next(b for b in message["blocks"] if b.get("block_id") == BlockId.ANOMALY_ACTIONS)
    element = next(e for e in actions["elements"] if e["action_id"] == action_id)
    return {**element, "block_id": BlockId.ANOMALY_ACTIONS}


async def test_acknowledge_changes_qualytics_refreshes_the_message_and_asks_for_a_sync(
    h: Harness, q_emulator: QualyticsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RecordingEngine(h, monkeypatch)
    alert = await our_card(h)

    response = await h.interact(h.block_actions_on_message(alert, button(alert, ActionId.ACKNOWLEDGE)))

    assert response.status_code == 200
    assert q_emulator.anomalies[824]["status"] == "Acknowledged"
    [update] = h.slack.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (ALERTS, alert["ts"])
    assert "(Acknowledged)" in update.args["text"]
    assert ActionId.ACKNOWLEDGE not in json.dumps(update.args["blocks"])
    assert engine.synced == [[824]]
    assert isinstance(engine.notifier, SlackNotifier)  # the composed engine has Slack's notifier


async def test_archive_opens_a_modal_and_archives_with_the_chosen_status(
    h: Harness, q_emulator: QualyticsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RecordingEngine(h, monkeypatch)
    alert = await our_card(h, 825)

    await h.interact(h.block_actions_on_message(alert, button(alert, ActionId.ARCHIVE)))
    view = h.last_view()
    assert view["callback_id"] == ViewId.ARCHIVE
    await h.interact(h.view_submission(view["id"], {BlockId.ARCHIVE_STATUS: "Duplicate"}))

    assert (q_emulator.anomalies[825]["status"], q_emulator.anomalies[825]["archived"]) == ("Duplicate", True)
    assert "Anomaly 825 archived as Duplicate." in json.dumps(h.slack.views[view["id"]])
    assert "(Duplicate)" in h.slack.calls_to("chat.update")[-1].args["text"]
    assert engine.synced == [[825]]


async def test_comment_is_added_as_the_slack_user(
    h: Harness, q_emulator: QualyticsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    RecordingEngine(h, monkeypatch)
    alert = await our_card(h)

    await h.interact(h.block_actions_on_message(alert, button(alert, ActionId.COMMENT)))
    view = h.last_view()
    empty = await h.interact(h.view_submission(view["id"], {BlockId.COMMENT: "  "}))
    assert list(empty.json()["errors"]) == [BlockId.COMMENT]
    await h.interact(h.view_submission(view["id"], {BlockId.COMMENT: "The 02:00 load ran twice."}))

    last = q_emulator.anomalies[824]["comments"][-1]
    assert last["message"] == "Jane Doe via Slack: The 02:00 load ran twice."
    assert "Comment added to anomaly 824." in json.dumps(h.slack.views[view["id"]])


async def test_a_refused_change_is_explained_in_the_modal(h: Harness, q_emulator: QualyticsEmulator) -> None:
    alert = await our_card(h, 828)  # archived (Discarded): Qualytics takes no comments on it

    await h.interact(h.block_actions_on_message(alert, button(alert, ActionId.COMMENT)))
    view = h.last_view()
    await h.interact(h.view_submission(view["id"], {BlockId.COMMENT: "hello"}))

    shown = json.dumps(h.slack.views[view["id"]])
    assert "comments cannot be added" in shown and "Reference" not in shown


async def test_acknowledge_reaches_servicenow_at_once_through_the_sync(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    linked = await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    alert = await our_card(h)

    await h.interact(h.block_actions_on_message(alert, button(alert, ActionId.ACKNOWLEDGE)))

    notes = [entry["value"] for entry in sn_emulator.journal(linked.incident.sys_id)]
    assert any("Qualytics Anomaly Status: Acknowledged" in note for note in notes)


async def test_the_notifier_posts_once_in_the_thread_when_the_incident_is_resolved(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    alert = h.slack.add_message(ALERTS, "Anomaly ID: 824")
    linked = await h.snowbot.link_existing_ticket(
        824, NIGHTLY_LOAD, "test", SlackContext(ALERTS, alert["ts"])
    )
    notifier = slack_notifier(h.snowbot.settings)
    assert isinstance(notifier, SlackNotifier)
    engine = build_engine(h.snowbot.settings, h.snowbot, notifier=notifier)
    async with httpx.AsyncClient(
        transport=sn_emulator.transport(), base_url=INSTANCE_URL, auth=("admin", "admin")
    ) as sn:
        resolved = await sn.patch(
            f"/api/now/table/incident/{linked.incident.sys_id}",
            json={"state": "6", "close_code": "Solution provided", "close_notes": "Reloaded the partition."},
        )
        assert resolved.status_code == 200, resolved.text

    await engine.run_pass()
    await engine.run_pass()

    [post] = h.slack.calls_to("chat.postMessage")
    assert (post.args["channel"], post.args["thread_ts"]) == (ALERTS, alert["ts"])
    assert post.args["text"] == f"{NIGHTLY_LOAD} is resolved (anomaly 824)"
    assert "Reloaded the partition." in json.dumps(post.args["blocks"])


def test_no_notifier_without_a_bot_token(make_settings: Any) -> None:
    assert slack_notifier(make_settings(slack_bot_token=None)) is None
