"""Unfurls: the compact cards `chat.unfurl` attaches under a pasted Qualytics anomaly or ServiceNow ticket
link (each `{"blocks": [...]}`, one per URL in chat.unfurl's `unfurls` map).

An anomaly's card shows its status and its tickets with their states; a ticket's its number, kind,
state, assignee and linked anomalies. Their buttons are link buttons only ("View in Qualytics", "View"):
those work wherever the card is, since the client opens the URL itself (the click only needs an ack,
which the existing `VIEW_ANOMALY` and `VIEW_TICKET` listeners give). The anomaly card's chat-ops buttons
(Acknowledge, Archive, Comment, Create, Link) are left out: an unfurl is an attachment of the person's
message, which chat.update refuses (cant_update_message); only another chat.unfurl for the same message
changes it (chat.unfurl's docs: "Subsequent attempts with the same ts and channel values will modify
the same attachments"), and those listeners keep snowbot's own cards current with chat.update
(`bot.slack.cards`), so after a click the unfurl would go on showing the state from before. They stay
on snowbot's anomaly card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks.inputs import AnomalySummary, LinkLike
from bot.slack.blocks.primitives import (
    MAX_TEXT,
    Block,
    actions,
    bullet_lines,
    button,
    escape,
    fields_section,
    link,
    section,
    truncate,
)
from bot.slack.ids import ActionId

Unfurl = dict[str, Any]


@dataclass(frozen=True)
class TicketUnfurl:
    """What a ticket's unfurl shows (flattened from a ServiceNow ticket and its links)."""

    number: str
    kind: str
    """The kind's label (`Incident`)."""
    state: str
    url: str
    short_description: str = ""
    assignee: str | None = None
    anomalies: Sequence[tuple[int, str]] = ()
    """Its linked anomalies: (id, URL in Qualytics; "" when unknown)."""


def anomaly_unfurl(anomaly: AnomalySummary, url: str, tickets: Sequence[LinkLike] = ()) -> Unfurl:
    where = f" in {escape(anomaly.container)}" if anomaly.container else ""
    title = f"*{link(url, f'Anomaly {anomaly.id}')}* · {escape(anomaly.type.capitalize())} anomaly{where}"
    fields = [f"*Status:* {escape(anomaly.status)}"]
    if anomaly.datastore:
        fields.append(f"*Datastore:* {escape(anomaly.datastore)}")
    if tickets:
        lines = [
            f"• {link(row.url, row.ticket_number)} · {escape(row.status or 'unknown state')}"
            for row in tickets
        ]
        linked = "*Tickets*\n" + bullet_lines(lines, limit=MAX_TEXT - 20, max_lines=5)
    else:
        linked = "*Tickets:* none yet"
    blocks: list[Block] = [
        section(truncate(title, MAX_TEXT)),
        fields_section(fields),
        section(linked),
        actions([button("View in Qualytics", ActionId.VIEW_ANOMALY, url=url, value=str(anomaly.id))]),
    ]
    return {"blocks": blocks}


def ticket_unfurl(ticket: TicketUnfurl) -> Unfurl:
    title = f"*{link(ticket.url, ticket.number)}* · {escape(ticket.kind)}"
    if ticket.short_description:
        title += f" · {escape(ticket.short_description)}"
    fields = [f"*State:* {escape(ticket.state)}", f"*Assigned to:* {escape(ticket.assignee or 'nobody')}"]
    if ticket.anomalies:
        lines = [f"• {link(url or None, f'Anomaly {anomaly_id}')}" for anomaly_id, url in ticket.anomalies]
        linked = "*Anomalies*\n" + bullet_lines(lines, limit=MAX_TEXT - 20, max_lines=5)
    else:
        linked = "*Anomalies:* none linked by snowbot"
    blocks: list[Block] = [
        section(truncate(title, MAX_TEXT)),
        fields_section(fields),
        section(linked),
        actions([button("View", ActionId.VIEW_TICKET, url=ticket.url, value=ticket.number)]),
    ]
    return {"blocks": blocks}
