"""When the sync reads each linked anomaly from Qualytics next: one `read_schedule` row per anomaly.

The sync decides the times (`bot.sync.schedule`); this module stores them and answers which watched links
are due. An anomaly without a row (a new link, or a database from before the schedule) is due at once.
The schedule only decides *when* an anomaly is read; what a read turns into notes is `storage.sync`'s, so
losing or delaying a row can delay a note, never drop or double it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel

from storage.db import Database, atomic, iso
from storage.links import Link


class ReadSchedule(BaseModel):
    anomaly_id: int
    next_read_at: datetime
    interval_seconds: int
    """The wait between the last read and the next (before any spread)."""
    last_read_at: datetime
    changed_at: datetime | None
    """The last change the sync saw, or the last webhook or Slack action naming the anomaly."""


def due_links(db: Database, now: datetime) -> list[Link]:
    """The watched links (see `links.watched`) whose anomaly is due at `now` or has no schedule yet,
    oldest first."""
    rows = db.query(
        "SELECT links.* FROM links LEFT JOIN read_schedule ON read_schedule.anomaly_id = links.anomaly_id "
        "WHERE links.id NOT IN (SELECT link_id FROM sync_state WHERE watch = 0) "
        "AND (read_schedule.next_read_at IS NULL OR read_schedule.next_read_at <= ?) ORDER BY links.id",
        [iso(now)],
    )
    return [Link.model_validate(row) for row in rows]


def get(db: Database, anomaly_ids: Iterable[int]) -> dict[int, ReadSchedule]:
    """The stored rows of these anomalies (none for an anomaly never scheduled)."""
    found: dict[int, ReadSchedule] = {}
    ids = list(dict.fromkeys(int(i) for i in anomaly_ids))
    for start in range(0, len(ids), 500):  # stays below any backend's parameter limit
        batch = ids[start : start + 500]
        marks = ", ".join("?" for _ in batch)  # placeholders only: the ids are parameters
        for row in db.query(f"SELECT * FROM read_schedule WHERE anomaly_id IN ({marks})", batch):  # noqa: S608
            found[row["anomaly_id"]] = ReadSchedule.model_validate(row)
    return found


def save(db: Database, schedules: Sequence[ReadSchedule]) -> None:
    """Store these rows (insert or replace each anomaly's), in one transaction."""
    with atomic(db):
        for row in schedules:
            db.execute(
                "INSERT INTO read_schedule (anomaly_id, next_read_at, interval_seconds, last_read_at, changed_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (anomaly_id) DO UPDATE SET "
                "next_read_at = excluded.next_read_at, interval_seconds = excluded.interval_seconds, "
                "last_read_at = excluded.last_read_at, changed_at = excluded.changed_at",
                [
                    row.anomaly_id,
                    iso(row.next_read_at),
                    row.interval_seconds,
                    iso(row.last_read_at),
                    iso(row.changed_at) if row.changed_at is not None else None,
                ],
            )
