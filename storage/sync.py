"""Per-link sync state and the outbox that delivers work notes to ServiceNow exactly once.

The sync runs in two halves that share nothing but these tables.

Detect (poll Qualytics, compare with `sync_state`): for each link, the state holds what has already been
turned into events: `last_status`, `archived`, and the ids of the comments seen. `init_state` records the
anomaly as it is when the link is made, so nothing from before the link is ever sent. When a poll finds
something new, `record_events` inserts the outbox rows AND advances the state in one transaction.
A crash before the commit leaves neither (the next poll detects the same change again); a crash after
leaves both (the next poll sees nothing new). Each row is also unique on (link_id, event_key) and
inserted with ON CONFLICT DO NOTHING, so recording the same events twice adds nothing. Build keys with
`status_event_key` / `comment_event_key`: a status key carries the state's change counter, so a status
that comes back later (Active -> Acknowledged -> Active) is a new event, not a duplicate.

Push (`due` -> `mark_sending` -> add the note -> `mark_done`): each row has a `marker`, a unique token the
sender puts into the work note. An attempt that may have reached ServiceNow without us hearing back
(timeout, crash while "sending") leaves the row open; before trying again the sender looks for the
marker among the incident's work notes (`OutboxItem.maybe_sent`) and, if it is there, only marks the row
done. That makes delivery exactly once, not at least once.

Order: notes of one link go out in the order they were recorded. `due` returns at most one item per link:
the oldest open one, and only when its time has come; later items wait while it is pending, being sent
or backing off. An item whose last attempt failed and that will be tried again keeps its reason in
`last_error` (`counts()["retrying"]`, `retrying`). A `failed` item (refused for good, see `mark_failed`)
does not block the items after it (they would otherwise wait forever, unseen); it stays visible in
`counts`/`failures` until `requeue_failed` (`snowbot sync --requeue`) makes it pending again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, Field, field_validator

from storage.db import Database, atomic, aware, dialect, iso

Kind = Literal["status", "comment", "resolve"]
State = Literal["pending", "sending", "done", "failed"]

SENDING_LEASE = timedelta(minutes=5)
"""How long a "sending" item is left alone before `due` offers it again (the sender may have crashed)."""

RUNS_KEPT = 500


class Event(TypedDict):
    """One note to deliver, as passed to `record_events`."""

    event_key: str
    kind: Kind
    payload: dict[str, Any]


class SyncState(BaseModel):
    link_id: int
    last_status: str
    status_seq: int
    archived: bool
    resolved: bool
    watch: bool
    seen_comment_ids: frozenset[int]
    updated_at: datetime


class OutboxItem(BaseModel):
    id: int
    link_id: int
    event_key: str
    kind: Kind
    payload: dict[str, Any]
    state: State
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    done_at: datetime | None
    marker: str
    claimed_by: str | None = None
    lease_until: datetime | None = None

    @field_validator("payload", mode="before")
    @classmethod
    def _parse_payload(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def maybe_sent(self) -> bool:
        """An earlier attempt may have reached ServiceNow: look for `marker` before sending again."""
        return self.attempts > 0 or self.last_error is not None


class SyncRun(BaseModel):
    id: int
    started_at: datetime
    finished_at: datetime
    summary: dict[str, Any] = Field(default_factory=dict)

    @field_validator("summary", mode="before")
    @classmethod
    def _parse_summary(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


def status_event_key(state: SyncState, new_status: str) -> str:
    """Key for the status change from `state` to `new_status`, e.g. "status:3:Acknowledged"."""
    return f"status:{state.status_seq + 1}:{new_status}"


def comment_event_key(comment_id: int) -> str:
    return f"comment:{comment_id}"


def new_marker() -> str:
    return f"snowbot-{secrets.token_hex(8)}"


# --- state -----------------------------------------------------------------------------------------------


def init_state(
    db: Database,
    link_id: int,
    status: str,
    archived: bool,
    comment_ids: Iterable[int],
    *,
    now: datetime | None = None,
) -> SyncState:
    """Record the anomaly as it is at link time: the baseline nothing before which is sent.

    Idempotent: when the link already has a state it is kept as is (re-baselining would drop changes
    detected but not yet recorded).
    """
    with atomic(db):
        inserted = db.execute(
            "INSERT INTO sync_state (link_id, last_status, archived, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (link_id) DO NOTHING",
            [link_id, status, int(archived), iso(now)],
        ).rowcount
        if inserted:
            _add_seen(db, link_id, comment_ids)
    state = get_state(db, link_id)
    assert state is not None
    return state


def get_state(db: Database, link_id: int) -> SyncState | None:
    rows = list(db.query("SELECT * FROM sync_state WHERE link_id = ?", [link_id]))
    if not rows:
        return None
    seen = db.execute("SELECT comment_id FROM sync_seen_comments WHERE link_id = ?", [link_id])
    return SyncState.model_validate({**rows[0], "seen_comment_ids": frozenset(row[0] for row in seen)})


def _add_seen(db: Database, link_id: int, comment_ids: Iterable[int]) -> None:
    db.conn.executemany(
        "INSERT INTO sync_seen_comments (link_id, comment_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(link_id, int(comment_id)) for comment_id in comment_ids],
    )


def record_events(
    db: Database,
    link_id: int,
    new_status: str,
    archived: bool,
    new_comment_ids: Iterable[int],
    events: Sequence[Event],
    *,
    now: datetime | None = None,
) -> int:
    """In one transaction: queue `events` and advance the link's state to what they describe.

    Returns how many outbox rows were new (events whose key the link already has are skipped). The link
    must have a state (`init_state`). To record many links at once, wrap the calls in `storage.atomic(db)`.
    One detector at a time is assumed (the sync job does not overlap itself): a stale caller could move
    `last_status` back.
    """
    stamp = iso(now)
    rows = [
        (link_id, event["event_key"], event["kind"], json.dumps(event["payload"]), stamp, stamp, new_marker())
        for event in events
    ]
    with atomic(db):
        changed = db.execute(
            "UPDATE sync_state SET last_status = :status, "
            "status_seq = status_seq + CASE WHEN last_status != :status THEN 1 ELSE 0 END, "
            "archived = :archived, updated_at = :now WHERE link_id = :link_id",
            {"status": new_status, "archived": int(archived), "now": stamp, "link_id": link_id},
        ).rowcount
        if not changed:
            raise LookupError(f"link {link_id} has no sync state: call sync.init_state first")
        inserted = db.conn.executemany(
            "INSERT INTO outbox (link_id, event_key, kind, payload, next_attempt_at, created_at, marker) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (link_id, event_key) DO NOTHING",
            rows,
        ).rowcount
        _add_seen(db, link_id, new_comment_ids)
    return inserted


def set_watch(
    db: Database, link_ids: int | Iterable[int], watch: bool, *, now: datetime | None = None
) -> int:
    """Turn polling on or off for one or many links; returns how many states changed."""
    ids = [link_ids] if isinstance(link_ids, int) else list(link_ids)
    stamp = iso(now)
    with atomic(db):
        return db.conn.executemany(
            "UPDATE sync_state SET watch = ?, updated_at = ? WHERE link_id = ? AND watch != ?",
            [(int(watch), stamp, link_id, int(watch)) for link_id in ids],
        ).rowcount


def set_resolved(db: Database, link_id: int, resolved: bool, *, now: datetime | None = None) -> None:
    """Record whether the incident is resolved, closed or canceled in ServiceNow."""
    db.execute(
        "UPDATE sync_state SET resolved = ?, updated_at = ? WHERE link_id = ?",
        [int(resolved), iso(now), link_id],
    )


# --- outbox ----------------------------------------------------------------------------------------------

_DUE_SQL = """
SELECT o.* FROM outbox o
WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= :now
  {only_links}
  AND NOT EXISTS (
    SELECT 1 FROM outbox earlier
    WHERE earlier.link_id = o.link_id AND earlier.id < o.id AND earlier.state IN ('pending', 'sending')
  )
