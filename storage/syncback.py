"""ServiceNow back to Qualytics and Slack: each integration's mode, the watermarks, what was last handled
per ticket, and the outbox of what crosses (`bot.sync.back` is the one caller).

- `integrations.sync_back`: `off` (default), `comment` or `comment_and_archive`.
- A watermark per integration and ticket table: the newest `sys_updated_on` handled. It only grows
  (`advance_watermark`), and the caller advances it after the changed tickets were recorded.
- `syncback_tickets`: per ticket the `sys_updated_on` and state last handled, and whether its closure was
  recorded (`closed`), so a ticket the watermark query answers again is not read again.
- `syncback_outbox`: one row per (link, entry key): a journal entry (its sys_id or stable key), a closure
  (`closed:<updated_on>`) or the archive. Rows are inserted with ON CONFLICT DO NOTHING in the transaction
  that records the ticket as handled, so an entry crosses once across restarts. Each row has a Slack state
  (`pending` -> `sent`, claimed before the post: at most once) and a Qualytics state (`pending` ->
  `sending` (a lease, `attempts` counted) -> `done` / `failed`); a row whose earlier attempt may have
  reached Qualytics (`maybe_sent`) is looked for by its `marker` among the anomaly's comments first.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, field_validator

from storage.db import Database, atomic, aware, iso

Mode = Literal["off", "comment", "comment_and_archive"]
MODES: tuple[Mode, ...] = ("off", "comment", "comment_and_archive")
ItemKind = Literal["note", "closed", "archive"]
LEASE = timedelta(minutes=5)


class TicketSeen(BaseModel):
    ticket_sys_id: str
    ticket_table: str
    updated_on: str
    mod_count: int = 0
    state: str
    closed: bool


class NewItem(TypedDict):
    link_id: int
    entry_key: str
    kind: ItemKind
    payload: dict[str, Any]
    slack: bool
    qualytics: bool


class BackItem(BaseModel):
    id: int
    link_id: int
    entry_key: str
    kind: ItemKind
    payload: dict[str, Any]
    marker: str
    slack_state: str
    qualytics_state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None

    @field_validator("payload", mode="before")
    @classmethod
    def _parse_payload(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def maybe_sent(self) -> bool:
        """An earlier attempt may have reached Qualytics: look for `marker` before sending again."""
        return self.attempts > 0


def new_marker() -> str:
    return f"snowback-{secrets.token_hex(8)}"


# --- modes and watermarks ----------------------------------------------------------------------------


def mode(db: Database, integration_id: int) -> Mode:
    rows = list(db.query("SELECT sync_back FROM integrations WHERE id = ?", [integration_id]))
    value = rows[0]["sync_back"] if rows else "off"
    return value if value in MODES else "off"


def set_mode(db: Database, integration_id: int, value: Mode) -> bool:
    """Set the integration's mode; False when there is no such integration."""
    if value not in MODES:
        raise ValueError(f"sync_back must be one of {', '.join(MODES)}")
    with atomic(db):
        return (
            db.execute("UPDATE integrations SET sync_back = ? WHERE id = ?", [value, integration_id]).rowcount
            > 0
        )


def watermark(db: Database, integration_id: int, table: str) -> str | None:
    rows = list(
        db.query(
            "SELECT updated_on FROM syncback_watermarks WHERE integration_id = ? AND ticket_table = ?",
            [integration_id, table],
        )
    )
    return rows[0]["updated_on"] if rows else None


def advance_watermark(db: Database, integration_id: int, table: str, updated_on: str) -> None:
    """Move the watermark to `updated_on` unless it is there or later already."""
    with atomic(db):
        db.execute(
            "INSERT INTO syncback_watermarks (integration_id, ticket_table, updated_on) VALUES (?, ?, ?) "
            "ON CONFLICT (integration_id, ticket_table) DO UPDATE SET updated_on = excluded.updated_on "
            "WHERE excluded.updated_on > syncback_watermarks.updated_on",
            [integration_id, table, updated_on],
        )


# --- tickets -----------------------------------------------------------------------------------------


