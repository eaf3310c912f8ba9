"""The shared simulated Slack user against Slack's own code: slack_sdk verifies its signatures, and
slack-bolt's request parsing (`parse_body`, `payload_utils`, `extract_*`) reads each payload as the kind
it claims to be, from the person it names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from slack_bolt.request import payload_utils
from slack_bolt.request.internals import extract_channel_id, extract_team_id, extract_user_id, parse_body
from slack_sdk.signature import SignatureVerifier

from slackuser import SlackUser, qualytics_alert, state_values

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
MESSAGE = {"channel": "C_ALERTS", "ts": "1700000001.000100", "blocks": [{"type": "actions", "elements": [
    {"type": "button", "action_id": "ack", "value": "824"}]}]}  # fmt: skip
VIEW = {
    "id": "V1",
    "callback_id": "form",
    "blocks": [
        {"type": "input", "block_id": "t", "element": {"type": "plain_text_input", "action_id": "t", "initial_value": "hi"}},
        {"type": "input", "block_id": "s", "element": {"type": "static_select", "action_id": "s",
            "options": [{"text": {"type": "plain_text", "text": "One"}, "value": "1"}]}},
        {"type": "input", "block_id": "e", "element": {"type": "external_select", "action_id": "e"}},
        {"type": "input", "block_id": "m", "element": {"type": "multi_external_select", "action_id": "m",
            "initial_options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}]}},
    ],
}  # fmt: skip


class Workspace:
    def __init__(self, *, posted: bool = True) -> None:
        self.views = {"V1": VIEW}
        self.channels: dict[str, dict[str, Any]] = {"C_ALERTS": {"is_private": True}}
        self.posted = posted

    def issue_trigger_id(self) -> str:
        return "1.T0001.00000001"

    def posted_by_app(self, message: Mapping[str, Any]) -> bool:
        return self.posted


def user(**workspace: bool) -> SlackUser:
    return SlackUser(
        signing_secret=SECRET, workspace=Workspace(**workspace), hooks_url="http://127.0.0.1:9/hooks"
    )


def parsed(request: Mapping[str, Any]) -> dict[str, Any]:
    headers = request["headers"]
    body = request["content"].decode()
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    return parse_body(body, headers["Content-Type"])


def test_each_payload_is_what_bolt_reads_it_as() -> None:
    u = user()
    command = parsed(u.request(u.command_body("tickets 824"), "application/x-www-form-urlencoded"))
    shortcut = parsed(u.interaction_request(u.message_action("create", MESSAGE, user="U_BOB")))
    click = parsed(u.interaction_request(u.block_actions_on_message(MESSAGE, {"action_id": "ack"})))
    submission = parsed(u.interaction_request(u.view_submission("V1")))
    suggestion = parsed(u.interaction_request(u.block_suggestion("V1", "e", "e", "da")))
    event = parsed(
        u.request(u.event_body(u.message_event({**MESSAGE, "type": "message"})), "application/json")
    )

    assert payload_utils.is_slash_command(command) and command["response_url"].endswith("/hooks/command")
    assert payload_utils.is_message_shortcut(shortcut) and extract_user_id(shortcut) == "U_BOB"
    assert payload_utils.is_block_actions(click) and extract_channel_id(click) == "C_ALERTS"
    assert payload_utils.is_view_submission(submission) and extract_user_id(submission) == "U_JANE"
    assert payload_utils.is_block_suggestion(suggestion)
    assert payload_utils.is_message_event(event) and event["event"]["channel_type"] == "group"
    assert {extract_team_id(p) for p in (command, shortcut, click, submission, suggestion, event)} == {
        "T0001"
    }


def test_a_stale_timestamp_is_signed_as_given_and_slack_sdk_refuses_it() -> None:
    request = user().request("{}", "application/json", timestamp=1_000_000_000)
    headers = request["headers"]
    assert headers["X-Slack-Request-Timestamp"] == "1000000000"
    assert not SignatureVerifier(SECRET).is_valid(
        "{}", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


def test_view_state_carries_what_was_entered_else_the_initial_values() -> None:
    untouched = state_values(VIEW, {})
    entered = state_values(VIEW, {"t": "typed", "s": "1", "e": ("g1", "Data Quality"), "m": [("b", "B")]})

    assert untouched["t"]["t"]["value"] == "hi" and untouched["s"]["s"]["selected_option"] is None
    assert untouched["m"]["m"]["selected_options"] == VIEW["blocks"][3]["element"]["initial_options"]
    assert entered["t"]["t"]["value"] == "typed"
    assert entered["s"]["s"]["selected_option"]["value"] == "1"
    assert entered["e"]["e"]["selected_option"]["value"] == "g1"
    assert [o["value"] for o in entered["m"]["m"]["selected_options"]] == ["b"]


def test_clicks_only_on_the_apps_own_messages_and_their_buttons() -> None:
    with pytest.raises(ValueError, match="did not post"):
        user(posted=False).block_actions_on_message(MESSAGE, {"action_id": "ack"})
    with pytest.raises(ValueError, match="not on that message"):
        user().block_actions_on_message(MESSAGE, {"action_id": "other"})
    ephemeral = user(posted=False).block_actions_on_message(MESSAGE, {"action_id": "x"}, ephemeral=True)
    assert "message" not in ephemeral


def test_the_qualytics_alert_names_the_anomaly_only_by_its_button() -> None:
    alert = qualytics_alert(
        anomaly_url="https://q.example/datastores/23/anomalies?id=824",
        datastore_url="https://q.example/datastores/23",
        datastore="Sales Warehouse",
        container="orders_daily",
        checks="17 records failed",
    )
    [button] = alert["blocks"][1]["elements"]
    assert button["url"].endswith("?id=824") and "824" not in alert["blocks"][0]["text"]["text"]
