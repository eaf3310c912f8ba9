"""The add-rule modal's values -> a `RuleSpec` (checked without I/O: an `InvalidInput` names the field,
shown on its block), and the `/snow rules` words (`datastore=23 min_weight=40`)."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import ViewState
from bot.slack.ids import ActionId, BlockId
from bot.usecases import InvalidInput
from bot.usecases.rule_checks import MATCH_KEYS, RuleSpec, check_spec

NUMBERS = ("datastore", "container", "min_weight")
RULE_FIELD_BLOCKS = {
    "name": BlockId.RULE_NAME,
    "match": BlockId.RULE_MATCH,
    "template": BlockId.RULE_SHORT_DESCRIPTION,
    "template.short_description": BlockId.RULE_SHORT_DESCRIPTION,
}


def match_words(text: str | None) -> dict[str, Any]:
    """`datastore=23 tag=critical` -> {"datastore": 23, "tag": "critical"}; `InvalidInput` otherwise."""
    match: dict[str, Any] = {}
    for word in (text or "").split():
        key, sep, value = word.partition("=")
        if not sep or key not in MATCH_KEYS or not value:
            raise InvalidInput(f"Write key=value words; the keys are {', '.join(MATCH_KEYS)}.", field="match")
        if key in NUMBERS:
            try:
                match[key] = float(value) if key == "min_weight" else int(value)
            except ValueError:
                raise InvalidInput(f"{key} is a number.", field="match") from None
        else:
            match[key] = value
    return match


def rule_spec(form: ViewState) -> RuleSpec:
    """The modal's rule, saved disabled (enabling shows its dry run first)."""
    spec = RuleSpec(
        name=form.text(BlockId.RULE_NAME, ActionId.RULE_NAME) or "",
        match=match_words(form.text(BlockId.RULE_MATCH, ActionId.RULE_MATCH)),
        template={
            "short_description": form.text(BlockId.RULE_SHORT_DESCRIPTION, ActionId.RULE_SHORT_DESCRIPTION)
            or ""
        },
        channel_id=form.entry(BlockId.RULE_CHANNEL, ActionId.RULE_CHANNEL).get("selected_conversation"),
        enabled=False,
    )
    check_spec(spec)
    return spec


def block_for(err: InvalidInput) -> BlockId | None:
    field = err.field or ""
    return RULE_FIELD_BLOCKS.get(field) or RULE_FIELD_BLOCKS.get(field.split(".")[0])
