"""The `Idempotency-Key` of a REST create and the link it made: a client that asks again with the same
key (its answer was lost, the replica died after committing) gets the same ticket, never a second one.

A key is stored with the link, in the transaction that stores it (`bot.usecases.intents.store_link`),
from the create's intent; deleting the link deletes its key (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime

from storage.db import Database, iso


def find(db: Database, key: str) -> tuple[int, int] | None:
    """(anomaly_id, link_id) of the create made with `key`, if any."""
    rows = db.execute("SELECT anomaly_id, link_id FROM create_keys WHERE key = ?", [key]).fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


def remember(db: Database, key: str, *, anomaly_id: int, link_id: int, now: datetime | None = None) -> None:
    db.execute(
        "INSERT INTO create_keys (key, anomaly_id, link_id, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        [key, anomaly_id, link_id, iso(now)],
    )
