"""The ticket form: what a person fills in (`TicketForm`, validated before any call; its `ticket_type`
picks the `TicketKind`), the form's specification per kind (labels, types, allowed values; category and
subcategory from the instance's sys_choice, cached per integration and kind), the kinds the instance has
(a kind whose table answers "Invalid table", e.g. without the Agile Development plugin, is left out with a
hint; probed once per integration), the look-ups behind its selects (groups, users, the caller by
e-mail) and the draft a create form is prefilled with.

Never writes to ServiceNow (`bot.usecases.tickets` does).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, replace

from bot.models import SHORT_DESCRIPTION_MAX, FormField, FormOption, FormSpecification
from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Runtime
from bot.usecases.connections import Connections
from bot.usecases.description import anomaly_block
from bot.usecases.errors import InvalidInput, NotConnected, UseCaseError, servicenow_errors
from bot.usecases.instances import Instance, choosable
from qualytics_api import Anomaly
from servicenow import Choice, Group, User
from servicenow.errors import PermissionDeniedError, ServiceNowError
from servicenow.kinds import INCIDENT, KINDS, TICKET_TYPES, TicketKind, kind_of_type

log = logging.getLogger(__name__)

SYS_ID = re.compile(r"^[0-9a-fA-F]{32}$")
LEVELS = dict(INCIDENT.levels)
PRIORITIES = {str(code): label for code, label in INCIDENT.priorities.items()}
CHOICES_REFUSED_HINT = (
    "Category and subcategory are free text: ServiceNow refused snowbot's read of its choice lists "
    "(sys_choice). An admin can grant read on sys_choice's label, value, element and dependent_value to the "
    "service account's role; `/snow status` shows the refusal."
)
KIND_UNAVAILABLE_HINT = (
    "{labels} cannot be created here: this ServiceNow instance has no {tables} table (the Agile Development "
    "plugin is not active). An admin can activate it; snowbot offers them once it is."
)
KIND_PROBE_TTL = 3600.0
"""How long the kinds an instance has are remembered (a plugin activated meanwhile shows after it)."""
CHOICES_UNAVAILABLE_HINT = (
    "Category and subcategory are free text: ServiceNow's choice lists (sys_choice) could not be read just "
    "now. Type the values exactly as ServiceNow stores them."
)


@dataclass
class TicketForm:
    """What a person filled in to create an incident (the REST body's `title` is `short_description`)."""

    short_description: str
    description: str | None = None
    urgency: str | None = None
    impact: str | None = None
    category: str | None = None
    subcategory: str | None = None
    assignment_group: str | None = None
    assigned_to: str | None = None
    caller_id: str | None = None
    ticket_type: str | None = None
    """`incident` (None), `problem`, `defect` or `enhancement` (`servicenow.kinds.TICKET_TYPES`)."""
    priority: str | None = None
    """Sent only for a kind whose instance does not compute it (Defect, Enhancement)."""

    @property
    def kind(self) -> TicketKind:
        return kind_of_type(self.ticket_type)

    def validated(self) -> TicketForm:
        """The form with blanks made None; raises `InvalidInput` naming the first bad field."""
        clean = replace(self)
        for name, value in vars(self).items():
            if isinstance(value, str):
                setattr(clean, name, value.strip() or None)
        if clean.ticket_type is not None:
            clean.ticket_type = clean.ticket_type.lower()
            if clean.ticket_type not in TICKET_TYPES and clean.ticket_type not in KINDS:
                raise InvalidInput(
                    f"Ticket type {clean.ticket_type!r} is not one snowbot creates: use one of "
                    f"{', '.join(TICKET_TYPES)}.",
                    field="ticket_type",
                )
        if clean.priority is not None and clean.priority not in PRIORITIES:
            raise InvalidInput("Priority must be 1 to 5 (1 - Critical ... 5 - Planning).", field="priority")
        if not clean.short_description:
            raise InvalidInput("A short description is required.", field="short_description")
        if len(clean.short_description) > SHORT_DESCRIPTION_MAX:
            raise InvalidInput(
                f"The short description has {len(clean.short_description)} characters; ServiceNow allows at most "
                f"{SHORT_DESCRIPTION_MAX}.",
                field="short_description",
            )
        for name in ("urgency", "impact"):
            value = getattr(clean, name)
            if value is not None and value not in LEVELS:
                raise InvalidInput(
                    f"{name.capitalize()} must be 1, 2 or 3 (1 - High ... 3 - Low).", field=name
                )
        for name, what in (
            ("assignment_group", "group (User Administration → Groups → Copy sys_id)"),
            ("assigned_to", "user"),
            ("caller_id", "user"),
        ):
            value = getattr(clean, name)
            if value is not None:
                if not SYS_ID.match(value):
                    raise InvalidInput(
                        f"{name.replace('_', ' ').capitalize()} must be the sys_id (32 hex characters) of the {what}, "
                        "not its name.",
                        field=name,
                    )
                setattr(clean, name, value.lower())
        return clean

    def incident_fields(self, description: str, correlation_id: str) -> dict[str, str]:
        """The create's fields: those the kind's table has (`TicketKind.create_fields`); for a kind whose
        instance does not compute priority, the one chosen or the lookup of urgency and impact."""
        kind = self.kind
        fields = {
            "short_description": self.short_description,
            "description": description,
            "correlation_id": correlation_id,
        }
        for name in (
            "urgency",
            "impact",
            "category",
            "subcategory",
            "assignment_group",
            "assigned_to",
            "caller_id",
        ):
            value = getattr(self, name)
            if value is not None and name in kind.create_fields:
                fields[name] = value
        if not kind.computes_priority:
            chosen = self.priority
            if chosen is None and (self.urgency or self.impact):
                chosen = str(kind.priority_for(self.urgency or "3", self.impact or "3")[0])
            if chosen is not None:
                fields["priority"] = chosen
        return fields


@dataclass(frozen=True)
class TicketDraft:
    """What the create form starts from: the anomaly, its details block (the prefilled description), the
    form's fields and choices, and the ServiceNow user matching the person's e-mail (None: the service
    account files the incident)."""

    anomaly: Anomaly
    url: str
    description: str
    form: FormSpecification
    caller: User | None
    choices_hint: str | None = None
    """Why category and subcategory are free text (None: the instance's lists were read)."""
    integration_id: int | None = None
    """The instance the form is for (None: the default one)."""
    instances: tuple[Instance, ...] = ()
    """The instances the form offers (`bot.usecases.instances.choosable`); a choice only when several."""
    recurrence_hint: str | None = None
    """An earlier occurrence's open ticket, offered instead of a new one (`bot.usecases.recurrence`)."""
    kinds: tuple[TicketKind, ...] = (INCIDENT,)
    """The kinds the instance has (the form offers these)."""
    kinds_hint: str | None = None
    """Why some kinds are not offered (None: all are)."""


def _options(values: dict[str, str]) -> list[FormOption]:
    return [FormOption(value=value, label=label) for value, label in values.items()]


FORM_FIELDS_BEFORE_CHOICES = (
    FormField(
        name="title",
        servicenow_field="short_description",
        label="Short Description",
        type="string",
        required=True,
        max_length=SHORT_DESCRIPTION_MAX,
        help="Brief summary of the data quality issue.",
    ),
    FormField(
        name="description",
        servicenow_field="description",
        label="Description",
        type="text",
        help="Left empty, it is filled with the anomaly's details and a link back to Qualytics.",
    ),
    FormField(
        name="priority",
        servicenow_field="priority",
        label="Priority",
        type="choice",
        read_only=True,
        options=_options(PRIORITIES),
        help="Computed by ServiceNow from Impact x Urgency; a value sent is ignored.",
    ),
    FormField(
        name="urgency",
        servicenow_field="urgency",
        label="Urgency",
        type="choice",
        default="3",
        options=_options(LEVELS),
    ),
    FormField(
        name="impact",
        servicenow_field="impact",
        label="Impact",
        type="choice",
        default="3",
        options=_options(LEVELS),
    ),
)
PRIORITY_CHOICE = FormField(
    name="priority",
    servicenow_field="priority",
    label="Priority",
    type="choice",
    default="4",
    options=_options(PRIORITIES),
    help="Sent as chosen: this kind has no impact and urgency to compute it from.",
)
FORM_FIELDS_AFTER_CHOICES = (
    FormField(
        name="assignment_group",
        servicenow_field="assignment_group",
        label="Assignment Group",
        type="reference",
        reference_table="sys_user_group",
        help="The group's sys_id, not its name (User Administration → Groups → Copy sys_id).",
    ),
    FormField(
        name="assigned_to",
        servicenow_field="assigned_to",
        label="Assigned To",
        type="reference",
        reference_table="sys_user",
        help="The assignee's sys_id.",
    ),
)


def choice_field(
    name: str, label: str, choices: list[Choice] | None, *, depends_on: str | None = None
) -> FormField:
    """A drop-down of the instance's values, or free text when they could not be read."""
    if choices is None:
        return FormField(
            name=name,
            servicenow_field=name,
            label=label,
            type="string",
            max_length=100,
            depends_on=depends_on,
            help=f"The {label.lower()} value exactly as in ServiceNow (case-sensitive); the instance's choice "
            "list could not be read.",
        )
    options = [FormOption(value=c.value, label=c.label, dependent_value=c.dependent_value) for c in choices]
    return FormField(
        name=name, servicenow_field=name, label=label, type="choice", options=options, depends_on=depends_on
    )


def kind_fields(kind: TicketKind, fields: list[FormField]) -> list[FormField]:
    """The form's fields a kind has: impact/urgency (else priority to choose), category (else none)."""
    kept = [
        field
        for field in fields
        if field.name in ("title", "description", "assignment_group", "assigned_to")
        or (field.name in ("urgency", "impact", "priority") and kind.has_levels)
        or (field.name in ("category", "subcategory") and kind.has_categories)
    ]
    if not kind.has_levels:
        kept.insert(2, PRIORITY_CHOICE)
    return kept


@dataclass
class _KindProbe:
    generation: int
    expires: float
    missing: tuple[TicketKind, ...]


@dataclass
class _ChoiceCache:
    generation: int
    """The integration's client generation the lists were read with (`Connections.generation`)."""
    expires: float
    categories: list[Choice] | None
    subcategories: list[Choice] | None
    hint: str | None = None


class TicketForms:
    """The form and its look-ups, over the connections and Qualytics."""

    def __init__(
        self,
        *,
        connections: Connections,
        anomalies: Anomalies,
        runtime: Runtime,
        kind: TicketKind = INCIDENT,
    ) -> None:
        self.connections = connections
        self.anomalies = anomalies
        self.runtime = runtime
        self.kind = kind
        self._choices: dict[tuple[int, str], _ChoiceCache] = {}
        self._kinds: dict[int, _KindProbe] = {}

    async def specification(
        self, kind: TicketKind | None = None, *, integration_id: int | None = None
    ) -> FormSpecification:
        """The create form of a kind (default incident) on an instance (None: the default one): labels,
        types, required flags and allowed values (category/subcategory from the instance's sys_choice,
        cached; free text when they cannot be read), and the ticket types the instance has."""
        kind = kind or self.kind
        available, _ = await self.available_kinds(integration_id=integration_id)
        categories, subcategories = (
            await self._instance_choices(kind, integration_id) if kind.has_categories else ([], [])
        )
        fields = [
            *FORM_FIELDS_BEFORE_CHOICES,
            choice_field("category", "Category", categories),
            choice_field("subcategory", "Subcategory", subcategories, depends_on="category"),
            *FORM_FIELDS_AFTER_CHOICES,
        ]
        return FormSpecification(
            ticket_type=kind.type_name,
            ticket_types=[known.type_name for known in available],
            fields=kind_fields(kind, fields),
            choices_source="free_text" if categories is None else "instance",
        )

    async def available_kinds(
        self, *, integration_id: int | None = None
    ) -> tuple[tuple[TicketKind, ...], str | None]:
        """The kinds an instance (None: the default one) has, and a hint naming those it lacks (None: it
        has all). Each kind's table is probed once per integration (`KIND_PROBE_TTL`); a probe that fails
        otherwise than "Invalid table" counts the kind as present (submitting then says what ServiceNow
        said)."""
        try:
            integration = await self.connections.integration(integration_id)
        except NotConnected:
            return tuple(KINDS.values()), None
        probe = self._kinds.get(integration.id)
        now = self.runtime.monotonic()
        if (
            probe is None
            or probe.generation != self.connections.generation(integration.id)
            or probe.expires <= now
        ):
            missing: list[TicketKind] = []
            try:
                client = await self.connections.client(integration)
                for kind in KINDS.values():
                    if kind is not INCIDENT and not await client.has_table(kind):
                        missing.append(kind)
                expires = now + KIND_PROBE_TTL
            except (ServiceNowError, UseCaseError) as err:
                log.info("ticket kinds not probed now: %s", type(err).__name__)
                expires = now + 30.0
            generation = self.connections.generation(integration.id)  # the client's, once it exists
            probe = self._kinds[integration.id] = _KindProbe(generation, expires, tuple(missing))
        available = tuple(kind for kind in KINDS.values() if kind not in probe.missing)
        return available, kind_hint(probe.missing)

    async def check_kind(self, kind: TicketKind, *, integration_id: int | None = None) -> None:
        """`InvalidInput` naming what to do when the instance lacks the kind's table (an incident is never
        probed: every instance has the table)."""
        if kind is INCIDENT:
            return
        available, hint = await self.available_kinds(integration_id=integration_id)
        if kind not in available:
            raise InvalidInput(hint or f"This instance has no {kind.table} table.", field="ticket_type")

    async def draft(
        self,
        *,
        anomaly_id: int,
        caller_email: str | None = None,
        kind: TicketKind | None = None,
        integration_id: int | None = None,
    ) -> TicketDraft:
        """Everything a create form is prefilled with; the anomaly is read, the rest is best effort. A
        kind the instance lacks falls back to incident (the hint says why)."""
        chosen = (await self.connections.chosen(integration_id)).id if integration_id is not None else None
        available, kinds_hint = await self.available_kinds(integration_id=chosen)
        kind = kind if kind in available else self.kind
        anomaly, form, caller, offered = await asyncio.gather(
            self.anomalies.get(anomaly_id),
            self.specification(kind, integration_id=chosen),
            self.caller_for_email(caller_email or "", integration_id=chosen),
            self.connections.list_integrations(),
        )
        url = self.anomalies.url(anomaly)
        return TicketDraft(
            anomaly=anomaly,
            url=url,
            description=anomaly_block(anomaly, url, self.runtime.clock()),
            form=form,
            caller=caller,
            choices_hint=await self._choices_hint(kind, chosen)
            if form.choices_source == "free_text"
            else None,
            integration_id=chosen
            if chosen is not None
            else next((i.id for i in offered if i.is_default), None),
            instances=tuple(choosable(offered)),
            kinds=available,
            kinds_hint=kinds_hint,
        )

    async def search_groups(
        self, *, text: str, limit: int = 20, integration_id: int | None = None
    ) -> list[Group]:
        client = await self.connections.chosen_client(integration_id)
        with servicenow_errors("searching assignment groups"):
            return await client.search_groups(text, limit=limit)

    async def search_users(
        self, *, text: str, limit: int = 20, integration_id: int | None = None
    ) -> list[User]:
        client = await self.connections.chosen_client(integration_id)
        with servicenow_errors("searching users"):
            return await client.search_users(text, limit=limit)

    async def caller_for_email(self, email: str, *, integration_id: int | None = None) -> User | None:
        """The ServiceNow user with this e-mail, best effort: None when unknown or unreachable."""
        if not email or "@" not in email:
            return None
        try:
            client = await self.connections.chosen_client(integration_id)
            return await client.find_user_by_email(email)
        except (UseCaseError, ServiceNowError) as err:
            log.info("no caller for an e-mail address: %s", type(err).__name__)
            return None

    async def check_choices(self, form: TicketForm, *, integration_id: int | None = None) -> None:
        """`InvalidInput` when the category or subcategory is not one of the instance's (when it has lists)."""
        if form.category is None and form.subcategory is None or not form.kind.has_categories:
            return
        categories, subcategories = await self._instance_choices(form.kind, integration_id)
        if categories is not None and form.category is not None:
            allowed = [c.value for c in categories]
            if form.category not in allowed:
                raise InvalidInput(
                    f"Category {form.category!r} is not a category of this instance (names are case-sensitive); "
                    f"use one of: {', '.join(allowed)}.",
                    field="category",
                )
        if subcategories is not None and form.subcategory is not None:
            parent = form.category or form.kind.default_category
            allowed = [
                c.value for c in subcategories if (getattr(c, "dependent_value", None) or parent) == parent
            ]
            if form.subcategory not in allowed:
                raise InvalidInput(
                    f"Subcategory {form.subcategory!r} is not a subcategory of {parent!r} on this instance; use one "
                    f"of: {', '.join(allowed) or '(none)'}.",
                    field="subcategory",
                )

    async def _instance_choices(
        self, kind: TicketKind | None = None, integration_id: int | None = None
    ) -> tuple[list[Choice] | None, list[Choice] | None]:
        kind = kind or self.kind
        try:
            integration = await self.connections.integration(integration_id)
        except NotConnected:
            return None, None
        cached = self._current(integration.id, kind)
        now = self.runtime.monotonic()
        if cached is not None and cached.expires > now:
            return cached.categories, cached.subcategories
        ttl, hint = self.runtime.choices_ttl, None
        categories: list[Choice] | None
        subcategories: list[Choice] | None
        try:
            client = await self.connections.client(integration)
            categories = await client.list_choices(kind.table, "category")
            subcategories = await client.list_choices(kind.table, "subcategory")
        except PermissionDeniedError:  # field ACLs on sys_choice (servicenow-table-api.md, corrections)
            log.info("category choices refused by the instance (sys_choice ACLs)")
            categories = subcategories = None
            hint = CHOICES_REFUSED_HINT
        except (ServiceNowError, UseCaseError) as err:
            log.info("category choices unavailable: %s", type(err).__name__)
            categories = subcategories = None
            ttl = min(ttl, 30.0)
        if categories is not None and not categories:
            categories = subcategories = None
        self._choices[(integration.id, kind.name)] = _ChoiceCache(
            self.connections.generation(integration.id),
            now + ttl,
            categories,
            subcategories,
            hint or CHOICES_UNAVAILABLE_HINT,
        )
        return categories, subcategories

    def _current(self, integration_id: int, kind: TicketKind) -> _ChoiceCache | None:
        """The cached lists, unless the integration's client was replaced since they were read."""
        cached = self._choices.get((integration_id, kind.name))
        if cached is None or cached.generation != self.connections.generation(integration_id):
            return None
        return cached

    async def _choices_hint(self, kind: TicketKind, integration_id: int | None = None) -> str:
        """Why the create form's category and subcategory are free text (after `_instance_choices`)."""
        try:
            cached = self._current((await self.connections.integration(integration_id)).id, kind)
        except NotConnected:
            cached = None
        return cached.hint if cached is not None and cached.hint else CHOICES_UNAVAILABLE_HINT


def kind_hint(missing: tuple[TicketKind, ...]) -> str | None:
    """Why the kinds in `missing` are not offered (None when none is missing)."""
    if not missing:
        return None
    labels = " and ".join(f"{kind.label}s" for kind in missing)
    tables = " and ".join(kind.table for kind in missing)
    return KIND_UNAVAILABLE_HINT.format(labels=labels, tables=tables)
