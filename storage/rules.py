"""Creation rules and what they remember: the rules (a match and a ticket template, stored as JSON) with
who changed each and when (`rule_changes`, kept after a rule is deleted), each new anomaly's one
evaluation (claimed `pending` before anything is created, `done` with its outcome after), the poll's
high-water mark, the facts recurrence compares (fingerprint, container, checks) and the recurrences.

Plain SQL with `?` placeholders, `ON CONFLICT`, `RETURNING` (SQLite and PostgreSQL alike). Never decides
what matches or what to create (`bot.usecases.rules` does).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, field_validator

from storage.db import Database, atomic, iso
from storage.links import Link

RULE_COLUMNS = (
    "name",
    "enabled",
    "paused_reason",
    "match",
    "template",
    "ticket_kind",
    "integration_id",
    "channel_id",
    "recurrence_window",
    "max_per_hour",
)


class Rule(BaseModel):
    id: int
    name: str
    enabled: bool
    paused_reason: str | None
    match: dict[str, Any]
    template: dict[str, Any]
    ticket_kind: str
    integration_id: int | None
    channel_id: str | None
    recurrence_window: int
    max_per_hour: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @field_validator("match", "template", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class RuleChange(BaseModel):
    id: int
    rule_id: int
    action: str
    actor: str
    detail: dict[str, Any]
    at: datetime

    @field_validator("detail", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class Evaluation(BaseModel):
    anomaly_id: int
    state: str
    outcome: str | None
    rule_id: int | None
    ticket_number: str | None
    reason: str | None
    evaluated_at: datetime
    done_at: datetime | None


def _column(name: str, value: Any) -> Any:
    if name in ("match", "template"):
        return json.dumps(value, sort_keys=True)
    if name == "enabled":
        return int(bool(value))
    return value


def _log(db: Database, rule_id: int, action: str, actor: str, detail: dict[str, Any], now: str) -> None:
    db.execute(
        "INSERT INTO rule_changes (rule_id, action, actor, detail, at) VALUES (?, ?, ?, ?, ?)",
        [rule_id, action, actor, json.dumps(detail, sort_keys=True, default=str), now],
    )


def add(db: Database, values: dict[str, Any], *, actor: str, now: datetime | None = None) -> Rule:
    """Store a rule (the keys of `RULE_COLUMNS` given) and its 'created' change, in one transaction."""
    at = iso(now)
    names = [name for name in RULE_COLUMNS if name in values]
    columns = ", ".join([*names, "created_by", "created_at", "updated_by", "updated_at"])
    marks = ", ".join("?" * (len(names) + 4))
    with atomic(db):
        [row] = db.execute(
            f"INSERT INTO rules ({columns}) VALUES ({marks}) RETURNING id",  # noqa: S608 (names: RULE_COLUMNS)
            [*(_column(n, values[n]) for n in names), actor, at, actor, at],
        ).fetchall()
        _log(db, row[0], "created", actor, {n: values[n] for n in names}, at)
    rule = get(db, row[0])
    assert rule is not None
    return rule


def update(
    db: Database,
    rule_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    action: str = "updated",
    now: datetime | None = None,
) -> Rule | None:
    """Change some columns, record who and when (`rule_changes`); None when there is no such rule."""
    at = iso(now)
    names = [name for name in RULE_COLUMNS if name in changes]
    assignments = ", ".join(f"{name} = ?" for name in [*names, "updated_by", "updated_at"])
    with atomic(db):
        done = db.execute(
            f"UPDATE rules SET {assignments} WHERE id = ?",  # noqa: S608 (names: RULE_COLUMNS)
            [*(_column(n, changes[n]) for n in names), actor, at, rule_id],
        ).rowcount
        if not done:
            return None
        _log(db, rule_id, action, actor, {n: changes[n] for n in names}, at)
    return get(db, rule_id)


def pause(db: Database, rule_id: int, reason: str, *, now: datetime | None = None) -> bool:
    """Disable an enabled rule with its reason (by snowbot); False when it was not enabled."""
    at = iso(now)
    with atomic(db):
        done = db.execute(
            "UPDATE rules SET enabled = 0, paused_reason = ?, updated_by = 'snowbot', updated_at = ? "
            "WHERE id = ? AND enabled = 1",
            [reason, at, rule_id],
        ).rowcount
        if done:
            _log(db, rule_id, "paused", "snowbot", {"reason": reason}, at)
    return bool(done)


def delete(db: Database, rule_id: int, *, actor: str, now: datetime | None = None) -> bool:
    at = iso(now)
    with atomic(db):
        done = db.execute("DELETE FROM rules WHERE id = ?", [rule_id]).rowcount
        if done:
            _log(db, rule_id, "deleted", actor, {}, at)
    return bool(done)


def get(db: Database, rule_id: int) -> Rule | None:
    rows = list(db.query("SELECT * FROM rules WHERE id = ?", [rule_id]))
    return Rule.model_validate(rows[0]) if rows else None


def all_rules(db: Database, *, enabled_only: bool = False) -> list[Rule]:
    sql = (
        "SELECT * FROM rules WHERE enabled = 1 ORDER BY id"
        if enabled_only
        else "SELECT * FROM rules ORDER BY id"
    )
    return [Rule.model_validate(row) for row in db.query(sql)]


def changes(db: Database, rule_id: int) -> list[RuleChange]:
    rows = db.query("SELECT * FROM rule_changes WHERE rule_id = ? ORDER BY id", [rule_id])
    return [RuleChange.model_validate(row) for row in rows]


# ------------------------------------------------------------------------------------------ evaluations


def claim(db: Database, anomaly_ids: list[int], *, now: datetime | None = None) -> list[int]:
    """Claim the anomalies never evaluated (a `pending` evaluation each); the ids claimed now."""
    at = iso(now)
    claimed: list[int] = []
    with atomic(db):
        for anomaly_id in anomaly_ids:
            rows = db.execute(
                "INSERT INTO rule_evaluations (anomaly_id, state, evaluated_at) VALUES (?, 'pending', ?) "
                "ON CONFLICT (anomaly_id) DO NOTHING RETURNING anomaly_id",
                [anomaly_id, at],
            ).fetchall()
            claimed.extend(row[0] for row in rows)
    return claimed


def pending(db: Database) -> list[int]:
    """Evaluations claimed and not finished (a crash, or a failure worth trying again), oldest first."""
    return [
        row["anomaly_id"]
        for row in db.query(
            "SELECT anomaly_id FROM rule_evaluations WHERE state = 'pending' ORDER BY anomaly_id"
        )
    ]


def finish(
    db: Database,
    anomaly_id: int,
    outcome: str,
    *,
    rule_id: int | None = None,
    ticket_number: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    db.execute(
        "UPDATE rule_evaluations SET state = 'done', outcome = ?, rule_id = ?, ticket_number = ?, reason = ?, "
        "done_at = ? WHERE anomaly_id = ?",
        [outcome, rule_id, ticket_number, reason, iso(now), anomaly_id],
    )


def set_rule(db: Database, anomaly_id: int, rule_id: int) -> None:
    """The rule a pending evaluation is creating for (counted by the rate guard before it is done)."""
    db.execute("UPDATE rule_evaluations SET rule_id = ? WHERE anomaly_id = ?", [rule_id, anomaly_id])


def evaluation(db: Database, anomaly_id: int) -> Evaluation | None:
    rows = list(db.query("SELECT * FROM rule_evaluations WHERE anomaly_id = ?", [anomaly_id]))
    return Evaluation.model_validate(rows[0]) if rows else None


def created_since(db: Database, rule_id: int, since: datetime) -> int:
    """Tickets the rule created (or is creating) since `since`: what the rate guard counts."""
    row = db.execute(
        "SELECT COUNT(*) FROM rule_evaluations WHERE rule_id = ? AND evaluated_at >= ? "
        "AND (outcome = 'created' OR state = 'pending')",
        [rule_id, iso(since)],
    ).fetchone()
    return int(row[0])


# ----------------------------------------------------------------------------------------------- cursor


def cursor(db: Database, name: str = "qualytics") -> tuple[int, int] | None:
    """(newest anomaly id seen, floor id) of the poll, None before its first round."""
    row = db.execute("SELECT anomaly_id, floor_id FROM rule_cursor WHERE name = ?", [name]).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def advance(db: Database, anomaly_id: int, *, name: str = "qualytics", now: datetime | None = None) -> None:
    """Move the high-water mark up to `anomaly_id` (never down); the first call sets the floor too."""
    db.execute(
        "INSERT INTO rule_cursor (name, anomaly_id, floor_id, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET anomaly_id = excluded.anomaly_id, updated_at = excluded.updated_at "
        "WHERE excluded.anomaly_id > rule_cursor.anomaly_id",
        [name, anomaly_id, anomaly_id, iso(now)],
    )


# -------------------------------------------------------------------------------------------- recurrence


def remember(
    db: Database,
    *,
    anomaly_id: int,
    fingerprint: str | None,
    container_id: int | None,
    check_ids: list[int],
    created: datetime,
) -> None:
    db.execute(
        "INSERT INTO anomaly_facts (anomaly_id, fingerprint, container_id, check_ids, created) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (anomaly_id) DO NOTHING",
        [anomaly_id, fingerprint, container_id, "," + ",".join(map(str, check_ids)) + ",", iso(created)],
    )


def facts(db: Database, anomaly_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What is remembered of these anomalies (fingerprint, container_id, check_ids as a set, created)."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(anomaly_ids), 500):
        chunk = anomaly_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT * FROM anomaly_facts WHERE anomaly_id IN ({marks})"  # noqa: S608 (only ? marks)
        for row in db.query(sql, chunk):
            checks = {int(part) for part in row["check_ids"].split(",") if part}
            found[row["anomaly_id"]] = {**row, "check_ids": checks}
    return found


def add_recurrence(
    db: Database,
    *,
    anomaly_id: int,
    first_anomaly_id: int,
    link_id: int,
    ticket_number: str,
    now: datetime | None = None,
) -> None:
    db.execute(
        "INSERT INTO recurrences (anomaly_id, first_anomaly_id, link_id, ticket_number, at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (anomaly_id) DO NOTHING",
        [anomaly_id, first_anomaly_id, link_id, ticket_number, iso(now)],
    )


def first_of(db: Database, anomaly_id: int) -> int:
    """The anomaly a recurrence goes back to (the anomaly itself when it is not a recurrence)."""
    row = db.execute("SELECT first_anomaly_id FROM recurrences WHERE anomaly_id = ?", [anomaly_id]).fetchone()
    return int(row[0]) if row else anomaly_id


def occurrences(db: Database, anomaly_id: int) -> list[int]:
    """Every anomaly of the recurrence group this one belongs to, the first one first."""
    first = first_of(db, anomaly_id)
    rows = db.query(
        "SELECT anomaly_id FROM recurrences WHERE first_anomaly_id = ? ORDER BY anomaly_id", [first]
    )
    return [first, *(row["anomaly_id"] for row in rows)]


def open_links(db: Database) -> list[Link]:
    """Links whose ticket is not resolved, closed or canceled (as the sync last saw it) and whose anomaly
    still exists: the tickets a recurrence may join."""
    rows = db.query(
        "SELECT links.* FROM links LEFT JOIN sync_state ON sync_state.link_id = links.id "
        "WHERE COALESCE(sync_state.resolved, 0) = 0 AND links.anomaly_deleted_at IS NULL "
        "AND links.status NOT IN ('Resolved', 'Closed', 'Canceled') ORDER BY links.id"
    )
    return [Link.model_validate(row) for row in rows]
