"""The outbox's backlog as `GET /metrics` shows it: open rows by state, and how long the oldest row that
is due has waited since it was recorded. One read-only call, run on the database's thread through the
`Store` at scrape time (`bot.metrics`); it never writes and never changes a row's state.

"Due" is what `storage.sync.due` may offer now: a pending row whose time has come, or a sending row
whose lease ran out (`next_attempt_at <= now`). Plain SQL both backends accept (ISO text timestamps
compare as text: `storage.db.iso`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Database, aware, iso

STATES = ("pending", "sending", "retrying", "failed")
"""The `state` label values of `snowbot_outbox_rows` (retrying: open rows whose last attempt failed)."""


@dataclass(frozen=True)
class Backlog:
    rows: dict[str, int]
    """Open and failed rows by state (`STATES`); "retrying" rows are also counted in pending or sending."""
    due: int
    oldest_due_age: float
    """Seconds since the oldest due row was recorded (0 when nothing is due)."""


def backlog(db: Database, now: datetime | None = None) -> Backlog:
    moment = aware(now)
    rows = dict.fromkeys(STATES, 0)
    for row in db.query("SELECT state, count(*) AS n FROM outbox WHERE state != 'done' GROUP BY state"):
        rows[row["state"]] = row["n"]
    [retrying] = db.query(
        "SELECT count(*) AS n FROM outbox WHERE state IN ('pending', 'sending') AND last_error IS NOT NULL"
    )
    rows["retrying"] = retrying["n"]
    [open_due] = db.query(
        "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox "
        "WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?",
        [iso(moment)],
    )
    due, oldest = open_due["n"], open_due["oldest"]
    age = max((moment - datetime.fromisoformat(oldest)).total_seconds(), 0.0) if oldest else 0.0
    return Backlog(rows=rows, due=due, oldest_due_age=age)