ORDER BY o.id
LIMIT :limit
"""


def due(
    db: Database, now: datetime | None = None, limit: int = 100, *, link_ids: Iterable[int] | None = None
) -> list[OutboxItem]:
    """Items to send now, oldest first, at most one per link (see the module docstring on order); only
    items of `link_ids` when given.

    Includes "sending" items whose lease ran out; their `maybe_sent` is true. Call again after sending
    to get each link's next item.
    """
    params: dict[str, object] = {"now": iso(now), "limit": limit}
    only_links = ""
    if link_ids is not None:
        ids = sorted({int(link_id) for link_id in link_ids})
        if not ids:
            return []
        params |= {f"link{n}": link_id for n, link_id in enumerate(ids)}
        only_links = "AND o.link_id IN (" + ", ".join(f":link{n}" for n in range(len(ids))) + ")"
    rows = db.query(_DUE_SQL.format(only_links=only_links), params)
    return [OutboxItem.model_validate(row) for row in rows]


def get_item(db: Database, item_id: int) -> OutboxItem | None:
    rows = list(db.query("SELECT * FROM outbox WHERE id = ?", [item_id]))
    return OutboxItem.model_validate(rows[0]) if rows else None


def items(db: Database, link_id: int) -> list[OutboxItem]:
    """Every outbox row of a link, in order."""
    return [
        OutboxItem.model_validate(r)
        for r in db.query("SELECT * FROM outbox WHERE link_id = ? ORDER BY id", [link_id])
    ]


_CLAIM = (
    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?, claimed_by = ?, "
    "lease_until = ? WHERE id = ? AND state IN ('pending', 'sending') AND next_attempt_at <= ?"
)
_CLAIM_PG = (  # a row another replica is claiming right now is skipped, not waited for
    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?, claimed_by = ?, "
    "lease_until = ? WHERE id = (SELECT id FROM outbox WHERE id = ? AND state IN ('pending', 'sending') "
    "AND next_attempt_at <= ? FOR UPDATE SKIP LOCKED)"
)


def mark_sending(
    db: Database,
    item_id: int,
    *,
    now: datetime | None = None,
    lease: timedelta = SENDING_LEASE,
    by: str | None = None,
) -> bool:
    """Claim an item for one attempt (counts it in `attempts`); False if it is not due any more (another
    sender, of this process or another replica, claimed it first: the UPDATE's condition is checked under
    the row's write lock on either database, so exactly one claim wins; on PostgreSQL a row being claimed
    by another replica right now is skipped, `FOR UPDATE SKIP LOCKED`, rather than waited for).

    The claim is a lease held by `by` (`claimed_by`, `lease_until`): if neither `mark_done`, `mark_retry`
    nor `mark_failed` follows within `lease`, `due` offers the item again, and its `maybe_sent` is true.
    """
    moment = aware(now)
    until = iso(moment + lease)
    sql = _CLAIM_PG if dialect(db) == "postgresql" else _CLAIM
    cursor = db.execute(sql, [until, by, until, item_id, iso(moment)])
    return cursor.rowcount > 0


def renew_lease(
    db: Database,
    item_id: int,
    *,
    by: str | None,
    now: datetime | None = None,
    lease: timedelta = SENDING_LEASE,
) -> bool:
    """Extend `by`'s claim of an item to `lease` from now, just before its write; False when the claim was
    lost (its lease ran out and another sender took the item, or it was finished): do not write then."""
    moment = aware(now)
    until = iso(moment + lease)
    cursor = db.execute(
        "UPDATE outbox SET next_attempt_at = ?, lease_until = ? WHERE id = ? AND state = 'sending' "
        "AND claimed_by IS NOT DISTINCT FROM ? AND next_attempt_at > ?",
        [until, until, item_id, by, iso(moment)],
    )
    return cursor.rowcount > 0


def mark_done(db: Database, item_id: int, *, now: datetime | None = None, by: str | None = None) -> None:
    """The note is in ServiceNow (sent now, or found by its marker). Done is done, whoever says it."""
    db.execute(
        "UPDATE outbox SET state = 'done', done_at = ?, last_error = NULL, lease_until = NULL WHERE id = ?",
        [iso(now), item_id],
    )


def mark_retry(
    db: Database, item_id: int, error: str, next_attempt_at: datetime, *, by: str | None = None
) -> bool:
    """The attempt failed but may work later: pending again from `next_attempt_at` (the link waits), with
    `error` kept in `last_error` so the reason shows while it is retrying (`retrying`). Only while `by`
    still holds the claim, or names no sender (False: another sender owns the item now, and decides)."""
    return (
        db.execute(
            "UPDATE outbox SET state = 'pending', last_error = :error, next_attempt_at = :at, lease_until = NULL "
            "WHERE id = :id AND state != 'done' AND (:by IS NULL OR claimed_by IS NULL OR claimed_by = :by)",
            {"error": error, "at": iso(next_attempt_at), "id": item_id, "by": by},
        ).rowcount
        > 0
    )


def mark_failed(db: Database, item_id: int, error: str, *, by: str | None = None) -> None:
    """Give up on the item (ServiceNow refused it for good): it is reported by `counts`/`failures`, and
    the link's later items go ahead. `requeue_failed` brings it back. Only while `by` holds the claim."""
    db.execute(
        "UPDATE outbox SET state = 'failed', last_error = :error, lease_until = NULL "
        "WHERE id = :id AND state != 'done' AND (:by IS NULL OR claimed_by IS NULL OR claimed_by = :by)",
        {"error": error, "id": item_id, "by": by},
    )


