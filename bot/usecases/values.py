"""The values the ticket use cases take and return (no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass

from servicenow import Incident
from storage.links import Link


@dataclass(frozen=True)
class SlackContext:
    """Where in Slack a link was made, so the sync job can answer in the same thread."""

    channel_id: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class TicketCreated:
    incident: Incident
    link: Link
    anomaly_id: int
    integration_id: int
    message: str
    announced: bool = False
    """Made by an earlier, interrupted request and announced in Slack already: do not announce it again."""


@dataclass(frozen=True)
class TicketLinked:
    incident: Incident
    link: Link
    message: str


@dataclass(frozen=True)
class TicketPage:
    items: list[Incident]
    total: int
    page: int
    size: int
    pages: int


@dataclass(frozen=True)
class AnomalyTickets:
    """An anomaly's links, and each instance's name by integration id when there are several ({}: one)."""

    links: list[Link]
    instances: dict[int, str]
