"""The creation rules' use cases (`bot.usecases.rules`, `autocreate`), one method each, as part of the
`Snowbot` facade (`Snowbot` inherits them: the surfaces still call one object). Holds no logic.
"""

from __future__ import annotations

from collections import Counter

from bot.usecases.autocreate import AutoCreate
from bot.usecases.rules import DryRun, Rules, RuleSpec
from storage.rules import Rule, RuleChange


class RuleUseCases:
    """`Snowbot`'s creation-rule methods; `rules` and `autocreate` are set by `Snowbot.__init__`."""

    rules: Rules | None
    autocreate: AutoCreate | None

    def _rules(self) -> Rules:
        assert self.rules is not None, "built by bot.composition.build_snowbot"
        return self.rules

    async def list_rules(self) -> list[Rule]:
        return await self._rules().all()

    async def get_rule(self, rule_id: int) -> Rule:
        return await self._rules().get(rule_id)

    async def rule_changes(self, rule_id: int) -> list[RuleChange]:
        return await self._rules().changes(rule_id)

    async def create_rule(self, spec: RuleSpec, actor: str) -> Rule:
        return await self._rules().create(spec, actor=actor)

    async def update_rule(self, rule_id: int, spec: RuleSpec, actor: str) -> Rule:
        return await self._rules().update(rule_id, spec, actor=actor)

    async def set_rule_enabled(self, rule_id: int, enabled: bool, actor: str) -> Rule:
        return await self._rules().set_enabled(rule_id, enabled, actor=actor)

    async def delete_rule(self, rule_id: int, actor: str) -> None:
        await self._rules().delete(rule_id, actor=actor)

    async def rule_dry_run(self, rule_id: int, last: int = 50) -> DryRun:
        return await self._rules().dry_run(rule_id, last=last)

    async def poll_new_anomalies(self) -> Counter[str]:
        """One poll round of the creation rules (the scheduler's job)."""
        assert self.autocreate is not None
        return await self.autocreate.poll()

    async def new_anomalies_notified(self, anomaly_ids: list[int]) -> Counter[str]:
        """The Qualytics webhook named these anomalies: evaluate the new ones against the rules."""
        assert self.autocreate is not None
        return await self.autocreate.notified(anomaly_ids)
