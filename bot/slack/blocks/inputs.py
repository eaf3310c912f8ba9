"""What the builders take: small frozen dataclasses, and protocols that storage's `Link`, servicenow's
`Incident` and `Choice` satisfy as they are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


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
    @property
    def integration_id(self) -> int: ...
    @property
    def ticket_kind(self) -> str: ...
    @property
    def ticket_updated_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class TicketLink:
    id: int
    anomaly_id: int
    ticket_number: str
    status: str
    url: str
    last_synced_at: datetime | None = None
    anomaly_deleted_at: datetime | None = None
    ticket_kind: str = "incident"
    ticket_updated_at: datetime | None = None
    integration_id: int = 1


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
    weight: float | None = None


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
