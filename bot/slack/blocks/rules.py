"""Creation rules in Slack: the `/snow rules` list, a dry run (with the Enable button after it), the
note a rule posts when the rate guard paused it, the "Recurred" thread note, the App Home section and
the add-rule modal. Pure builders over plain values (a rule is anything with the `RuleLike` attributes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bot.slack.blocks.home import conversations_select
from bot.slack.blocks.primitives import (
    Block,
    Message,
    View,
    actions,
    bullet_lines,
    button,
    context,
    escape,
    header,
    input_block,
    link,
    message,
    modal,
    section,
    text_input,
)
from bot.slack.ids import ActionId, BlockId, Command, Subcommand, ViewId

MAX_RULES_SHOWN = 20
OUTCOME_TEXT = {
    "create": "would create",
    "recur": "would link (recurrence) to",
    "has_ticket": "has a ticket already:",
    "no_match": "does not match",
}


class RuleLike(Protocol):
    id: int
    name: str
    enabled: bool
    paused_reason: str | None
    match: dict[str, Any]
    channel_id: str | None
    max_per_hour: int


class DryRunItemLike(Protocol):
    @property
    def anomaly_id(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def short_description(self) -> str | None: ...
    @property
    def ticket_number(self) -> str | None: ...


def _state(rule: RuleLike) -> str:
    if rule.enabled:
        return ":large_green_circle: enabled"
    return ":double_vertical_bar: paused" if rule.paused_reason else ":white_circle: disabled"


def _match_text(match: Mapping[str, Any]) -> str:
    return (
        ", ".join(f"{key} {'≥' if key == 'min_weight' else '='} {value}" for key, value in match.items())
        or "every new anomaly"
    )


def rule_line(rule: RuleLike) -> str:
    where = f" → <#{rule.channel_id}>" if rule.channel_id else ""
    line = f"*{rule.id}* {escape(rule.name)} · {_state(rule)} · {escape(_match_text(rule.match))}{where}"
    return line + (f"\n    _{escape(rule.paused_reason)}_" if rule.paused_reason else "")


def rules_message(rules: Sequence[RuleLike]) -> Message:
    usage = f"`{Command.SNOW} {Subcommand.RULES} add` · `... dry-run <id> [N]` · `... enable <id>` · `... disable <id>`"
    if not rules:
        return message("No creation rules yet", [section("No creation rules yet."), context(usage)])
    lines = bullet_lines([rule_line(rule) for rule in rules[:MAX_RULES_SHOWN]])
    more = (
        [context(f"and {len(rules) - MAX_RULES_SHOWN} more: GET /api/rules lists them all")]
        if len(rules) > MAX_RULES_SHOWN
        else []
    )
    return message(
        f"{len(rules)} creation rules", [section(f"*Creation rules*\n{lines}"), *more, context(usage)]
    )


def dry_run_message(
    rule: RuleLike, looked_at: int, items: Sequence[DryRunItemLike], *, offer_enable: bool = False
) -> Message:
    """What the rule would have done with the newest anomalies; `offer_enable`: the Enable button (a
    rule is enabled from Slack only after its dry run was shown)."""
    creates = sum(item.outcome == "create" for item in items)
    shown = [item for item in items if item.outcome != "no_match"][:25]
    lines = [
        f"• {item.anomaly_id}: {OUTCOME_TEXT.get(item.outcome, item.outcome)} "
        + escape(item.short_description or item.ticket_number or "")
        for item in shown
    ]
    summary = f"Rule *{rule.id}* ({escape(rule.name)}) over the last {looked_at} anomalies: {creates} tickets would be created."
    blocks: list[Block] = [section(summary)]
    if lines:
        blocks.append(section(bullet_lines(lines)))
    if creates > rule.max_per_hour:
        blocks.append(context(f":warning: More than {rule.max_per_hour} in an hour would pause the rule."))
    if offer_enable:
        blocks.append(
            actions(
                [button("Enable rule", ActionId.RULE_ENABLE, value=str(rule.id), style="primary")],
                block_id=BlockId.RULE_ACTIONS,
            )
        )
    return message(f"Dry run of rule {rule.id}: {creates} tickets would be created", blocks)


def rule_paused_message(rule: RuleLike) -> Message:
    text = f"Creation rule {rule.id} ({rule.name}) paused itself"
    return message(
        text,
        [
            section(
                f":double_vertical_bar: *Creation rule {rule.id}* ({escape(rule.name)}) {escape(rule.paused_reason or 'paused')}"
            ),
            context(
                f"`{Command.SNOW} {Subcommand.RULES} enable {rule.id}` shows its dry run, then enables it."
            ),
        ],
    )


def recurred_message(number: str, url: str, anomaly_id: int, earlier_anomaly_id: int) -> Message:
    text = f"Recurred: anomaly {anomaly_id} linked to {number}"
    return message(
        text,
        [
            section(
                f":repeat: Recurred: anomaly {anomaly_id} (like anomaly {earlier_anomaly_id}) is linked to *{link(url, number)}*, which is still open."
            )
        ],
    )


def rules_home_blocks(rules: Sequence[RuleLike]) -> list[Block]:
    """App Home's section: each rule and its state (a paused rule says why)."""
    body = (
        bullet_lines([rule_line(rule) for rule in rules[:MAX_RULES_SHOWN]])
        if rules
        else "No creation rules yet."
    )
    return [
        header("Creation rules"),
        section(body),
        context(f"`{Command.SNOW} {Subcommand.RULES}` lists, adds, dry-runs and enables them."),
    ]


def add_rule_modal(channel_id: str | None = None) -> View:
    """The add-rule modal: a name, the match (`key=value` words), the short description template and the
    channel of the cards. A rule is saved disabled: `/snow rules enable <id>` shows its dry run first."""
    channel = conversations_select(ActionId.RULE_CHANNEL, "The channel of its cards")
    if channel_id:
        channel["initial_conversation"] = channel_id
    return modal(
        "New creation rule",
        [
            input_block("Name", text_input(ActionId.RULE_NAME, max_length=80), BlockId.RULE_NAME),
            input_block(
                "Match",
                text_input(ActionId.RULE_MATCH, placeholder="datastore=23 min_weight=40 tag=critical"),
                BlockId.RULE_MATCH,
                optional=True,
                hint="key=value words: datastore, container, anomaly_type, rule_type, tag, min_weight, status.",
            ),
            input_block(
                "Short description template",
                text_input(
                    ActionId.RULE_SHORT_DESCRIPTION,
                    initial="{rule_type} anomaly {id} in {container}",
                    max_length=160,
                ),
                BlockId.RULE_SHORT_DESCRIPTION,
                hint="Fields: {id} {type} {status} {weight} {datastore} {container} {rule_type} {fields} {tags} {url} …",
            ),
            input_block("Channel", channel, BlockId.RULE_CHANNEL, optional=True),
        ],
        callback_id=ViewId.RULE_ADD,
        submit="Save (disabled)",
    )
