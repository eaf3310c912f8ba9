"""Block Kit builders: pure functions from data to the dicts Slack expects.

No client, database or clock in here — a builder takes plain values (or the small dataclasses and
protocols below, which storage's `Link` and servicenow's `Incident` satisfy as they are) and returns a
view (`{"type": "modal", ...}`) or message kwargs (`{"text": ..., "blocks": [...]}` for
`chat.postMessage`, `chat.postEphemeral`, `respond`). Every id comes from `bot.slack.ids`.

The builders keep Slack's limits (docs.slack.dev Block Kit reference, slack_sdk validators): 24-char
view titles, 50 blocks per message and 100 per view, 75/150-char option text/value, 3000-char
plain_text_input values and private_metadata. Long lists end with an "and N more" line instead of
being rejected by Slack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.models import SHORT_DESCRIPTION_MAX
from bot.slack.ids import SHORTCUT_NAMES, ActionId, BlockId, Command, Shortcut, Subcommand, ViewId
from qualytics_api import ARCHIVE_STATUSES

Block = dict[str, Any]
View = dict[str, Any]
Message = dict[str, Any]

# ---------------------------------------------------------------------------------------------------
# Slack limits
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_PRIVATE_METADATA = 3000
MAX_INPUT_LENGTH = 3000
MAX_TEXT = 3000  # section text, and what we allow for a message's notification text
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_CONTEXT_TEXT = 3000
MAX_PLACEHOLDER = 150
MAX_LABEL = 2000
ELLIPSIS = "…"
DESCRIPTION_TRUNCATED_NOTE = (
    "\n\n… (shortened to fit Slack's 3000-character limit; full details are in Qualytics)"
)

URGENCY_CHOICES: tuple[tuple[str, str], ...] = (("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low"))
IMPACT_CHOICES = URGENCY_CHOICES
PRIORITY_LABELS = {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low", 5: "5 - Planning"}

SUBCOMMAND_USAGE: dict[Subcommand, tuple[str, str]] = {
    Subcommand.CREATE: (
        "<anomaly id or Qualytics anomaly URL>",
        "create a ServiceNow incident for an anomaly",
    ),
    Subcommand.LINK: (
        "<anomaly> [INC number...]",
        "link existing incidents (without numbers: search for them)",
    ),
    Subcommand.TICKETS: ("<anomaly>", "list the incidents linked to an anomaly"),
    Subcommand.SEARCH: ("<text>", "search incidents by number or short description"),
    Subcommand.CONNECT: ("", "connect snowbot to your ServiceNow instance (admins)"),
    Subcommand.STATUS: ("", "integration status, recent links and sync health"),
    Subcommand.WATCH: (
        "[#channel]",
        "post an anomaly card under each Qualytics alert in a channel (default: here)",
    ),
    Subcommand.UNWATCH: ("[#channel]", "stop posting anomaly cards under the alerts in a channel"),
    Subcommand.HELP: ("", "show this help"),
}


# ---------------------------------------------------------------------------------------------------
# Input data


class ChoiceLike(Protocol):
    """A select choice: servicenow's `Choice` or our `Choice`."""

    @property
    def value(self) -> str: ...
    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


