"""snowbot's anomaly cards in Slack: the channels it watches for Qualytics alerts, and the cards it posted.

A card is snowbot's own message about an anomaly (its buttons only work there: Slack sends an app the
clicks on its own messages only). There is at most one per Slack thread, keyed by (channel, thread_ts).
`claim` takes the thread before the card is posted (`ts` NULL); `posted` records the card's ts once
Slack answered; `release` gives the thread back when the post failed. A second claim of the same
thread (a retried event, two links in one thread) gets False, so a thread never gets two cards.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from storage.db import Database, atomic, iso


class WatchedChannel(BaseModel):
    channel_id: str
    added_by: str
    added_at: datetime


class Card(BaseModel):
    channel_id: str
    thread_ts: str
    anomaly_id: int
    ts: str | None
    """The card message's own ts; None while it is being posted."""
    created_at: datetime
    updated_at: datetime


def watch(db: Database, channel_id: str, added_by: str, *, now: datetime | None = None) -> bool:
    """Watch a channel for Qualytics alerts; False when it was watched already."""
    with atomic(db):
        cursor = db.execute(
            "INSERT INTO slack_watched_channels (channel_id, added_by, added_at) VALUES (?, ?, ?) "
            "ON CONFLICT (channel_id) DO NOTHING",
            [channel_id, added_by, iso(now)],
        )
        return cursor.rowcount > 0


def unwatch(db: Database, channel_id: str) -> bool:
    """Stop watching a channel; False when it was not watched."""
    with atomic(db):
        return (
            db.execute("DELETE FROM slack_watched_channels WHERE channel_id = ?", [channel_id]).rowcount > 0
        )


def is_watched(db: Database, channel_id: str) -> bool:
    found = db.execute("SELECT 1 FROM slack_watched_channels WHERE channel_id = ?", [channel_id]).fetchone()
    return found is not None


def watched(db: Database) -> list[WatchedChannel]:
    """The watched channels, in the order they were added."""
    rows = db["slack_watched_channels"].rows_where(order_by="added_at, channel_id")
    return [WatchedChannel.model_validate(row) for row in rows]


def claim(
    db: Database, *, channel_id: str, thread_ts: str, anomaly_id: int, now: datetime | None = None
) -> bool:
    """Take the thread for a new card; False when it has one already (posted or being posted)."""
    stamp = iso(now)
    with atomic(db):
        cursor = db.execute(
            "INSERT INTO slack_cards (channel_id, thread_ts, anomaly_id, ts, created_at, updated_at) "
            "VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (channel_id, thread_ts) DO NOTHING",
            [channel_id, thread_ts, anomaly_id, stamp, stamp],
        )
        return cursor.rowcount > 0


def posted(db: Database, *, channel_id: str, thread_ts: str, ts: str, now: datetime | None = None) -> None:
    """Record the ts Slack gave the card posted in a claimed thread."""
    with atomic(db):
        db.execute(
            "UPDATE slack_cards SET ts = ?, updated_at = ? WHERE channel_id = ? AND thread_ts = ?",
            [ts, iso(now), channel_id, thread_ts],
        )


def release(db: Database, *, channel_id: str, thread_ts: str) -> None:
    """Give back a claimed thread whose card could not be posted (a later event may try again)."""
    with atomic(db):
        db.execute(
            "DELETE FROM slack_cards WHERE channel_id = ? AND thread_ts = ? AND ts IS NULL",
            [channel_id, thread_ts],
        )


def get(db: Database, channel_id: str, thread_ts: str) -> Card | None:
    rows = list(db["slack_cards"].rows_where("channel_id = ? AND thread_ts = ?", [channel_id, thread_ts]))
    return Card.model_validate(rows[0]) if rows else None


def for_anomaly(db: Database, anomaly_id: int) -> list[Card]:
    """The anomaly's posted cards (those being posted are left out), oldest first."""
    rows = db["slack_cards"].rows_where(
        "anomaly_id = ? AND ts IS NOT NULL", [anomaly_id], order_by="created_at, channel_id, thread_ts"
    )
    return [Card.model_validate(row) for row in rows]


def forget(db: Database, *, channel_id: str, thread_ts: str) -> None:
    """Drop a card Slack no longer has (deleted by someone): nothing will try to update it again."""
    with atomic(db):
        db.execute("DELETE FROM slack_cards WHERE channel_id = ? AND thread_ts = ?", [channel_id, thread_ts])
