"""Messages: keyword arguments for chat.postMessage / postEphemeral / update and `respond` (help, errors,
ticket lists and search results, link outcomes, the watch answers, the closed-incident note and
snowbot's anomaly card)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from bot.slack.blocks.inputs import AnomalySummary, IncidentLike, LinkLike
from bot.slack.blocks.primitives import (
    MAX_MESSAGE_BLOCKS,
    MAX_TEXT,
    Block,
    Message,
    actions,
    and_more,
    bullet_lines,
    button,
    confirm_dialog,
    context,
    escape,
    fields_section,
    fit_groups,
    header,
    link,
    message,
    section,
    slack_date,
    truncate,
)
from bot.slack.ids import SHORTCUT_NAMES, ActionId, BlockId, Command, Shortcut, Subcommand
from servicenow.kinds import KINDS

SUBCOMMAND_USAGE: dict[Subcommand, tuple[str, str]] = {
    Subcommand.CREATE: (
        "<anomaly id or Qualytics anomaly URL> [--kind incident|problem|defect|enhancement] [--instance <name>]",
        "create a ServiceNow ticket (an incident unless --kind says otherwise) for an anomaly (in that "
        "instance, when several are connected)",
    ),
    Subcommand.LINK: (
        f"<anomaly> [{'|'.join(kind.number_prefix for kind in KINDS.values())} number...] [--instance <name>]",
        "link existing tickets (without numbers: search for them)",
    ),
    Subcommand.TICKETS: ("<anomaly>", "list the tickets linked to an anomaly"),
    Subcommand.SEARCH: (
        "<text> [--instance <name>]",
        "search tickets of every kind by number or short description",
    ),
    Subcommand.CONNECT: ("", "connect snowbot to your ServiceNow instance (admins)"),
    Subcommand.STATUS: ("", "integration status, recent links and sync health"),
    Subcommand.WATCH: (
        "[#channel]",
        "post an anomaly card under each Qualytics alert in a channel (default: here)",
    ),
    Subcommand.UNWATCH: ("[#channel]", "stop posting anomaly cards under the alerts in a channel"),
    Subcommand.RULES: (
        "[add | dry-run <id> [N] | enable <id> | disable <id>]",
        "creation rules: tickets made for new anomalies without a click",
    ),
    Subcommand.HELP: ("", "show this help"),
}


def usage(sub: Subcommand) -> str:
    args, _ = SUBCOMMAND_USAGE[sub]
    return f"{Command.SNOW} {sub} {args}".rstrip()


def help_message(note: str | None = None) -> Message:
    """The `/snow` commands; `note` (e.g. "I don't know `foo`.") comes first when given."""
    lines = [f"`{usage(sub)}` — {desc}" for sub, (_, desc) in SUBCOMMAND_USAGE.items()]
    noted = [section(f":grey_question: {note}")] if note else []
    return message(
        (f"{note} " if note else "")
        + f"{Command.SNOW} commands: "
        + ", ".join(str(s) for s in SUBCOMMAND_USAGE),
        [
            *noted,
            header("ServiceNow incidents for Qualytics anomalies"),
            section("\n".join(lines)),
            context(
                f"On a Qualytics alert, use the message shortcuts *{SHORTCUT_NAMES[Shortcut.CREATE_INCIDENT]}* "
                f"or *{SHORTCUT_NAMES[Shortcut.LINK_INCIDENT]}* (the ⋮ menu on the message)."
            ),
        ],
    )


def error_message(text: str, reference: str | None = None) -> Message:
    blocks = [section(f":warning: {escape(text)}")]
    if reference:
        blocks.append(
            context(f"Reference `{escape(reference)}` — share it with your admin if this keeps happening.")
        )
    return message(escape(text), blocks)


def ticket_created_message(number: str, url: str, anomaly_id: int) -> Message:
    text = f"{number} created and linked to anomaly {anomaly_id}"
    return message(
        text,
        [
            section(
                f":white_check_mark: *{link(url, number)}* created and linked to anomaly {anomaly_id}",
                accessory=button("View", ActionId.VIEW_TICKET, url=url, value=number),
            )
        ],
    )


def tickets_linked_message(tickets: Sequence[tuple[str, str]], anomaly_id: int) -> Message:
    """tickets are (number, url)."""
    numbers = ", ".join(number for number, _ in tickets)
    links = ", ".join(f"*{link(url, number)}*" for number, url in tickets)
    verb = "is" if len(tickets) == 1 else "are"
    return message(
        f"{numbers} linked to anomaly {anomaly_id}",
        [section(f":link: {links} {verb} now linked to anomaly {anomaly_id}")],
    )


def watch_message(channel_id: str, *, watching: bool, changed: bool) -> Message:
    """The answer to `/snow watch` / `/snow unwatch` (`changed`: False when nothing had to change)."""
    where = f"<#{escape(channel_id)}>"
    if watching:
        head = (
            f":eyes: snowbot now posts an anomaly card under each Qualytics alert in {where}."
            if changed
            else f"snowbot already posts anomaly cards under the Qualytics alerts in {where}."
        )
        note = (
            "Slack only sends snowbot the messages of channels it is a member of: invite it there with "
            f"`/invite @snowbot` if it is not yet. `{Command.SNOW} {Subcommand.UNWATCH}` stops the cards."
        )
        return message(f"Watching {channel_id} for Qualytics alerts", [section(head), context(note)])
    head = (
        f"snowbot no longer posts anomaly cards in {where}; the cards already posted keep working."
        if changed
        else f"snowbot was not watching {where}."
    )
    return message(f"Not watching {channel_id}", [section(head)])


def _link_id_value(link_row: LinkLike) -> str:
    return str(link_row.id)


NO_INSTANCES: Mapping[int, str] = MappingProxyType({})
"""One instance: no ticket names its instance."""


def _instance_of(link_row: LinkLike, instances: Mapping[int, str]) -> str:
    """ " · dev-b" naming the link's instance when several are connected (`instances` non-empty)."""
    name = instances.get(link_row.integration_id)
    return f" · {escape(name)}" if name else ""


