"""Intents: a create or a link, recorded before its ServiceNow write, so a crash never loses or repeats it.

An intent holds everything needed to finish the operation without the person: the anomaly, the
integration, the incident's fields and correlation id (create) or the incident and the text appended
(link), the anomaly's sync baseline as it was when asked, who asked and where to announce it in Slack.

Life of an intent:
- `record` before the POST (create) or the PATCH (link). A failure to record means nothing was sent.
- The request finishes normally: the link is stored and the intent deleted (`finish`) in one
  transaction, so there is either an open intent or a link, never neither.
- The request did not finish (a crash, a kill, a cancelled task, a write refused after the ServiceNow
  call): the intent stays `open` (no `link_id`). Reconciling it (`bot.usecases`) looks for what the write
  did (the incident by correlation id; the anomaly in the description or the journal) and either stores
  the link and `mark_linked`s the intent, or `finish`es (retires) it when the write provably never happened.
- A linked intent is announced in Slack at most once (`claim_announcement` before posting), and the
  person's retry of a create `finish`es it and gets the incident made for them. Linked intents are
  purged after a while (`purge_linked`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from storage.db import Database, aware, insert, iso

Kind = Literal["create", "link"]


class Intent(BaseModel):
    id: int
    kind: Kind
    anomaly_id: int
    integration_id: int
    correlation_id: str | None
    ticket_sys_id: str | None
    ticket_number: str | None
    fields: dict[str, Any]
    baseline: dict[str, Any]
    actor: str
    channel_id: str | None
    thread_ts: str | None
    link_id: int | None
    announced_at: datetime | None
    created_at: datetime
    ticket_kind: str = "incident"
    """The kind of ticket (`servicenow.kinds`) created or linked: the table reconciling looks in."""
    claimed_by: str | None = None
    idempotency_key: str | None = None
    """A REST create's Idempotency-Key, stored with its link (`storage.create_keys`)."""
    lease_until: datetime | None = None

    @field_validator("fields", "baseline", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def open(self) -> bool:
        """Not reconciled yet: its write may or may not have happened."""
        return self.link_id is None


def record(
    db: Database,
    *,
    kind: Kind,
    anomaly_id: int,
    integration_id: int,
    fields: dict[str, Any],
    baseline: dict[str, Any],
    actor: str,
    correlation_id: str | None = None,
    ticket_sys_id: str | None = None,
    ticket_number: str | None = None,
    channel_id: str | None = None,
    thread_ts: str | None = None,
    now: datetime | None = None,
    ticket_kind: str = "incident",
    claimed_by: str | None = None,
    lease: timedelta | None = None,
    idempotency_key: str | None = None,
) -> Intent:
    """Store an open intent (one autocommitted INSERT: durable when this returns), claimed by the replica
    `claimed_by` for `lease` when given (its request carries it out; see `claim`)."""
    moment = aware(now)
    row = {
        "kind": kind,
        "anomaly_id": anomaly_id,
        "integration_id": integration_id,
        "correlation_id": correlation_id,
        "ticket_sys_id": ticket_sys_id,
        "ticket_number": ticket_number,
        "fields": json.dumps(fields),
        "baseline": json.dumps(baseline),
        "actor": actor,
        "channel_id": channel_id,
        "thread_ts": thread_ts,
        "link_id": None,
        "announced_at": None,
        "created_at": iso(moment),
        "ticket_kind": ticket_kind,
        "claimed_by": claimed_by,
        "lease_until": iso(moment + lease) if claimed_by is not None and lease is not None else None,
        "idempotency_key": idempotency_key,
    }
    intent_id = insert(db, "intents", row)
    return Intent.model_validate({"id": intent_id, **row})


def get(db: Database, intent_id: int) -> Intent | None:
    rows = list(db.query("SELECT * FROM intents WHERE id = ?", [intent_id]))
    return Intent.model_validate(rows[0]) if rows else None


def open_intents(db: Database, anomaly_id: int | None = None, kind: Kind | None = None) -> list[Intent]:
    """Intents not reconciled yet (of one anomaly, of one kind, when given), oldest first."""
    rows = db.query(
        "SELECT * FROM intents WHERE link_id IS NULL AND (:anomaly IS NULL OR anomaly_id = :anomaly) "
        "AND (:kind IS NULL OR kind = :kind) ORDER BY id",
        {"anomaly": anomaly_id, "kind": kind},
    )
    return [Intent.model_validate(row) for row in rows]


def linked_create(
    db: Database, anomaly_id: int, since: datetime, integration_id: int | None = None
) -> Intent | None:
    """The newest create of this anomaly (in that integration, when given) recorded since `since`,
    reconciled and not yet claimed by a retry."""
    rows = list(
        db.query(
            "SELECT * FROM intents WHERE kind = 'create' AND link_id IS NOT NULL AND anomaly_id = ? "
            "AND created_at >= ? AND (? IS NULL OR integration_id = ?) ORDER BY id DESC LIMIT 1",
            [anomaly_id, iso(since), integration_id, integration_id],
        )
    )
    return Intent.model_validate(rows[0]) if rows else None


def claim(
    db: Database, intent_id: int, *, by: str | None, now: datetime | None = None, lease: timedelta
) -> bool:
    """Claim an open intent for the replica `by` (to reconcile it) for `lease`: True when it was free, its
    lease ran out, or `by` held it already; False when another replica holds it (its request may still be
    writing, or it is reconciling it now) or it is no longer open. One UPDATE: exactly one claim wins on
    either database. `by` None (no replica name) claims whatever is not held by a named replica."""
    moment = aware(now)
    return (
        db.execute(
            "UPDATE intents SET claimed_by = :by, lease_until = :until WHERE id = :id AND link_id IS NULL "
            "AND (claimed_by IS NULL OR lease_until IS NULL OR lease_until <= :now OR claimed_by = :by)",
            {"by": by, "until": iso(moment + lease), "id": intent_id, "now": iso(moment)},
        ).rowcount
        > 0
    )


def mark_linked(db: Database, intent_id: int, link_id: int) -> None:
    """Reconciled: the link exists. Call in the transaction that stores the link."""
    db.execute("UPDATE intents SET link_id = ? WHERE id = ?", [link_id, intent_id])


def finish(db: Database, intent_id: int) -> bool:
    """Delete the intent (done, retired, or claimed by a retry); False when it was gone already."""
    return db.execute("DELETE FROM intents WHERE id = ?", [intent_id]).rowcount > 0


def to_announce(db: Database) -> list[Intent]:
    """Reconciled intents made from Slack whose announcement has not been claimed, oldest first."""
    rows = db.query(
        "SELECT * FROM intents WHERE link_id IS NOT NULL AND channel_id IS NOT NULL AND announced_at IS NULL "
        "ORDER BY id"
    )
    return [Intent.model_validate(row) for row in rows]


def claim_announcement(db: Database, intent_id: int, *, now: datetime | None = None) -> bool:
    """Claim the one announcement of a reconciled intent (before posting it: at most once)."""
    return (
        db.execute(
            "UPDATE intents SET announced_at = ? WHERE id = ? AND announced_at IS NULL AND link_id IS NOT NULL",
            [iso(now), intent_id],
        ).rowcount
        > 0
    )


def purge_linked(db: Database, before: datetime) -> int:
    """Delete reconciled intents recorded before `before` (their retry window is over)."""
    return db.execute(
        "DELETE FROM intents WHERE link_id IS NOT NULL AND created_at < ?", [iso(before)]
    ).rowcount
