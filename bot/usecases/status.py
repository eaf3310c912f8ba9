"""Status: the integrations, the sync's health (the outbox's counts, the last pass, recent failures), the
reads instances refused, and the newest links (Slack's App Home and `/snow status`).

Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.usecases.base import Storage
from bot.usecases.connections import Connections
from storage import integrations, links, sync
from storage.db import Database
from storage.integrations import Integration
from storage.links import Link


@dataclass(frozen=True)
class SyncHealth:
    """The outbox's counts and the last sync pass (`storage.sync`)."""

    pending: int
    failed: int
    done: int
    last_run_at: datetime | None
    last_run_summary: dict[str, object] = field(default_factory=dict)
    recent_failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Status:
    integrations: list[Integration]
    sync: SyncHealth
    refused_reads: list[str] = field(default_factory=list)
    """Reads the instance refused the service account (sys_choice, sys_journal_field), each with what
    ServiceNow said and the ACL that grants it (`ServiceNowClient.refused_reads`)."""


@dataclass(frozen=True)
class Overview:
    """What a status screen shows: the integrations, the sync's health and the newest links."""

    status: Status
    recent_links: list[Link]


async def status(*, storage: Storage, connections: Connections) -> Status:
    refused = connections.refused_reads()
    return await storage.run(_status, refused)


async def overview(*, storage: Storage, connections: Connections, recent: int = 10) -> Overview:
    """`status()` plus the `recent` newest links."""
    current = await status(storage=storage, connections=connections)
    return Overview(status=current, recent_links=await storage.run(links.recent, recent))


def _status(db: Database, refused: list[str]) -> Status:
    return Status(integrations=integrations.list_all(db), sync=sync_health(db), refused_reads=refused)


def sync_health(db: Database) -> SyncHealth:
    counts = sync.counts(db)
    run = sync.last_run(db)
    return SyncHealth(
        pending=counts["pending"],
        failed=counts["failed"],
        done=counts["done"],
        last_run_at=run.finished_at if run else None,
        last_run_summary=dict(run.summary) if run else {},
        recent_failures=[
            f"{item.kind} (link {item.link_id}): {item.last_error}" for item in sync.failures(db, 5)
        ],
    )