def requeue_failed(db: Database, link_id: int | None = None, *, now: datetime | None = None) -> int:
    """Make failed items (of one link, or all) pending again, due now, with a fresh attempt count.

    They keep `last_error`, so `maybe_sent` stays true and the sender checks the marker first.
    """
    with atomic(db):
        return db.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = :now "
            "WHERE state = 'failed' AND (:link_id IS NULL OR link_id = :link_id)",
            {"now": iso(now), "link_id": link_id},
        ).rowcount


def counts(db: Database) -> dict[str, int]:
    """{"pending": n, "retrying": n, "failed": n, "done": n}. "pending" includes items being sent and
    items retrying; "retrying" counts those of them whose last attempt failed (see `retrying`)."""
    result = {"pending": 0, "retrying": 0, "failed": 0, "done": 0}
    for state, n in db.execute("SELECT state, count(*) FROM outbox GROUP BY state"):
        result["pending" if state == "sending" else state] += n
    (result["retrying"],) = db.execute(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending') AND last_error IS NOT NULL"
    ).fetchone()
    return result


def retrying(db: Database, limit: int = 20) -> list[OutboxItem]:
    """Open items whose last attempt failed and that will be tried again, oldest first; `last_error` says
    why (an outage, a rate limit, a missing setting), `attempts` how often it was tried."""
    rows = db.query(
        "SELECT * FROM outbox WHERE state IN ('pending', 'sending') AND last_error IS NOT NULL "
        "ORDER BY id LIMIT ?",
        [limit],
    )
    return [OutboxItem.model_validate(row) for row in rows]


