"""Links between Qualytics anomalies and ServiceNow tickets (each link names its `ticket_kind`,
`servicenow.kinds`; every link so far is an incident).

One anomaly may link to many incidents and one incident to many anomalies; the same (anomaly,
integration, incident) twice raises `DuplicateLinkError`. Deleting a link deletes its sync state and
its outbox rows (ON DELETE CASCADE). A new link is synced from the baseline its creator records with
`sync.init_state`; do both in one `storage.atomic(db)` block.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel

from servicenow.kinds import INCIDENT, TicketKind, kind_named
from storage.db import Database, atomic, insert, iso


class Link(BaseModel):
    id: int
    anomaly_id: int
    integration_id: int
    ticket_sys_id: str
    ticket_number: str
    ticket_kind: str = INCIDENT.name
    """The kind of ticket (`servicenow.kinds.KINDS`): its table, number prefix and states."""
    status: str
    url: str
    created_by: str
    created_at: datetime
    last_synced_at: datetime | None
    channel_id: str | None
    thread_ts: str | None
    anomaly_deleted_at: datetime | None = None
    """When the sync found the anomaly deleted in Qualytics; None while it exists."""

    @property
    def kind(self) -> TicketKind:
        """The link's `TicketKind` (KeyError for a kind this snowbot does not know)."""
        return kind_named(self.ticket_kind)


class DuplicateLinkError(ValueError):
    """This incident is already linked to this anomaly (through the same integration)."""

    def __init__(self, ticket_number: str, anomaly_id: int) -> None:
        super().__init__(f"{ticket_number} is already linked to anomaly {anomaly_id}.")
        self.ticket_number = ticket_number
        self.anomaly_id = anomaly_id


def _links(
    db: Database,
    where: str | None = None,
    params: list[object] | None = None,
    *,
    order_by: str = "id",
    limit: int | None = None,
) -> list[Link]:
    rows = db["links"].rows_where(where, params or [], order_by=order_by, limit=limit)
    return [Link.model_validate(row) for row in rows]


def add(
    db: Database,
    *,
    anomaly_id: int,
    integration_id: int,
    ticket_sys_id: str,
    ticket_number: str,
    status: str,
    url: str,
    created_by: str,
    ticket_kind: str = INCIDENT.name,
    channel_id: str | None = None,
    thread_ts: str | None = None,
    now: datetime | None = None,
) -> Link:
    """Store a new link; `DuplicateLinkError` if exactly this link exists (an unknown integration raises
    `sqlite3.IntegrityError`)."""
    row = {
        "anomaly_id": anomaly_id,
        "integration_id": integration_id,
        "ticket_sys_id": ticket_sys_id,
        "ticket_number": ticket_number,
        "ticket_kind": kind_named(ticket_kind).name,
        "status": status,
        "url": url,
        "created_by": created_by,
        "created_at": iso(now),
        "last_synced_at": None,
        "channel_id": channel_id,
        "thread_ts": thread_ts,
    }
    try:
        with atomic(db):  # a savepoint: the caller's transaction goes on after a duplicate (PostgreSQL too)
            link_id = insert(db, "links", row)
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc):
            raise DuplicateLinkError(ticket_number, anomaly_id) from exc
        raise
    return Link.model_validate({"id": link_id, **row})


def get(db: Database, link_id: int) -> Link | None:
    found = _links(db, "id = ?", [link_id])
    return found[0] if found else None


def for_anomaly(db: Database, anomaly_id: int) -> list[Link]:
    return _links(db, "anomaly_id = ?", [anomaly_id])


def for_ticket(db: Database, ticket_sys_id: str) -> list[Link]:
    return _links(db, "ticket_sys_id = ?", [ticket_sys_id])


def delete(db: Database, link_id: int) -> bool:
    """Delete a link with its sync state and outbox rows; False if it did not exist."""
    with atomic(db):
        return db.execute("DELETE FROM links WHERE id = ?", [link_id]).rowcount > 0


def recent(db: Database, limit: int = 10) -> list[Link]:
    """The newest links first."""
    return _links(db, order_by="id DESC", limit=limit)


def set_thread(db: Database, link_id: int, channel_id: str, thread_ts: str) -> None:
    """Remember the Slack thread that speaks for a link (later notes about its incident go there)."""
    with atomic(db):
        db.execute(
            "UPDATE links SET channel_id = ?, thread_ts = ? WHERE id = ?", [channel_id, thread_ts, link_id]
        )


def update_status(db: Database, link_id: int, status: str, synced_at: datetime | None = None) -> None:
    update_statuses(db, {link_id: status}, synced_at)


def update_statuses(db: Database, statuses: Mapping[int, str], synced_at: datetime | None = None) -> None:
    """Record each link's incident state label and the sync time, in one transaction."""
    stamp = iso(synced_at)
    with atomic(db):
        db.conn.executemany(
            "UPDATE links SET status = ?, last_synced_at = ? WHERE id = ?",
            [(status, stamp, link_id) for link_id, status in statuses.items()],
        )


def mark_anomaly_deleted(db: Database, anomaly_id: int, now: datetime | None = None) -> list[int]:
    """Record that the anomaly is gone from Qualytics on each of its links (the first time is kept);
    returns the ids of the links marked now."""
    with atomic(db):
        ids = [
            row[0]
            for row in db.execute(
                "SELECT id FROM links WHERE anomaly_id = ? AND anomaly_deleted_at IS NULL", [anomaly_id]
            )
        ]
        db.execute(
            "UPDATE links SET anomaly_deleted_at = ? WHERE anomaly_id = ? AND anomaly_deleted_at IS NULL",
            [iso(now), anomaly_id],
        )
    return ids


def anomaly_ids(db: Database) -> list[int]:
    """Every anomaly that has at least one link, ascending."""
    return [
        row["anomaly_id"] for row in db.query("SELECT DISTINCT anomaly_id FROM links ORDER BY anomaly_id")
    ]


def watched(db: Database) -> list[Link]:
    """The links the sync should still poll, oldest first.

    That is every link except those `sync.set_watch(..., False)` turned off, including links whose
    `sync.init_state` has not run yet (for them `sync.get_state` is None: record a baseline, send nothing).
    """
    return _links(db, "id NOT IN (SELECT link_id FROM sync_state WHERE watch = 0)")