class LinkLike(Protocol):
    """An anomaly↔incident link (storage's `Link` has these fields)."""

    @property
    def id(self) -> int: ...
    @property
    def anomaly_id(self) -> int: ...
    @property
    def ticket_number(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def last_synced_at(self) -> datetime | None: ...
    @property
    def anomaly_deleted_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class TicketLink:
    id: int
    anomaly_id: int
    ticket_number: str
    status: str
    url: str
    last_synced_at: datetime | None = None
    anomaly_deleted_at: datetime | None = None


class IncidentLike(Protocol):
    """A ServiceNow incident (servicenow's `Incident` has these fields)."""

    @property
    def number(self) -> str: ...
    @property
    def short_description(self) -> str: ...
    @property
    def state_label(self) -> str: ...
    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class IncidentSummary:
    number: str
    short_description: str
    state_label: str
    url: str


@dataclass(frozen=True)
class AnomalySummary:
    """What the builders show about a Qualytics anomaly (flattened from `qualytics_api.Anomaly`)."""

    id: int
    type: str = "record"
    status: str = "Active"
    container: str | None = None
    datastore: str | None = None
    failed_checks: Sequence[str] = ()
    description: str | None = None
    weight: int | None = None


@dataclass(frozen=True)
class IntegrationStatus:
    status: str = "Unchecked"  # "Connected" | "Error" | "Unchecked"
    instance_url: str | None = None
    name: str = "ServiceNow"
    error: str | None = None
    advice: str | None = None
    checked_at: datetime | None = None
    refused_reads: Sequence[str] = ()
    """Reads the instance refused (what ServiceNow said and the ACL that grants it)."""


@dataclass(frozen=True)
class FailedSync:
    reason: str
    anomaly_id: int | None = None
    ticket_number: str | None = None


@dataclass(frozen=True)
class SyncHealth:
    pending: int = 0
    failed: Sequence[FailedSync] = ()
    last_run_at: datetime | None = None
    last_run_error: str | None = None
    failed_total: int | None = None
    """How many sync items failed in all, when `failed` lists only the newest few."""
    native_ticket_links: Sequence[int] = ()
    """Linked anomalies that Qualytics' own ticketing integration links tickets to as well."""


@dataclass(frozen=True)
class ModalMetadata:
    """What a modal carries in `private_metadata` (compact JSON, at most 3000 characters)."""

    anomaly_id: int | None = None
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    then: str | None = None  # the step after the anomaly-id modal: "create" | "link"
    caller: str | None = None  # the ServiceNow caller's sys_id (create modal), found from the person's e-mail

    def encode(self) -> str:
        data = {k: v for k, v in vars(self).items() if v is not None}
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if len(text) > MAX_PRIVATE_METADATA:
            raise ValueError(
                f"private_metadata would be {len(text)} characters (Slack allows {MAX_PRIVATE_METADATA})"
            )
        return text

    @classmethod
    def decode(cls, text: str | None) -> ModalMetadata:
        """Tolerant: anything unreadable gives an empty `ModalMetadata`."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        anomaly_id = data.get("anomaly_id")
        strings = {
            k: data[k]
            for k in ("channel", "thread_ts", "message_ts", "then", "caller")
            if isinstance(data.get(k), str)
        }
        valid_id = isinstance(anomaly_id, int) and not isinstance(anomaly_id, bool)
        return cls(anomaly_id=anomaly_id if valid_id else None, **strings)


# ---------------------------------------------------------------------------------------------------
# Text helpers


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with "…" when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)].rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str:
    """A mrkdwn link, or just the escaped label when there is no usable URL."""
    if not url or "|" in url or ">" in url or len(url) > MAX_URL:
        return escape(label)
    return f"<{url}|{escape(label)}>"


def ago(moment: datetime, now: datetime) -> str:
    seconds = int((_aware(now) - _aware(moment)).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return "just now"  # pragma: no cover


def slack_date(
    moment: datetime, *, now: datetime | None = None, fmt: str = "{date_short_pretty} {time}"
) -> str:
    """Slack date formatting (shown in each reader's time zone); the fallback is "x ago" when `now` is
    given, else the UTC timestamp."""
    moment = _aware(moment)
    fallback = ago(moment, now) if now is not None else moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{fmt}|{fallback}>"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plain_text(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit) or " "}


# ---------------------------------------------------------------------------------------------------
# Block and element helpers


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    """A select option; the text is cut to 75 characters, a value longer than 150 is a bug (ValueError)."""
    if len(value) > MAX_OPTION_VALUE:
        raise ValueError(f"option value is {len(value)} characters (Slack allows {MAX_OPTION_VALUE})")
    result: dict[str, Any] = {"text": plain_text(text, MAX_OPTION_TEXT), "value": value}
    if description:
        result["description"] = plain_text(description, MAX_OPTION_TEXT)
    return result


def incident_option(number: str, short_description: str, value: str) -> dict[str, Any]:
    """An incident in an external select: "INC0010006 · Nightly load failed", value = sys_id."""
    return option(f"{number} · {short_description}" if short_description else number, value)


def options_response(options: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The body to `ack()` a block_suggestion with (Slack shows at most 100 options)."""
    return {"options": list(options[:MAX_OPTIONS])}


def confirm_dialog(
    title: str, text: str, *, confirm: str = "Yes", deny: str = "Cancel", danger: bool = True
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "title": plain_text(title, 100),
        "text": mrkdwn(text, 300),
        "confirm": plain_text(confirm, 30),
        "deny": plain_text(deny, 30),
    }
    if danger:
        result["style"] = "danger"
    return result


def button(
    text: str,
    action_id: ActionId,
    *,
    value: str | None = None,
    url: str | None = None,
    style: Literal["primary", "danger"] | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain_text(text, MAX_BUTTON_TEXT),
    }
    if value is not None:
        result["value"] = value[:MAX_BUTTON_VALUE]
    if url and len(url) <= MAX_URL:
        result["url"] = url
    if style:
        result["style"] = style
    if confirm:
        result["confirm"] = confirm
    return result


def section(text: str, *, accessory: dict[str, Any] | None = None, block_id: BlockId | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields_section(fields: Sequence[str]) -> Block:
    return {"type": "section", "fields": [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]}


def context(text: str, *, block_id: BlockId | None = None) -> Block:
    block: Block = {"type": "context", "elements": [mrkdwn(text, MAX_CONTEXT_TEXT)]}
    if block_id:
        block["block_id"] = block_id
    return block


def header(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, MAX_HEADER_TEXT)}


def divider() -> Block:
    return {"type": "divider"}


def actions(elements: Sequence[dict[str, Any]], *, block_id: BlockId | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:25])}
    if block_id:
        block["block_id"] = block_id
    return block