def ticket_summary(
    link_row: LinkLike, *, now: datetime | None = None, instances: Mapping[int, str] = NO_INSTANCES
) -> str:
    """One linked ticket as people read it: its number (linked), its instance when several are connected,
    kind, state and last change in ServiceNow ("INC0010001 · Incident · In Progress · changed <date>")."""
    known = KINDS.get(link_row.ticket_kind)
    kind = known.label if known else link_row.ticket_kind
    state = escape(link_row.status) if link_row.status else "unknown state"
    where = _instance_of(link_row, instances)
    text = f"{link(link_row.url, link_row.ticket_number)}{where} · {escape(kind)} · {state}"
    if link_row.ticket_updated_at:
        text += f" · changed {slack_date(link_row.ticket_updated_at, now=now)}"
    return text


def _ticket_group(
    link_row: LinkLike,
    anomaly_id: int,
    now: datetime | None,
    value: Callable[[LinkLike], str] = _link_id_value,
    instances: Mapping[int, str] = NO_INSTANCES,
) -> list[Block]:
    synced = slack_date(link_row.last_synced_at, now=now) if link_row.last_synced_at else "not synced yet"
    if link_row.anomaly_deleted_at:
        synced += f"\nThe anomaly was deleted in Qualytics {slack_date(link_row.anomaly_deleted_at, now=now)}: no longer synced"
    return [
        section(f"{ticket_summary(link_row, now=now, instances=instances)}\nLast synced {synced}"),
        actions(
            [
                button("View", ActionId.VIEW_TICKET, url=link_row.url, value=link_row.ticket_number),
                button(
                    "Unlink",
                    ActionId.UNLINK_TICKET,
                    value=value(link_row),
                    style="danger",
                    confirm=confirm_dialog(
                        "Unlink incident?",
                        f"{escape(link_row.ticket_number)} stays in ServiceNow; snowbot stops syncing "
                        f"anomaly {anomaly_id} to it.",
                        confirm="Unlink",
                    ),
                ),
            ]
        ),
    ]


