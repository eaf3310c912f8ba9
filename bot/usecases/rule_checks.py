"""Checking a creation rule as a person gives it (`RuleSpec`): every value, the templates' placeholders
included (`bot.usecases.templates`), before anything is stored; `InvalidInput` names the first bad field.
Pure: no I/O (a Slack modal answers on its field before it acks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.usecases.errors import InvalidInput
from bot.usecases.form import TicketForm
from bot.usecases.templates import TemplateError, check_template
from servicenow.kinds import KINDS

MATCH_KEYS = ("datastore", "container", "anomaly_type", "rule_type", "tag", "min_weight", "status")
TEMPLATE_KEYS = (
    "short_description",
    "description",
    "urgency",
    "impact",
    "category",
    "subcategory",
    "assignment_group",
    "assigned_to",
)
DEFAULT_WINDOW = 7 * 24 * 3600
DEFAULT_MAX_PER_HOUR = 20


@dataclass
class RuleSpec:
    """A rule as a person gives it; `None` leaves a value as it is (update) or at its default (create)."""

    name: str | None = None
    match: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    ticket_kind: str | None = None
    integration_id: int | None = None
    channel_id: str | None = None
    enabled: bool | None = None
    recurrence_window: int | None = None
    max_per_hour: int | None = None
    given: set[str] = field(default_factory=set)
    """The fields present in a PATCH (so `channel_id: null` can clear a channel)."""


def check_spec(spec: RuleSpec) -> None:
    """Check a new rule without any I/O (a Slack modal answers on its field before it acks)."""
    checked(spec, creating=True, window=DEFAULT_WINDOW)


def checked(spec: RuleSpec, *, creating: bool, window: int) -> dict[str, Any]:
    """The columns to store; `InvalidInput` naming the first bad field."""
    given = spec.given or {k for k, v in vars(spec).items() if v is not None and k != "given"}
    values: dict[str, Any] = {}
    if creating or "name" in given:
        name = (spec.name or "").strip()
        if not name or len(name) > 80:
            raise InvalidInput("A rule needs a name of 1 to 80 characters.", field="name")
        values["name"] = name
    if creating or "match" in given:
        values["match"] = _match(spec.match or {})
    if creating or "template" in given:
        values["template"] = _template(spec.template or {})
    if creating or "ticket_kind" in given:
        kind = spec.ticket_kind or "incident"
        if kind not in KINDS:
            raise InvalidInput(f"The ticket kind is one of: {', '.join(KINDS)}.", field="ticket_kind")
        values["ticket_kind"] = kind
    for name in ("integration_id", "channel_id"):
        if creating or name in given:
            values[name] = getattr(spec, name) or None
    if creating or "enabled" in given:
        values["enabled"] = True if spec.enabled is None else spec.enabled
    for name, default, low in (("recurrence_window", window, 0), ("max_per_hour", DEFAULT_MAX_PER_HOUR, 1)):
        if creating or name in given:
            value = getattr(spec, name)
            value = default if value is None else value
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidInput(f"{name} is a whole number of at least {low}.", field=name)
            values[name] = value
    return values


def _match(match: dict[str, Any]) -> dict[str, Any]:
    unknown = set(match) - set(MATCH_KEYS)
    if unknown:
        raise InvalidInput(
            f"A rule matches on: {', '.join(MATCH_KEYS)} (not {', '.join(sorted(unknown))}).", field="match"
        )
    clean = {k: v for k, v in match.items() if v not in (None, "")}
    for key in ("datastore", "container"):
        if key in clean and (
            not isinstance(clean[key], int) or isinstance(clean[key], bool) or clean[key] < 1
        ):
            raise InvalidInput(f"match.{key} is the {key}'s id (a positive number).", field=f"match.{key}")
    if clean.get("anomaly_type") not in (None, "record", "shape"):
        raise InvalidInput("match.anomaly_type is record or shape.", field="match.anomaly_type")
    weight = clean.get("min_weight")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0):
        raise InvalidInput("match.min_weight is a number of at least 0.", field="match.min_weight")
    for key in ("rule_type", "tag", "status"):
        if key in clean and not isinstance(clean[key], str):
            raise InvalidInput(f"match.{key} is text.", field=f"match.{key}")
    return clean


def _template(template: dict[str, Any]) -> dict[str, Any]:
    unknown = set(template) - set(TEMPLATE_KEYS)
    if unknown:
        raise InvalidInput(
            f"A template has: {', '.join(TEMPLATE_KEYS)} (not {', '.join(sorted(unknown))}).",
            field="template",
        )
    clean = {k: v.strip() for k, v in template.items() if isinstance(v, str) and v.strip()}
    if "short_description" not in clean:
        raise InvalidInput("The template needs a short description.", field="template.short_description")
    for key in ("short_description", "description"):
        if key in clean:
            try:
                check_template(clean[key])
            except TemplateError as err:
                raise InvalidInput(f"template.{key}: {err}", field=f"template.{key}") from None
    sample = TicketForm(short_description="x", **{k: clean.get(k) for k in TEMPLATE_KEYS[2:]})
    try:
        checked = sample.validated()
    except InvalidInput as err:
        raise InvalidInput(err.message, field=f"template.{err.field}") from None
    clean.update({k: getattr(checked, k) for k in TEMPLATE_KEYS[2:] if getattr(checked, k) is not None})
    return clean