def input_block(
    label: str,
    element: dict[str, Any],
    block_id: BlockId,
    *,
    optional: bool = False,
    hint: str | None = None,
    dispatch_action: bool = False,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(label, MAX_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain_text(hint, MAX_LABEL)
    if dispatch_action:
        block["dispatch_action"] = True
    return block


def text_input(
    action_id: ActionId,
    *,
    initial: str | None = None,
    placeholder: str | None = None,
    multiline: bool = False,
    max_length: int = MAX_INPUT_LENGTH,
) -> dict[str, Any]:
    """A plain_text_input; an initial value longer than `max_length` is cut (with "…")."""
    max_length = min(max_length, MAX_INPUT_LENGTH)
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "max_length": max_length}
    if multiline:
        element["multiline"] = True
    if initial:
        element["initial_value"] = truncate(initial, max_length)
    if placeholder:
        element["placeholder"] = plain_text(placeholder, MAX_PLACEHOLDER)
    return element


def static_select(
    action_id: ActionId,
    choices: Sequence[tuple[str, str]],
    *,
    initial: str | None = None,
    placeholder: str = "Choose…",
) -> dict[str, Any]:
    """choices are (value, label); at most 100 are offered (Slack's limit)."""
    options = [option(label, value) for value, label in choices[:MAX_OPTIONS]]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain_text(placeholder, MAX_PLACEHOLDER),
        "options": options,
    }
    initial_option = next((o for o in options if o["value"] == initial), None)
    if initial_option is not None:
        element["initial_option"] = initial_option
    return element


def external_select(
    action_id: ActionId,
    *,
    placeholder: str,
    min_query_length: int,
    multi: bool = False,
    initial: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """An options-load select (`app.options(action_id)` answers it); initial is (label, value) pairs."""
    element: dict[str, Any] = {
        "type": "multi_external_select" if multi else "external_select",
        "action_id": action_id,
        "placeholder": plain_text(placeholder, MAX_PLACEHOLDER),
        "min_query_length": min_query_length,
    }
    initial_options = [option(label, value) for label, value in initial]
    if initial_options:
        if multi:
            element["initial_options"] = initial_options
        else:
            element["initial_option"] = initial_options[0]
    return element


def modal(
    title: str,
    blocks: Sequence[Block],
    *,
    callback_id: str,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str = "",
) -> View:
    """A modal view; a title longer than 24 characters is cut, more than 100 blocks is a bug."""
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise ValueError(f"a view holds at most {MAX_VIEW_BLOCKS} blocks, got {len(blocks)}")
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError(
            f"private_metadata is {len(private_metadata)} characters (max {MAX_PRIVATE_METADATA})"
        )
    view: View = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain_text(title, MAX_VIEW_TITLE),
        "close": plain_text(close, MAX_VIEW_TITLE),
        "blocks": list(blocks),
    }
    if submit:
        view["submit"] = plain_text(submit, MAX_VIEW_TITLE)
    if private_metadata:
        view["private_metadata"] = private_metadata
    return view


def message(text: str, blocks: Sequence[Block]) -> Message:
    """Keyword arguments for chat.postMessage / postEphemeral / update and `respond`."""
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"a message holds at most {MAX_MESSAGE_BLOCKS} blocks, got {len(blocks)}")
    return {"text": truncate(text, MAX_TEXT), "blocks": list(blocks)}


def fit_groups(groups: Sequence[Sequence[Block]], budget: int, more: Callable[[int], Block]) -> list[Block]:
    """Concatenate block groups (one per list item) within `budget` blocks; when they do not all fit,
    the last block is `more(n_left_out)`."""
    out: list[Block] = []
    for index, group in enumerate(groups):
        left = len(groups) - index
        need = len(group) + (1 if left > 1 else 0)
        if len(out) + need > budget:
            out.append(more(left))
            return out
        out.extend(group)
    return out


def bullet_lines(lines: Sequence[str], *, limit: int = MAX_TEXT, max_lines: int = 10) -> str:
    """Lines as one mrkdwn text within `limit` characters, ending with "and N more" if some do not fit."""
    kept: list[str] = []
    for index, line in enumerate(lines):
        left = len(lines) - index
        candidate = "\n".join([*kept, line])
        tail = f"\n_and {left - 1} more_" if left > 1 else ""
        if index >= max_lines or len(candidate) + len(tail) > limit:
            return "\n".join([*kept, f"_and {left} more_"])
        kept.append(line)
    return "\n".join(kept)


def _and_more(noun: str) -> Callable[[int], Block]:
    return lambda n: context(f"_and {n} more {noun}_")


# ---------------------------------------------------------------------------------------------------
# Priority (ServiceNow's default impact × urgency lookup)


