"""The unfurl builders: pure, within Slack's limits (slack_sdk's Block Kit models judge each block), link
buttons only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.slack import blocks
from bot.slack.ids import ActionId


@dataclass
class Row:
    id: int
    anomaly_id: int
    ticket_number: str
    status: str
    url: str
    last_synced_at: datetime | None = None


def valid(unfurl: dict[str, Any]) -> str:
    assert set(unfurl) == {"blocks"}
    for block in unfurl["blocks"]:
        Block.parse(block).validate_json()
    return json.dumps(unfurl["blocks"], ensure_ascii=False)


def action_ids(unfurl: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in unfurl["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_an_anomaly_card_lists_a_few_tickets_then_how_many_more() -> None:
    rows = [Row(n, 824, f"INC{n:07d}", "New", f"https://i.example/{n}") for n in range(1, 9)]
    summary = blocks.AnomalySummary(id=824, type="record", status="Acknowledged", container="orders <daily>")

    unfurl = blocks.anomaly_unfurl(summary, "https://acme.qualytics.io/anomalies/824", rows)

    text = valid(unfurl)
    assert "*Status:* Acknowledged" in text and "orders &lt;daily&gt;" in text
    assert "INC0000005" in text and "INC0000006" not in text and "_and 3 more_" in text
    assert action_ids(unfurl) == [ActionId.VIEW_ANOMALY]  # no chat-ops buttons on someone else's message


def test_a_ticket_card_shows_state_assignee_and_anomalies() -> None:
    ticket = blocks.TicketUnfurl(
        number="PRB0040001",
        kind="Problem",
        state="Assess",
        url="https://dev1.service-now.com/nav_to.do?uri=problem.do?sys_id=1",
        short_description="x" * 5000,
        anomalies=[(824, "https://acme.qualytics.io/anomalies/824"), (825, "")],
    )

    unfurl = blocks.ticket_unfurl(ticket)

    text = valid(unfurl)
    assert "*State:* Assess" in text and "*Assigned to:* nobody" in text and "Problem" in text
    assert "<https://acme.qualytics.io/anomalies/824|Anomaly 824>" in text and "• Anomaly 825" in text
    assert action_ids(unfurl) == [ActionId.VIEW_TICKET]


def test_a_ticket_with_no_anomalies_says_so() -> None:
    unfurl = blocks.ticket_unfurl(blocks.TicketUnfurl("INC0010001", "Incident", "New", "https://i.example/1"))
    assert "*Anomalies:* none linked by snowbot" in valid(unfurl)