def failures(db: Database, limit: int = 20) -> list[OutboxItem]:
    """Items given up on, most recent first; `last_error` says why."""
    rows = db.query("SELECT * FROM outbox WHERE state = 'failed' ORDER BY id DESC LIMIT ?", [limit])
    return [OutboxItem.model_validate(row) for row in rows]


def oldest_failure(db: Database) -> OutboxItem | None:
    """The item given up on first (`snowbot doctor`), or None when nothing failed."""
    rows = list(db.query("SELECT * FROM outbox WHERE state = 'failed' ORDER BY id LIMIT 1"))
    return OutboxItem.model_validate(rows[0]) if rows else None


# --- runs ------------------------------------------------------------------------------------------------


def record_run(
    db: Database,
    *,
    started_at: datetime,
    finished_at: datetime,
    summary: dict[str, Any],
    keep: int = RUNS_KEPT,
) -> int:
    """Store one sync run's summary (JSON-able) and keep only the newest `keep` runs."""
    with atomic(db):
        (run_id,) = db.execute(
            "INSERT INTO sync_runs (started_at, finished_at, summary) VALUES (?, ?, ?) RETURNING id",
            [iso(started_at), iso(finished_at), json.dumps(summary)],
        ).fetchall()[0]
        db.execute("DELETE FROM sync_runs WHERE id <= ?", [run_id - keep])
    return run_id


def last_run(db: Database) -> SyncRun | None:
    rows = list(db.query("SELECT * FROM sync_runs ORDER BY id DESC LIMIT 1"))
    return SyncRun.model_validate(rows[0]) if rows else None