def priority_for(urgency: str | int, impact: str | int) -> tuple[int, str]:
    """ServiceNow's default Priority Lookup: 1+1 → 1 Critical … 3+3 → 5 Planning."""
    try:
        value = int(impact) + int(urgency) - 1
    except (TypeError, ValueError):
        value = 5
    value = min(max(value, 1), 5)
    return value, PRIORITY_LABELS[value]


def priority_hint(urgency: str | int, impact: str | int) -> Block:
    _, label = priority_for(urgency, impact)
    return context(
        f"ServiceNow will set priority *{label}* (impact {impact} × urgency {urgency}).",
        block_id=BlockId.PRIORITY_HINT,
    )


# ---------------------------------------------------------------------------------------------------
# Messages


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


def unlink_value(link_row: LinkLike) -> str:
    """An Unlink button value that names the anomaly too ("824:7"): a click on an ephemeral list does
    not carry the message, so the value is all the listener gets."""
    return f"{link_row.anomaly_id}:{link_row.id}"


def parse_unlink_value(value: Any) -> tuple[int, int] | None:
    """(anomaly_id, link_id) from `unlink_value`, or None."""
    if not isinstance(value, str):
        return None
    anomaly, _, link_id = value.partition(":")
    if not (anomaly.isdigit() and link_id.isdigit()):
        return None
    return int(anomaly), int(link_id)


def _link_id_value(link_row: LinkLike) -> str:
    return str(link_row.id)