def seen(db: Database, integration_id: int, sys_ids: Sequence[str]) -> dict[str, TicketSeen]:
    """What was last handled of each of these tickets (those never handled are missing)."""
    found: dict[str, TicketSeen] = {}
    ids = list(dict.fromkeys(sys_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        # Only placeholders are joined in; the values go as parameters.
        sql = (
            "SELECT ticket_sys_id, ticket_table, updated_on, mod_count, state, closed FROM syncback_tickets "  # noqa: S608
        )
        sql += "WHERE integration_id = ? AND ticket_sys_id IN (" + marks + ")"
        rows = db.query(sql, [integration_id, *chunk])
        found.update((row["ticket_sys_id"], TicketSeen.model_validate(row)) for row in rows)
    return found


def record_ticket(
    db: Database,
    *,
    integration_id: int,
    table: str,
    sys_id: str,
    updated_on: str,
    mod_count: int = 0,
    state: str,
    closed: bool,
    items: Iterable[NewItem],
    now: datetime | None = None,
) -> int:
    """In one transaction: the ticket as handled now, and its outbox rows (a row already there is kept);
    returns how many rows are new."""
    moment = iso(now)
    added = 0
    with atomic(db):
        for item in items:
            done = not item["slack"] and not item["qualytics"]
            added += db.execute(
                "INSERT INTO syncback_outbox (link_id, entry_key, kind, payload, marker, slack_state, "
                "qualytics_state, next_attempt_at, created_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (link_id, entry_key) DO NOTHING",
                [
                    item["link_id"],
                    item["entry_key"],
                    item["kind"],
                    json.dumps(item["payload"], sort_keys=True),
                    new_marker(),
                    "pending" if item["slack"] else "none",
                    "pending" if item["qualytics"] else "none",
                    moment,
                    moment,
                    moment if done else None,
                ],
            ).rowcount
        db.execute(
            "INSERT INTO syncback_tickets (integration_id, ticket_sys_id, ticket_table, updated_on, mod_count, "
            "state, closed) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integration_id, ticket_sys_id) DO UPDATE "
            "SET ticket_table = excluded.ticket_table, updated_on = excluded.updated_on, "
            "mod_count = excluded.mod_count, state = excluded.state, closed = excluded.closed",
            [integration_id, sys_id, table, updated_on, mod_count, state, int(closed)],
        )
    return added


def checked(db: Database, link_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """The links' tickets were asked about now and had not changed: their `last_synced_at` says so."""
    stamp = iso(now)
    with atomic(db):
        db.conn.executemany(
            "UPDATE links SET last_synced_at = ? WHERE id = ?", [(stamp, link_id) for link_id in link_ids]
        )


def states(db: Database, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """The last handled state of each (integration, ticket sys_id) known."""
    found: dict[tuple[int, str], str] = {}
    for integration_id, sys_id in pairs:
        rows = list(
            db.query(
                "SELECT state FROM syncback_tickets WHERE integration_id = ? AND ticket_sys_id = ?",
                [integration_id, sys_id],
            )
        )
        if rows:
            found[(integration_id, sys_id)] = rows[0]["state"]
    return found


# --- the outbox --------------------------------------------------------------------------------------


def due(db: Database, now: datetime | None = None, limit: int = 500) -> list[BackItem]:
    """Rows with a Slack post to make, or a Qualytics write due now (a lease that ran out included),
    oldest first."""
    rows = db.query(
        "SELECT * FROM syncback_outbox WHERE slack_state = 'pending' OR "
        "(qualytics_state IN ('pending', 'sending') AND next_attempt_at <= ?) ORDER BY id LIMIT ?",
        [iso(now), limit],
    )
    return [BackItem.model_validate(row) for row in rows]


def items(db: Database, link_id: int | None = None) -> list[BackItem]:
    if link_id is None:
        rows = db.query("SELECT * FROM syncback_outbox ORDER BY id")
    else:
        rows = db.query("SELECT * FROM syncback_outbox WHERE link_id = ? ORDER BY id", [link_id])
    return [BackItem.model_validate(row) for row in rows]


def claim_slack(db: Database, item_id: int) -> bool:
    """Take the row's Slack post (before it is made: a crash then skips it, never repeats it)."""
    with atomic(db):
        return (
            db.execute(
                "UPDATE syncback_outbox SET slack_state = 'sent' WHERE id = ? AND slack_state = 'pending'",
                [item_id],
            ).rowcount
            > 0
        )


def claim(db: Database, item_id: int, *, now: datetime | None = None, lease: timedelta = LEASE) -> bool:
    """Claim the row's Qualytics write for one attempt (counted in `attempts`); False when not due."""
    moment = aware(now)
    with atomic(db):
        return (
            db.execute(
                "UPDATE syncback_outbox SET qualytics_state = 'sending', attempts = attempts + 1, "
                "next_attempt_at = ? WHERE id = ? AND qualytics_state IN ('pending', 'sending') "
                "AND next_attempt_at <= ?",
                [iso(moment + lease), item_id, iso(moment)],
            ).rowcount
            > 0
        )


def mark_done(db: Database, item_id: int, *, now: datetime | None = None) -> None:
    with atomic(db):
        db.execute(
            "UPDATE syncback_outbox SET qualytics_state = 'done', done_at = ?, last_error = NULL WHERE id = ?",
            [iso(now), item_id],
        )


def mark_retry(db: Database, item_id: int, error: str, next_attempt_at: datetime) -> None:
    with atomic(db):
        db.execute(
            "UPDATE syncback_outbox SET qualytics_state = 'pending', last_error = ?, next_attempt_at = ? "
            "WHERE id = ? AND qualytics_state = 'sending'",
            [error[:500], iso(next_attempt_at), item_id],
        )


def mark_failed(db: Database, item_id: int, error: str) -> None:
    with atomic(db):
        db.execute(
            "UPDATE syncback_outbox SET qualytics_state = 'failed', last_error = ? WHERE id = ?",
            [error[:500], item_id],
        )


def open_before(db: Database, anomaly_id: int, item_id: int) -> int:
    """Qualytics writes of the anomaly's links recorded before `item_id` and not settled yet (an archive
    waits for them: an archived anomaly takes no comments)."""
    rows = db.query(
        "SELECT COUNT(*) AS n FROM syncback_outbox o JOIN links l ON l.id = o.link_id WHERE l.anomaly_id = ? "
        "AND o.id < ? AND o.qualytics_state IN ('pending', 'sending')",
        [anomaly_id, item_id],
    )
    return int(next(iter(rows))["n"])