def tickets_message(
    anomaly_id: int,
    links: Sequence[LinkLike],
    *,
    now: datetime | None = None,
    unlink: Callable[[LinkLike], str] = _link_id_value,
    instances: Mapping[int, str] = NO_INSTANCES,
) -> Message:
    """The anomaly's tickets (each one's kind, state and last change) with View and Unlink buttons;
    `unlink` makes each Unlink button's value (the link id by default, `unlink_value` to name the
    anomaly too); `instances` names each one's ServiceNow instance (by integration id; given only when
    there are several)."""
    if not links:
        return message(
            f"No tickets are linked to anomaly {anomaly_id} yet.",
            [
                section(f"No tickets are linked to anomaly *{anomaly_id}* yet."),
                context(
                    f"`{Command.SNOW} {Subcommand.CREATE} {anomaly_id}` creates one, "
                    f"`{Command.SNOW} {Subcommand.LINK} {anomaly_id}` links an existing one."
                ),
            ],
        )
    noun = "ticket" if len(links) == 1 else "tickets"
    head = section(f"*{len(links)} {noun} linked to anomaly {anomaly_id}*")
    groups = [_ticket_group(row, anomaly_id, now, unlink, instances) for row in links]
    return message(
        f"{len(links)} {noun} linked to anomaly {anomaly_id}",
        [head, *fit_groups(groups, MAX_MESSAGE_BLOCKS - 1, and_more("tickets"))],
    )


def search_results_message(query: str, items: Sequence[IncidentLike], total: int) -> Message:
    """Incidents matching `query`; `total` is the match count on the server (may exceed `items`)."""
    total = max(total, len(items))
    if not items:
        return message(f'No incidents match "{query}".', [section(f"No incidents match _{escape(query)}_.")])
    noun = "incident matches" if total == 1 else "incidents match"
    beyond = total - len(items)
    groups = [
        [
            section(
                f"*{link(item.url, item.number)}* · {escape(item.state_label or 'unknown state')}\n"
                f"{escape(item.short_description or '')}",
                accessory=button("View", ActionId.VIEW_TICKET, url=item.url, value=item.number),
            )
        ]
        for item in items
    ]

    def more(n: int) -> Block:
        return context(f"_and {n} more — refine the search to narrow it down_")

    budget = MAX_MESSAGE_BLOCKS - 1 - (1 if beyond else 0)
    fitted = fit_groups(groups, budget, lambda n: more(n + beyond))
    shown = sum(1 for block in fitted if block["type"] == "section")
    if beyond and shown == len(items):
        fitted.append(more(beyond))
    return message(f'{total} {noun} "{query}"', [section(f"*{total} {noun}* _{escape(query)}_"), *fitted])


def link_results_message(
    anomaly_id: int, linked: Sequence[tuple[str, str]], problems: Sequence[str] = ()
) -> Message:
    """The outcome of linking several incidents: linked ones are (number, url), `problems` one line each
    (e.g. "INC0010006 is already linked to anomaly 824.")."""
    blocks: list[Block] = []
    if linked:
        blocks += tickets_linked_message(linked, anomaly_id)["blocks"]
    if problems:
        blocks.append(section(bullet_lines([f":warning: {escape(p)}" for p in problems], limit=MAX_TEXT)))
    numbers = ", ".join(number for number, _ in linked)
    text = (
        f"{numbers} linked to anomaly {anomaly_id}"
        if linked
        else f"Nothing was linked to anomaly {anomaly_id}"
    )
    if problems:
        text += f" ({len(problems)} not linked)"
    return message(text, blocks or [section(escape(text))])


CLOSED_ICONS = {"Resolved": ":white_check_mark:", "Closed": ":lock:", "Canceled": ":no_entry_sign:"}


def incident_closed_message(
    number: str, url: str, state: str, anomaly_id: int, close_notes: str | None = None
) -> Message:
    """The thread note the sync posts once when a linked incident is Resolved, Closed or Canceled."""
    text = f"{number} is {state.lower()} (anomaly {anomaly_id})"
    icon = CLOSED_ICONS.get(state, ":information_source:")
    blocks = [
        section(
            f"{icon} *{link(url, number)}* is now *{escape(state)}* in ServiceNow (anomaly {anomaly_id}).",
            accessory=button("View", ActionId.VIEW_TICKET, url=url, value=number),
        )
    ]
    if close_notes and close_notes.strip():
        blocks.append(context(f"Close notes: {escape(truncate(close_notes.strip(), 2000))}"))
    return message(text, blocks)