def _ticket_group(
    link_row: LinkLike,
    anomaly_id: int,
    now: datetime | None,
    value: Callable[[LinkLike], str] = _link_id_value,
) -> list[Block]:
    synced = slack_date(link_row.last_synced_at, now=now) if link_row.last_synced_at else "not synced yet"
    state = escape(link_row.status) if link_row.status else "unknown state"
    if link_row.anomaly_deleted_at:
        synced += f"\nThe anomaly was deleted in Qualytics {slack_date(link_row.anomaly_deleted_at, now=now)}: no longer synced"
    return [
        section(f"*{link(link_row.url, link_row.ticket_number)}* · {state}\nLast synced {synced}"),
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
) -> Message:
    """The anomaly's incidents with View and Unlink buttons; `unlink` makes each Unlink button's value
    (the link id by default, `unlink_value` to name the anomaly too)."""
    if not links:
        return message(
            f"No incidents are linked to anomaly {anomaly_id} yet.",
            [
                section(f"No incidents are linked to anomaly *{anomaly_id}* yet."),
                context(
                    f"`{Command.SNOW} {Subcommand.CREATE} {anomaly_id}` creates one, "
                    f"`{Command.SNOW} {Subcommand.LINK} {anomaly_id}` links an existing one."
                ),
            ],
        )
    noun = "incident" if len(links) == 1 else "incidents"
    head = section(f"*{len(links)} {noun} linked to anomaly {anomaly_id}*")
    groups = [_ticket_group(row, anomaly_id, now, unlink) for row in links]
    return message(
        f"{len(links)} {noun} linked to anomaly {anomaly_id}",
        [head, *fit_groups(groups, MAX_MESSAGE_BLOCKS - 1, _and_more("incidents"))],
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


def _tickets_text(tickets: Sequence[LinkLike]) -> str:
    if not tickets:
        return "*Linked incidents:* none yet"
    lines = [
        f"• {link(row.url, row.ticket_number)} · {escape(row.status or 'unknown state')}" for row in tickets
    ]
    return "*Linked incidents*\n" + bullet_lines(lines, limit=MAX_TEXT - 20)


def anomaly_alert_message(anomaly: AnomalySummary, url: str, tickets: Sequence[LinkLike] = ()) -> Message:
    """snowbot's anomaly card: the anomaly, its linked incidents with their states, and the chat-ops
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
    blocks.append(section(_tickets_text(tickets)))
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


# ---------------------------------------------------------------------------------------------------
# Status and App Home


def _integration_text(integration: IntegrationStatus | None, now: datetime | None) -> str:
    if integration is None or not integration.instance_url:
        return f"*ServiceNow:* not connected. An admin can run `{Command.SNOW} {Subcommand.CONNECT}`."
    text = _connection_text(integration, now)
    if integration.refused_reads:
        refused = [f":warning: {escape(line)}" for line in integration.refused_reads]
        text += "\n" + bullet_lines(refused, limit=MAX_TEXT - len(text) - 1, max_lines=4)
    return text


def _connection_text(integration: IntegrationStatus, now: datetime | None) -> str:
    where = link(integration.instance_url, integration.instance_url)
    checked = f" (checked {slack_date(integration.checked_at, now=now)})" if integration.checked_at else ""
    if integration.status == "Connected":
        return f"*{escape(integration.name)}:* :white_check_mark: Connected to {where}{checked}"
    if integration.status == "Error":
        lines = [f"*{escape(integration.name)}:* :x: Error with {where}{checked}"]
        if integration.error:
            lines.append(escape(integration.error))
        if integration.advice:
            lines.append(f"_{escape(integration.advice)}_")
        return "\n".join(lines)
    return f"*{escape(integration.name)}:* {where} — not checked yet{checked}"


def _failure_line(failure: FailedSync) -> str:
    subject = [
        f"anomaly {failure.anomaly_id}" if failure.anomaly_id is not None else "",
        failure.ticket_number or "",
    ]
    what = " / ".join(part for part in subject if part)
    return f"• {escape(what)}: {escape(failure.reason)}" if what else f"• {escape(failure.reason)}"


def _health_text(health: SyncHealth, now: datetime | None) -> str:
    last = slack_date(health.last_run_at, now=now) if health.last_run_at else "never"
    failed = health.failed_total if health.failed_total is not None else len(health.failed)
    icon = ":white_check_mark:" if not failed and not health.last_run_error else ":warning:"
    lines = [
        f"*Sync health* {icon}",
        f"Pending: {health.pending} · Failed: {failed} · Last run: {last}",
    ]
    if health.last_run_error:
        lines.append(f"Last run failed: {escape(truncate(health.last_run_error, 500))}")
    if health.native_ticket_links:
        shown = ", ".join(map(str, health.native_ticket_links[:10]))
        more = (
            f" and {len(health.native_ticket_links) - 10} more"
            if len(health.native_ticket_links) > 10
            else ""
        )
        lines.append(
            f":warning: Qualytics' own ticketing integration also links tickets to anomalies {shown}{more}: "
            "it writes its own work notes, so each note arrives twice. snowbot replaces it: disconnect it "
            "in Qualytics (Settings → Integrations)."
        )
    text = "\n".join(lines)
    if health.failed:
        failures = [_failure_line(f) for f in health.failed]
        text += "\n" + bullet_lines(failures, limit=MAX_TEXT - len(text) - 1)
    return text


def _recent_text(recent_links: Sequence[LinkLike]) -> str:
    if not recent_links:
        return "*Recent links*\nNone yet."
    lines = [
        f"• Anomaly {row.anomaly_id} → {link(row.url, row.ticket_number)} ({escape(row.status or 'unknown')})"
        + (" · anomaly deleted in Qualytics" if row.anomaly_deleted_at else "")
        for row in recent_links
    ]
    return "*Recent links*\n" + bullet_lines(lines, limit=MAX_TEXT - 20)


def status_blocks(
    *,
    integration: IntegrationStatus | None,
    recent_links: Sequence[LinkLike] = (),
    health: SyncHealth | None = None,
    now: datetime | None = None,
) -> list[Block]:
    """Integration status (Connected, or the error with its advice), sync health, recent links."""
    return [
        section(_integration_text(integration, now)),
        divider(),
        section(_health_text(health or SyncHealth(), now)),
        divider(),
        section(_recent_text(recent_links)),
    ]


def status_message(
    *,
    integration: IntegrationStatus | None,
    recent_links: Sequence[LinkLike] = (),
    health: SyncHealth | None = None,
    now: datetime | None = None,
) -> Message:
    state = integration.status if integration and integration.instance_url else "not connected"
    return message(
        f"ServiceNow integration: {state}",
        status_blocks(integration=integration, recent_links=recent_links, health=health, now=now),
    )


MAX_WATCHED_SHOWN = 20


def conversations_select(action_id: ActionId, placeholder: str) -> dict[str, Any]:
    """A channel picker (public and private channels the person can see; no DMs)."""
    return {
        "type": "conversations_select",
        "action_id": action_id,
        "placeholder": plain_text(placeholder, MAX_PLACEHOLDER),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }


def watched_channels_blocks(channels: Sequence[str]) -> list[Block]:
    """The App Home's anomaly-card channels: a picker to watch one more, and Unwatch per channel."""
    head = section(
        "*Anomaly cards* — under each Qualytics alert in these channels snowbot posts a card with "
        "Acknowledge, Archive, Comment, Create and Link. Invite snowbot to the channel first.",
        accessory=conversations_select(ActionId.WATCH_CHANNEL, "Watch a channel…"),
        block_id=BlockId.WATCH_CHANNEL,
    )
    if not channels:
        return [
            head,
            context(f"No channel is watched yet (`{Command.SNOW} {Subcommand.WATCH}` in one works too)."),
        ]
    groups = [
        [
            section(
                f"<#{escape(channel)}>", accessory=button("Unwatch", ActionId.UNWATCH_CHANNEL, value=channel)
            )
        ]
        for channel in channels
    ]
    return [head, *fit_groups(groups, MAX_WATCHED_SHOWN, _and_more("channels"))]


def app_home_view(
    *,
    integration: IntegrationStatus | None,
    recent_links: Sequence[LinkLike] = (),
    health: SyncHealth | None = None,
    now: datetime | None = None,
    is_admin: bool = False,
    watched_channels: Sequence[str] = (),
) -> View:
    buttons = [button("Refresh", ActionId.REFRESH_HOME), button("Help", ActionId.HELP)]
    if is_admin:
        connected = integration is not None and integration.status == "Connected"
        buttons.insert(
            0, button("Reconnect" if connected else "Connect ServiceNow", ActionId.OPEN_CONNECT_MODAL)
        )
    blocks = [
        header("snowbot · ServiceNow for Qualytics"),
        actions(buttons, block_id=BlockId.HOME_ACTIONS),
        *status_blocks(integration=integration, recent_links=recent_links, health=health, now=now),
        divider(),
        *watched_channels_blocks(watched_channels),
        context(
            f"Use the *{SHORTCUT_NAMES[Shortcut.CREATE_INCIDENT]}* shortcut on a Qualytics alert, or "
            f"`{Command.SNOW} {Subcommand.HELP}`."
        ),
    ]
    return {"type": "home", "blocks": blocks}


# ---------------------------------------------------------------------------------------------------
# Modals


def loading_modal(title: str, callback_id: str, text: str = "Loading…") -> View:
    """The placeholder opened at once with the trigger_id, then replaced with views.update."""
    return modal(title, [section(f":hourglass_flowing_sand: {escape(text)}")], callback_id=callback_id)


def notice_modal(title: str, text: str, *, reference: str | None = None) -> View:
    """A read-only modal for a result or an error (e.g. views.update after a failed load)."""
    blocks = [section(escape(text))]
    if reference:
        blocks.append(context(f"Reference `{escape(reference)}`"))
    return modal(title, blocks, callback_id=ViewId.MESSAGE, close="Close")


def help_modal() -> View:
    """The `/snow` help as a read-only modal (App Home's Help button has no channel to answer in)."""
    blocks = [blk for blk in help_message()["blocks"] if blk["type"] != "header"]
    return modal("snowbot help", blocks, callback_id=ViewId.MESSAGE, close="Close")


def _choice_input(
    label: str,
    action_id: ActionId,
    block_id: BlockId,
    choices: Sequence[ChoiceLike],
    initial: str | None,
    *,
    dispatch: bool = False,
) -> Block:
    if choices:
        element = static_select(action_id, [(c.value, c.label) for c in choices], initial=initial)
        return input_block(label, element, block_id, optional=True, dispatch_action=dispatch)
    return input_block(label, text_input(action_id, initial=initial, max_length=40), block_id, optional=True)


def subcategory_input(choices: Sequence[ChoiceLike], initial: str | None = None) -> Block:
    """The Subcategory block of the create modal (swapped in when the category changes)."""
    return _choice_input("Subcategory", ActionId.SUBCATEGORY, BlockId.SUBCATEGORY, choices, initial)


def default_short_description(anomaly: AnomalySummary) -> str:
    where = f" in {anomaly.container}" if anomaly.container else ""
    return f"[Qualytics] {anomaly.type} anomaly {anomaly.id}{where}"


def fit_description(text: str, limit: int = MAX_INPUT_LENGTH) -> tuple[str, bool]:
    """(text, was_cut): text within `limit` characters, ending with a note when it was cut."""
    if len(text) <= limit:
        return text, False
    return text[: limit - len(DESCRIPTION_TRUNCATED_NOTE)].rstrip() + DESCRIPTION_TRUNCATED_NOTE, True


def create_incident_modal(
    anomaly: AnomalySummary,
    metadata: ModalMetadata,
    *,
    description: str,
    short_description: str | None = None,
    urgency: str = "3",
    impact: str = "3",
    categories: Sequence[ChoiceLike] = (),
    subcategories: Sequence[ChoiceLike] = (),
    category: str | None = None,
    subcategory: str | None = None,
    assignment_group: tuple[str, str] | None = None,
    assigned_to: tuple[str, str] | None = None,
    choices_hint: str | None = None,
) -> View:
    """The create-incident form. assignment_group/assigned_to are initial (label, sys_id) pairs;
    `choices_hint` says why category and subcategory are free text (shown under them).

    Urgency, impact and category dispatch block_actions, so a listener can refresh the priority hint
    (`priority_hint`) and the subcategories with views.update; inputs keep their values across updates
    because the block and action ids stay the same."""
    metadata = replace(metadata, anomaly_id=anomaly.id)
    body, cut = fit_description(description)
    where = f" · {escape(anomaly.container)}" if anomaly.container else ""
    blocks: list[Block] = [
        context(f"Anomaly *{anomaly.id}* · {escape(anomaly.type)} · {escape(anomaly.status)}{where}"),
        input_block(
            "Short description",
            text_input(
                ActionId.SHORT_DESCRIPTION,
                initial=short_description or default_short_description(anomaly),
                max_length=SHORT_DESCRIPTION_MAX,
            ),
            BlockId.SHORT_DESCRIPTION,
        ),
        input_block(
            "Description",
            text_input(ActionId.DESCRIPTION, initial=body, multiline=True),
            BlockId.DESCRIPTION,
            optional=True,
            hint="Shortened to fit Slack; the full anomaly details are in Qualytics." if cut else None,
        ),
        input_block(
            "Urgency",
            static_select(ActionId.URGENCY, URGENCY_CHOICES, initial=urgency),
            BlockId.URGENCY,
            dispatch_action=True,
        ),
        input_block(
            "Impact",
            static_select(ActionId.IMPACT, IMPACT_CHOICES, initial=impact),
            BlockId.IMPACT,
            dispatch_action=True,
        ),
        priority_hint(urgency, impact),
        _choice_input("Category", ActionId.CATEGORY, BlockId.CATEGORY, categories, category, dispatch=True),
        _choice_input("Subcategory", ActionId.SUBCATEGORY, BlockId.SUBCATEGORY, subcategories, subcategory),
        *([context(f":information_source: {escape(choices_hint)}")] if choices_hint else []),
        input_block(
            "Assignment group",
            external_select(
                ActionId.ASSIGNMENT_GROUP,
                placeholder="Search groups",
                min_query_length=0,
                initial=[assignment_group] if assignment_group else (),
            ),
            BlockId.ASSIGNMENT_GROUP,
            optional=True,
        ),
        input_block(
            "Assigned to",
            external_select(
                ActionId.ASSIGNED_TO,
                placeholder="Type a name",
                min_query_length=1,
                initial=[assigned_to] if assigned_to else (),
            ),
            BlockId.ASSIGNED_TO,
            optional=True,
        ),
    ]
    return modal(
        "Create incident",
        blocks,
        callback_id=ViewId.CREATE_INCIDENT,
        submit="Create",
        private_metadata=metadata.encode(),
    )


def anomaly_id_input(initial: str | None = None, *, optional: bool = False) -> Block:
    return input_block(
        "Anomaly",
        text_input(
            ActionId.ANOMALY_ID, initial=initial, placeholder="824 or https://…/anomalies/824", max_length=500
        ),
        BlockId.ANOMALY_ID,
        optional=optional,
        hint="The anomaly's id, or its Qualytics link.",
    )


def anomaly_id_modal(
    metadata: ModalMetadata, *, then: Literal["create", "link"], error: str | None = None
) -> View:
    """Asks for the anomaly when the message shortcut found none in the message."""
    blocks: list[Block] = [
        section("I couldn't find a Qualytics anomaly in that message. Which anomaly is it about?")
    ]
    if error:
        blocks.append(section(f":warning: {escape(error)}", block_id=BlockId.ERROR))
    blocks.append(anomaly_id_input())
    return modal(
        "Which anomaly?",
        blocks,
        callback_id=ViewId.ANOMALY_ID,
        submit="Next",
        private_metadata=replace(metadata, then=then).encode(),
    )


def link_incident_modal(
    anomaly_id: int | None,
    metadata: ModalMetadata,
    *,
    initial_incidents: Sequence[tuple[str, str]] = (),
    error: str | None = None,
) -> View:
    """Search-as-you-type over incidents (`app.options(ActionId.INCIDENTS)`), values are sys_ids; asks
    for the anomaly too when it is not known. initial_incidents are (label, sys_id) pairs."""
    blocks: list[Block] = []
    if error:
        blocks.append(section(f":warning: {escape(error)}", block_id=BlockId.ERROR))
    if anomaly_id is None:
        blocks.append(anomaly_id_input())
    else:
        blocks.append(context(f"Linking to anomaly *{anomaly_id}*"))
    blocks.append(
        input_block(
            "Incidents",
            external_select(
                ActionId.INCIDENTS,
                placeholder="Search by number or short description",
                min_query_length=0,
                multi=True,
                initial=initial_incidents,
            ),
            BlockId.INCIDENTS,
        )
    )
    blocks.append(context("Linking appends the anomaly's details to each incident's description."))
    return modal(
        "Link incident",
        blocks,
        callback_id=ViewId.LINK_INCIDENT,
        submit="Link",
        private_metadata=replace(metadata, anomaly_id=anomaly_id).encode(),
    )


def _without_userinfo(url: str) -> str:
    """Drop any `user:password@` from a URL before showing it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect_modal(
    *, instance_url: str | None = None, error: str | None = None, advice: str | None = None
) -> View:
    """Instance URL + username + password. Credentials are never prefilled: only the instance URL is
    (without any `user:password@`). Slack has no masked input, so the hint says so."""
    blocks: list[Block] = []
    if error:
        text = f":warning: *Could not connect:* {escape(error)}"
        if advice:
            text += f"\n{escape(advice)}"
        blocks.append(section(text, block_id=BlockId.ERROR))
    url_element: dict[str, Any] = {"type": "url_text_input", "action_id": ActionId.INSTANCE_URL}
    prefill = _without_userinfo(instance_url) if instance_url else ""
    if prefill and len(prefill) <= MAX_INPUT_LENGTH:
        url_element["initial_value"] = prefill
    url_element["placeholder"] = plain_text("https://your-instance.service-now.com", MAX_PLACEHOLDER)
    blocks += [
        input_block("Instance URL", url_element, BlockId.INSTANCE_URL),
        input_block(
            "Username",
            text_input(ActionId.USERNAME, max_length=100, placeholder="integration user"),
            BlockId.USERNAME,
            hint="Use a dedicated integration user with the itil role.",
        ),
        input_block(
            "Password",
            text_input(ActionId.PASSWORD, max_length=500),
            BlockId.PASSWORD,
            hint="Slack shows what you type here. snowbot stores it encrypted and never shows it again.",
        ),
        context("Basic authentication. snowbot checks the connection before saving."),
    ]
    return modal("Connect ServiceNow", blocks, callback_id=ViewId.CONNECT, submit="Connect")


def archive_modal(anomaly_id: int, metadata: ModalMetadata) -> View:
    return modal(
        "Archive anomaly",
        [
            section(f"Archive anomaly *{anomaly_id}* in Qualytics."),
            input_block(
                "Archive as",
                static_select(
                    ActionId.ARCHIVE_STATUS, [(s, s) for s in ARCHIVE_STATUSES], initial="Resolved"
                ),
                BlockId.ARCHIVE_STATUS,
            ),
            context("Linked incidents get a work note. Archived anomalies can no longer be commented on."),
        ],
        callback_id=ViewId.ARCHIVE,
        submit="Archive",
        private_metadata=replace(metadata, anomaly_id=anomaly_id).encode(),
    )


def comment_modal(anomaly_id: int, metadata: ModalMetadata) -> View:
    return modal(
        "Comment on anomaly",
        [
            input_block(
                f"Comment on anomaly {anomaly_id}",
                text_input(ActionId.COMMENT_TEXT, multiline=True, placeholder="What did you find?"),
                BlockId.COMMENT,
            ),
            context("The comment is added in Qualytics and to linked incidents as a work note."),
        ],
        callback_id=ViewId.COMMENT,
        submit="Comment",
        private_metadata=replace(metadata, anomaly_id=anomaly_id).encode(),
    )


# ---------------------------------------------------------------------------------------------------
# Updating an open modal

_VIEW_KEYS = ("type", "callback_id", "title", "close", "submit", "blocks", "private_metadata", "external_id")


def view_for_update(view: Mapping[str, Any], *, blocks: Sequence[Block] | None = None) -> View:
    """The part of a view from a payload that views.update accepts (no id, hash, state, app ids),
    optionally with new blocks."""
    clean: View = {key: view[key] for key in _VIEW_KEYS if key in view and view[key] not in (None, "")}
    if blocks is not None:
        clean["blocks"] = list(blocks)
    return clean


def replace_block(view: Mapping[str, Any], block: Block) -> View:
    """The view with the block that has `block`'s block_id replaced by it (views.update keeps what the
    person typed in the other inputs, their block and action ids being unchanged)."""
    block_id = block.get("block_id")
    blocks = [block if old.get("block_id") == block_id else old for old in view.get("blocks", [])]
    return view_for_update(view, blocks=blocks)


def _selected(element: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any]:
    """Set an input element's initial value from its `view.state.values` entry."""
    refilled = {
        k: v for k, v in element.items() if k not in ("initial_value", "initial_option", "initial_options")
    }
    kind = value.get("type") or element.get("type")
    if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input"):
        if value.get("value"):
            refilled["initial_value"] = value["value"]
    elif kind in ("static_select", "external_select"):
        if value.get("selected_option"):
            refilled["initial_option"] = value["selected_option"]
    elif kind in ("multi_static_select", "multi_external_select"):
        if value.get("selected_options"):
            refilled["initial_options"] = value["selected_options"]
    return refilled


def refilled_modal(view: Mapping[str, Any], error: str) -> View:
    """A submitted modal again, with what the person entered and an error at the top, so they can fix it
    and submit again (after `ack(response_action="update")` replaced it with a progress view). A password
    is never put back."""
    values: Mapping[str, Any] = view.get("state", {}).get("values", {})
    blocks: list[Block] = [section(f":warning: {escape(error)}", block_id=BlockId.ERROR)]
    for block in view.get("blocks", []):
        block_id = block.get("block_id")
        if block_id == BlockId.ERROR:
            continue
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            element = block["element"]
            entry = (
                {}
                if block_id == BlockId.PASSWORD
                else values.get(block_id, {}).get(element.get("action_id"), {})
            )
            block = {**block, "element": _selected(element, entry)}
        blocks.append(block)
    return view_for_update(view, blocks=blocks[:MAX_VIEW_BLOCKS])
