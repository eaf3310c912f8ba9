"""Creation rules: "when a new anomaly matches this, create a ticket from this template on this integration
and post its card in this channel". Saving one checks every value (the templates' fields included) before
anything is stored, and records who changed it and when; a dry run over the newest anomalies says what the
rule would have done. Enabling a paused or disabled rule clears its pause.

Never creates a ticket (`bot.usecases.autocreate` does) and never knows about Slack or HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Runtime, Storage
from bot.usecases.errors import InvalidInput, UseCaseError, qualytics_failure
from bot.usecases.form import TicketForm
from bot.usecases.recurrence import Recurrence
from bot.usecases.rule_checks import DEFAULT_WINDOW, TEMPLATE_KEYS, RuleSpec, checked
from bot.usecases.templates import render
from qualytics_api import OPEN_STATUSES, Anomaly, QualyticsError
from storage import integrations, links
from storage import rules as store
from storage.rules import Rule

log = logging.getLogger(__name__)

DRY_RUN_MAX = 200


class RuleNotFound(UseCaseError):
    def __init__(self, rule_id: int) -> None:
        super().__init__(f"There is no rule {rule_id}: GET /api/rules (or /snow rules) lists them.")
        self.rule_id = rule_id


@dataclass(frozen=True)
class DryRunItem:
    anomaly_id: int
    outcome: str  # create, recur, has_ticket, no_match
    short_description: str | None = None
    ticket_number: str | None = None


@dataclass(frozen=True)
class DryRun:
    rule: Rule
    looked_at: int
    items: list[DryRunItem]

    @property
    def would_create(self) -> int:
        return sum(item.outcome == "create" for item in self.items)

    @property
    def over_rate(self) -> bool:
        """Would the creates, arriving within one hour, pause the rule?"""
        return self.would_create > self.rule.max_per_hour


def matches(match: dict[str, Any], anomaly: Anomaly) -> bool:
    """Every condition given holds (none given: every open anomaly); archived anomalies never match."""
    statuses = [match["status"]] if match.get("status") else list(OPEN_STATUSES)
    checks = {c.quality_check.rule_type for c in anomaly.failed_checks}
    return (
        not anomaly.archived
        and anomaly.status in statuses
        and match.get("datastore") in (None, anomaly.datastore.id)
        and match.get("container") in (None, anomaly.container.id if anomaly.container else None)
        and match.get("anomaly_type") in (None, anomaly.type)
        and match.get("rule_type") in (None, *checks)
        and match.get("tag") in (None, *anomaly.tags)
        and (match.get("min_weight") is None or (anomaly.weight or 0) >= match["min_weight"])
    )


def ticket_form(rule: Rule, anomaly: Anomaly, url: str) -> TicketForm:
    """The rule's template filled in from the anomaly (a short description cut to ServiceNow's 160)."""
    template = rule.template
    text = {
        k: render(template[k], anomaly, url) for k in ("short_description", "description") if template.get(k)
    }
    short = " ".join(text["short_description"].split())
    return TicketForm(
        short_description=short if len(short) <= 160 else short[:159] + "…",
        description=text.get("description"),
        ticket_type=rule.ticket_kind,  # a kind's own name (`rm_defect`) is a ticket type too
        **{k: template.get(k) for k in TEMPLATE_KEYS[2:]},
    )


class Rules:
    def __init__(
        self,
        *,
        storage: Storage,
        anomalies: Anomalies,
        recurrence: Recurrence,
        runtime: Runtime,
        default_window: int = DEFAULT_WINDOW,
    ) -> None:
        self.default_window = default_window
        self.storage = storage
        self.anomalies = anomalies
        self.recurrence = recurrence
        self.runtime = runtime

    async def all(self) -> list[Rule]:
        return await self.storage.run(store.all_rules)

    async def get(self, rule_id: int) -> Rule:
        rule = await self.storage.run(store.get, rule_id)
        if rule is None:
            raise RuleNotFound(rule_id)
        return rule

    async def changes(self, rule_id: int) -> list[store.RuleChange]:
        await self.get(rule_id)
        return await self.storage.run(store.changes, rule_id)

    async def create(self, spec: RuleSpec, *, actor: str) -> Rule:
        values = checked(spec, creating=True, window=self.default_window)
        await self._check_integration(values)
        rule = await self.storage.run(store.add, values, actor=actor, now=self.runtime.clock())
        log.info("rule %s (%s) created by %s", rule.id, rule.name, actor)
        return rule

    async def update(self, rule_id: int, spec: RuleSpec, *, actor: str) -> Rule:
        await self.get(rule_id)
        values = checked(spec, creating=False, window=self.default_window)
        await self._check_integration(values)
        action = "updated"
        if "enabled" in values and len(values) == 1:
            action = "enabled" if values["enabled"] else "disabled"
        if values.get("enabled"):
            values["paused_reason"] = None
        rule = await self.storage.run(
            store.update, rule_id, values, actor=actor, action=action, now=self.runtime.clock()
        )
        if rule is None:
            raise RuleNotFound(rule_id)
        log.info("rule %s %s by %s", rule_id, action, actor)
        return rule

    async def _check_integration(self, values: dict[str, Any]) -> None:
        wanted = values.get("integration_id")
        if wanted is not None and await self.storage.run(integrations.get, wanted) is None:
            raise InvalidInput(
                f"There is no integration {wanted}: GET /api/integrations/ticketing lists them.",
                field="integration_id",
            )

    async def set_enabled(self, rule_id: int, enabled: bool, *, actor: str) -> Rule:
        return await self.update(rule_id, RuleSpec(enabled=enabled, given={"enabled"}), actor=actor)

    async def delete(self, rule_id: int, *, actor: str) -> None:
        if not await self.storage.run(store.delete, rule_id, actor=actor, now=self.runtime.clock()):
            raise RuleNotFound(rule_id)
        log.info("rule %s deleted by %s", rule_id, actor)

    async def dry_run(self, rule_id: int, *, last: int = 50) -> DryRun:
        """What the rule would have done with the `last` newest anomalies (nothing is written anywhere)."""
        if not 1 <= last <= DRY_RUN_MAX:
            raise InvalidInput(f"A dry run looks at 1 to {DRY_RUN_MAX} anomalies.", field="last")
        rule = await self.get(rule_id)
        qualytics = self.anomalies.client()
        try:
            page = await qualytics.list_anomalies(page=1, size=last)
        except QualyticsError as err:
            raise qualytics_failure(err, "listing the newest anomalies") from err
        items = [await self._would(rule, anomaly) for anomaly in page.items]
        return DryRun(rule=rule, looked_at=len(page.items), items=items)

    async def _would(self, rule: Rule, anomaly: Anomaly) -> DryRunItem:
        if not matches(rule.match, anomaly):
            return DryRunItem(anomaly.id, "no_match")
        linked = await self.storage.run(links.for_anomaly, anomaly.id)
        if linked:
            return DryRunItem(anomaly.id, "has_ticket", ticket_number=linked[0].ticket_number)
        earlier = await self.recurrence.open_ticket_for(anomaly, window=rule.recurrence_window)
        if earlier is not None:
            return DryRunItem(anomaly.id, "recur", ticket_number=earlier.link.ticket_number)
        form = ticket_form(rule, anomaly, self.anomalies.url(anomaly))
        return DryRunItem(anomaly.id, "create", short_description=form.short_description)
