"""Pydantic models of the ServiceNow records snowbot reads, parsed from Table API results.

snowbot reads with `sysparm_display_value=all`, so every field arrives as
`{"display_value": ..., "value": ...}`; the parsers also accept plain strings (display = value). Dates
are taken from `value`, which is UTC `YYYY-MM-DD HH:MM:SS` (the display value is in the API user's time
zone and format). A record that cannot be parsed raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from servicenow.kinds import INCIDENT, TicketKind

Record = Mapping[str, Any]


def _pair(record: Record, key: str) -> tuple[str, str]:
    """(value, display) of a field in any display mode; a missing field is ("", "")."""
    raw = record.get(key)
    if raw is None:
        return "", ""
    if isinstance(raw, Mapping):
        value = raw.get("value")
        display = raw.get("display_value")
        value = "" if value is None else str(value)
        return value, value if display is None else str(display)
    return str(raw), str(raw)


def _value(record: Record, key: str) -> str:
    return _pair(record, key)[0]


def _display(record: Record, key: str) -> str:
    return _pair(record, key)[1]


def _time(record: Record, key: str) -> datetime | None:
    """A UTC-aware datetime from the field's value, or None when empty."""
    text = _value(record, key).strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{key} is not a date and time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reference(record: Record, key: str) -> Reference | None:
    value, display = _pair(record, key)
    return Reference(value=value, display=display) if value else None


def _required(record: Record, key: str) -> str:
    value = _value(record, key)
    if not value:
        raise ValueError(f"the record has no {key}")
    return value


def incident_url(instance_url: str, sys_id: str, table: str = INCIDENT.table) -> str:
    """The classic-UI link to a ticket (`<table>.do`, opens inside the navigator frame)."""
    return f"{instance_url}/nav_to.do?uri={table}.do?sys_id={sys_id}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Reference(_Model):
    """A reference field: the target's sys_id and its display value (e.g. a group's name)."""

    value: str
    display: str


class Incident(_Model):
    sys_id: str
    number: str
    short_description: str
    description: str
    state: str
    state_label: str
    priority: str
    priority_label: str
    urgency: str
    urgency_label: str
    impact: str
    impact_label: str
    category: str
    subcategory: str
    assignment_group: Reference | None
    assigned_to: Reference | None
    caller_id: Reference | None
    created_on: datetime | None
    updated_on: datetime | None
    opened_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    close_code: str
    close_notes: str
    correlation_id: str
    work_notes: str
    """The journal's display text (newest entry first); often "" (the API user may not see it)."""
    active: bool
    url: str
    ticket_kind: str = INCIDENT.name
    """The kind's name (`servicenow.kinds`): the table the record was read from."""

    @classmethod
    def from_record(cls, record: Record, *, instance_url: str, kind: TicketKind = INCIDENT) -> Incident:
        sys_id = _required(record, "sys_id")
        return cls(
            ticket_kind=kind.name,
            sys_id=sys_id,
            number=_required(record, "number"),
            short_description=_value(record, "short_description"),
            description=_value(record, "description"),
            state=_value(record, "state"),
            state_label=_display(record, "state"),
            priority=_value(record, "priority"),
            priority_label=_display(record, "priority"),
            urgency=_value(record, "urgency"),
            urgency_label=_display(record, "urgency"),
            impact=_value(record, "impact"),
            impact_label=_display(record, "impact"),
            category=_value(record, "category"),
            subcategory=_value(record, "subcategory"),
            assignment_group=_reference(record, "assignment_group"),
            assigned_to=_reference(record, "assigned_to"),
            caller_id=_reference(record, "caller_id"),
            created_on=_time(record, "sys_created_on"),
            updated_on=_time(record, "sys_updated_on"),
            opened_at=_time(record, "opened_at"),
            resolved_at=_time(record, "resolved_at"),
            closed_at=_time(record, "closed_at"),
            close_code=_value(record, kind.close_code_field or "close_code"),
            close_notes=_value(record, "close_notes"),
            correlation_id=_value(record, "correlation_id"),
            work_notes=_display(record, "work_notes"),
            active=_value(record, "active").lower() == "true",
            url=incident_url(instance_url, sys_id, kind.table),
        )


INCIDENT_FIELDS = tuple(
    "sys_id number short_description description state priority urgency impact category subcategory "
    "assignment_group assigned_to caller_id sys_created_on sys_updated_on opened_at resolved_at closed_at "
    "close_code close_notes correlation_id work_notes active".split()
)
"""The incident fields snowbot asks for (`sysparm_fields`) and `Incident.from_record` reads."""

TICKET_FIELDS = tuple(
    "sys_id number short_description description state priority urgency impact category subcategory "
    "assignment_group assigned_to caller_id sys_created_on sys_updated_on resolved_at closed_at "
    "close_notes correlation_id".split()
)
"""What a create or a link's description PATCH asks back: what their callers show of the incident (the
REST API's `bot.models.Ticket`, the link's state and URL, the Slack announcement) and the correlation id
(the create's own, logged and checked). Never the journal, whose display text grows with every note (a
caller that wants it reads the incident)."""

NOTE_FIELDS = ("sys_id", "number", "state")
"""What a work-note or resolve PATCH asks back: the state (a note on a Closed or Canceled incident may be
dropped: `bot.sync.push`) and the two fields every `Incident` needs; the other fields of the answer are
empty. A real incident has about 90 fields (ServiceNowDocs c_TableAPI.md's PATCH example)."""


def read_fields(kind: TicketKind, *, journal: bool = True) -> tuple[str, ...]:
    """The fields asked for a ticket of `kind`: the incident's (a table without one answers without it)
    and the kind's own; without the journal's display text when `journal` is False."""
    base = INCIDENT_FIELDS if journal else tuple(name for name in INCIDENT_FIELDS if name != "work_notes")
    return (*base, *(name for name in kind.record_fields if name not in base))


def ticket_fields(kind: TicketKind) -> tuple[str, ...]:
    """What a create or a link's description PATCH of `kind` asks back: `TICKET_FIELDS` and the kind's own."""
    return (*TICKET_FIELDS, *(name for name in kind.record_fields if name not in TICKET_FIELDS))


class IncidentPage(_Model):
    items: list[Incident]
    total: int
    page: int
    size: int


class Choice(_Model):
    """One entry of a drop-down (sys_choice): the stored value, its label, and the parent's value if any."""

    value: str
    label: str
    dependent_value: str | None = None

    @classmethod
    def from_record(cls, record: Record) -> Choice:
        return cls(
            value=_value(record, "value"),
            label=_value(record, "label"),
            dependent_value=_value(record, "dependent_value") or None,
        )


class Group(_Model):
    sys_id: str
    name: str

    @classmethod
    def from_record(cls, record: Record) -> Group:
        return cls(sys_id=_required(record, "sys_id"), name=_value(record, "name"))


class User(_Model):
    sys_id: str
    name: str
    user_name: str
    email: str

    @classmethod
    def from_record(cls, record: Record) -> User:
        return cls(
            sys_id=_required(record, "sys_id"),
            name=_value(record, "name"),
            user_name=_value(record, "user_name"),
            email=_value(record, "email"),
        )


class JournalEntry(_Model):
    """One work note (a sys_journal_field row)."""

    sys_id: str
    text: str
    created_on: datetime | None
    created_by: str

    @classmethod
    def from_record(cls, record: Record) -> JournalEntry:
        return cls(
            sys_id=_required(record, "sys_id"),
            text=_value(record, "value"),
            created_on=_time(record, "sys_created_on"),
            created_by=_value(record, "sys_created_by"),
        )