def ticket_note_message(number: str, url: str, label: str, who: str, text: str, anomaly_id: int) -> Message:
    """A work note or comment a person wrote on a linked ticket in ServiceNow, told in the anomaly's thread."""
    summary = f"{label} on {number} by {who} (anomaly {anomaly_id})"
    blocks = [
        section(
            f":speech_balloon: {escape(label)} on *{link(url, number)}* by {escape(who)} in ServiceNow:",
            accessory=button("View", ActionId.VIEW_TICKET, url=url, value=number),
        ),
        section(escape(truncate(text.strip() or "(empty)", 2900))),
    ]
    return message(summary, blocks)


def _tickets_text(
    tickets: Sequence[LinkLike], instances: Mapping[int, str] = NO_INSTANCES, now: datetime | None = None
) -> str:
    if not tickets:
        return "*Linked tickets:* none yet"
    lines = [f"• {ticket_summary(row, now=now, instances=instances)}" for row in tickets]
    return "*Linked tickets*\n" + bullet_lines(lines, limit=MAX_TEXT - 20)


def anomaly_alert_message(
    anomaly: AnomalySummary,
    url: str,
    tickets: Sequence[LinkLike] = (),
    instances: Mapping[int, str] = NO_INSTANCES,
    *,
    occurrences: Sequence[int] = (),
) -> Message:
    """snowbot's anomaly card: the anomaly, its linked tickets (kind, state, last change; and instances,
    when `instances` names several), how often it recurred (`occurrences`), and the chat-ops
    buttons (Slack sends an app the clicks on its own messages only, so they live here). It says
    "Anomaly ID: <id>" so the message shortcuts (bot.slack.anomaly_ref) find the anomaly in it."""
    where = f" in {anomaly.container}" if anomaly.container else ""
    value = str(anomaly.id)
    fields = [
        f"*Anomaly ID:* {anomaly.id}",
        f"*Status:* {escape(anomaly.status)}",
        f"*Type:* {escape(anomaly.type)}",
    ]
    if anomaly.container:
        fields.append(f"*Container:* {escape(anomaly.container)}")
    if anomaly.datastore:
        fields.append(f"*Datastore:* {escape(anomaly.datastore)}")
    if anomaly.weight is not None:
        fields.append(f"*Severity:* {anomaly.weight}")
    blocks: list[Block] = [header(f"{anomaly.type.capitalize()} anomaly{where}"), fields_section(fields)]
    if anomaly.failed_checks:
        checks = bullet_lines([f"• {escape(c)}" for c in anomaly.failed_checks], limit=MAX_TEXT - 20)
        blocks.append(section(f"*Failed checks*\n{checks}"))
    elif anomaly.description:
        blocks.append(section(escape(anomaly.description)))
    blocks.append(section(_tickets_text(tickets, instances)))
    if len(occurrences) > 1:  # a recurrence group (bot.usecases.recurrence)
        shown = ", ".join(str(i) for i in occurrences[:10]) + (", …" if len(occurrences) > 10 else "")
        blocks.append(context(f":repeat: Occurred {len(occurrences)} times (anomalies {shown})"))
    buttons = []
    if anomaly.status == "Active":
        buttons.append(button("Acknowledge", ActionId.ACKNOWLEDGE, value=value))
    buttons += [
        button("Archive", ActionId.ARCHIVE, value=value),
        button("Comment", ActionId.COMMENT, value=value),
        button("Create incident", ActionId.OPEN_CREATE_MODAL, value=value, style="primary"),
        button("Link incident", ActionId.OPEN_LINK_MODAL, value=value),
        button("View in Qualytics", ActionId.VIEW_ANOMALY, url=url, value=value),
    ]
    blocks.append(actions(buttons, block_id=BlockId.ANOMALY_ACTIONS))
    text = f"Anomaly ID: {anomaly.id} — {anomaly.type} anomaly{where} ({anomaly.status})"
    return message(text, blocks)
