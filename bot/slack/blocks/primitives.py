"""Block Kit primitives: Slack's limits, text helpers (truncate, escape, links, dates) and the block and
element builders every message, modal and home view is made of. Pure functions; no Slack call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from bot.slack.ids import ActionId, BlockId

Block = dict[str, Any]
View = dict[str, Any]
Message = dict[str, Any]

# Slack limits (docs.slack.dev Block Kit reference, slack_sdk validators)
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


def and_more(noun: str) -> Callable[[int], Block]:
    return lambda n: context(f"_and {n} more {noun}_")
