"""`/api/rules`: creation rules over REST (list, create, read, change, delete, dry run). Each handler:
parse -> one use case -> shape; the bodies are defined here (`RuleIn`, `RulePatch`, `RuleOut`, ...).
Every change is recorded with the actor `api` (the REST API has one token, no person).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.api.auth import bearer_scheme, protected_route
from bot.api.routes import API_ACTOR, BODY_RESPONSES, ERROR_RESPONSES, MAX_ID, Bot
from bot.models import UtcTimestamp
from bot.usecases.rules import DRY_RUN_MAX, DryRun, RuleSpec
from storage.rules import Rule, RuleChange

RuleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The rule's id.")]


class Match(BaseModel):
    """Every condition given must hold; none given: every new open anomaly."""

    model_config = ConfigDict(extra="forbid")
    datastore: int | None = Field(default=None, ge=1, le=MAX_ID, description="Datastore id.")
    container: int | None = Field(default=None, ge=1, le=MAX_ID, description="Container id.")
    anomaly_type: Literal["record", "shape"] | None = None
    rule_type: str | None = Field(
        default=None, max_length=100, description="A failed check's rule type, e.g. notNull."
    )
    tag: str | None = Field(default=None, max_length=100)
    min_weight: float | None = Field(default=None, ge=0, description="Weight (severity) at least this.")
    status: str | None = Field(default=None, max_length=40, description="Default: Active or Acknowledged.")


class Template(BaseModel):
    """The ticket. `short_description` and `description` may use `{field}` placeholders over the anomaly
    (id, type, status, weight, records, description, datastore, datastore_id, container, container_id,
    rule_type, check, message, fields, tags, created, fingerprint, url); any other is refused (422)."""

    model_config = ConfigDict(extra="forbid")
    short_description: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=4000)
    urgency: str | None = Field(default=None, max_length=1)
    impact: str | None = Field(default=None, max_length=1)
    category: str | None = Field(default=None, max_length=100)
    subcategory: str | None = Field(default=None, max_length=100)
    assignment_group: str | None = Field(default=None, max_length=32, description="The group's sys_id.")
    assigned_to: str | None = Field(default=None, max_length=32, description="The user's sys_id.")


class RulePatch(BaseModel):
    """The fields given are changed; `"enabled": true` also clears a pause."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=80)
    match: Match | None = None
    template: Template | None = None
    ticket_kind: str | None = Field(default=None, max_length=40, description="Default incident.")
    integration_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Default: the default integration."
    )
    channel_id: str | None = Field(default=None, max_length=40, description="Slack channel of the cards.")
    enabled: bool | None = None
    recurrence_window: int | None = Field(default=None, ge=0, le=365 * 86400, description="Seconds.")
    max_per_hour: int | None = Field(default=None, ge=1, le=10_000, description="The rate guard; default 20.")

    def spec(self) -> RuleSpec:
        given = set(self.model_fields_set)
        values: dict[str, Any] = {name: getattr(self, name) for name in given}
        for name in ("match", "template"):
            if values.get(name) is not None:
                values[name] = values[name].model_dump(exclude_none=True)
        return RuleSpec(**values, given=given)


class RuleIn(RulePatch):
    name: str = Field(min_length=1, max_length=80)
    template: Template
    enabled: bool = Field(default=True, description="A rule created disabled is enabled after its dry run.")


class RuleOut(BaseModel):
    id: int
    name: str
    enabled: bool
    paused_reason: str | None = Field(description="Why snowbot paused it (the rate guard); null otherwise.")
    match: dict[str, Any]
    template: dict[str, Any]
    ticket_kind: str
    integration_id: int | None
    channel_id: str | None
    recurrence_window: int
    max_per_hour: int
    created_by: str
    created_at: UtcTimestamp
    updated_by: str
    updated_at: UtcTimestamp

    @classmethod
    def from_rule(cls, rule: Rule) -> RuleOut:
        return cls.model_validate(rule.model_dump())


class RuleChangeOut(BaseModel):
    action: str
    actor: str
    detail: dict[str, Any]
    at: UtcTimestamp

    @classmethod
    def from_change(cls, change: RuleChange) -> RuleChangeOut:
        return cls.model_validate(change.model_dump())


class DryRunItemOut(BaseModel):
    anomaly_id: int
    outcome: Literal["create", "recur", "has_ticket", "no_match"]
    short_description: str | None = Field(description="The ticket's, for `create`.")
    ticket_number: str | None = Field(description="The ticket it has (`has_ticket`) or would join (`recur`).")


class DryRunOut(BaseModel):
    rule: RuleOut
    looked_at: int
    would_create: int
    over_rate: bool = Field(description="The creates would pause the rule (more than max_per_hour).")
    items: list[DryRunItemOut]

    @classmethod
    def from_dry_run(cls, run: DryRun) -> DryRunOut:
        return cls(
            rule=RuleOut.from_rule(run.rule),
            looked_at=run.looked_at,
            would_create=run.would_create,
            over_rate=run.over_rate,
            items=[DryRunItemOut.model_validate(item, from_attributes=True) for item in run.items],
        )


class RuleDetail(RuleOut):
    changes: list[RuleChangeOut] = Field(description="Every change: who and when, oldest first.")


def build_rules_router(token: SecretStr | None) -> APIRouter:
    router = APIRouter(
        prefix="/api",
        route_class=protected_route(token),
        dependencies=[Depends(bearer_scheme)],
        responses=ERROR_RESPONSES,
        tags=["rules"],
    )

    @router.get("/rules")
    async def list_rules(bot: Bot) -> list[RuleOut]:
        """Every creation rule, in the order they are tried (the first that matches decides)."""
        return [RuleOut.from_rule(rule) for rule in await bot.list_rules()]

    @router.post("/rules", status_code=201, responses=BODY_RESPONSES)
    async def create_rule(bot: Bot, body: RuleIn) -> RuleOut:
        return RuleOut.from_rule(await bot.create_rule(body.spec(), actor=API_ACTOR))

    @router.get("/rules/{rule_id}")
    async def get_rule(bot: Bot, rule_id: RuleId) -> RuleDetail:
        rule = await bot.get_rule(rule_id)
        changes = [RuleChangeOut.from_change(c) for c in await bot.rule_changes(rule_id)]
        return RuleDetail.model_validate({**RuleOut.from_rule(rule).model_dump(), "changes": changes})

    @router.patch("/rules/{rule_id}", responses=BODY_RESPONSES)
    async def update_rule(bot: Bot, rule_id: RuleId, body: RulePatch) -> RuleOut:
        return RuleOut.from_rule(await bot.update_rule(rule_id, body.spec(), actor=API_ACTOR))

    @router.delete("/rules/{rule_id}", status_code=204, response_class=Response)
    async def delete_rule(bot: Bot, rule_id: RuleId) -> Response:
        await bot.delete_rule(rule_id, actor=API_ACTOR)
        return Response(status_code=204)

    @router.post("/rules/{rule_id}/dry-run")
    async def dry_run_rule(
        bot: Bot,
        rule_id: RuleId,
        last: Annotated[
            int, Query(ge=1, le=DRY_RUN_MAX, description="How many of the newest anomalies.")
        ] = 50,
    ) -> DryRunOut:
        """What the rule would have done with the newest anomalies; nothing is created or changed."""
        return DryRunOut.from_dry_run(await bot.rule_dry_run(rule_id, last=last))

    return router
