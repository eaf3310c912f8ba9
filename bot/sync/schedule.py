"""The read schedule: how soon each watched anomaly is read from Qualytics again (adaptive polling).

After every read the anomaly gets its next read time (`storage.schedule`), counted from the start of the
pass that read it:

- it changed (a status, an archive, new comments, a new link's baseline), or a webhook or Slack action
  named it (`SyncEngine.sync_anomalies`): read again after `min_read_interval` (hot);
- it changed less than `hot_window` ago: still `min_read_interval` (an anomaly that changed today tends to
  change again: acknowledged, commented, archived);
- otherwise each quiet read doubles the wait, from `min_read_interval` up to `max_read_interval`; a wait
  above the minimum is shortened by up to `SPREAD` at random, so anomalies that went quiet together (after
  a restart on an old database) are read in different passes.

The incidents of every watched link are still read back on every pass (100 per request); an anomaly whose
incident changed in ServiceNow is read in that pass too, though not due (its card shows both).
An archived anomaly whose tickets are all resolved is not read at all (`bot.sync.watch`), until a webhook
or Slack action names it again. A read that failed leaves the row as it was (due: read again next pass).
With both intervals 0 (`SyncConfig()`'s defaults) every watched anomaly is read on every pass and nothing
is stored. The schedule only decides when to read: what a read records stays `bot.sync.detect`'s, so the
outbox's exactly-once delivery does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.sync.context import Context, Run, SyncConfig
from storage import schedule
from storage.schedule import ReadSchedule

SPREAD = 0.2
"""Largest share of a quiet anomaly's wait taken off at random."""


def adaptive(config: SyncConfig) -> bool:
    """Whether the schedule is on (off: every watched anomaly on every pass)."""
    return config.max_read_interval > 0 or config.min_read_interval > 0


def next_read(
    previous: ReadSchedule | None,
    *,
    anomaly_id: int,
    changed: bool,
    read_at: datetime,
    config: SyncConfig,
    jitter: Callable[[], float],
) -> ReadSchedule:
    """The anomaly's schedule after a read at `read_at` (the pass's start) that saw a change or not."""
    low = int(config.min_read_interval)
    high = max(int(config.max_read_interval), low)
    changed_at = read_at if changed else (previous.changed_at if previous else None)
    hot = changed_at is not None and read_at - changed_at < timedelta(seconds=config.hot_window)
    if hot or previous is None:
        interval = low
    else:
        interval = min(high, max(low, previous.interval_seconds * 2))
    wait = float(interval)
    if interval > low:
        wait = max(float(low), interval * (1 - SPREAD * jitter()))
    return ReadSchedule(
        anomaly_id=anomaly_id,
        next_read_at=read_at + timedelta(seconds=wait),
        interval_seconds=interval,
        last_read_at=read_at,
        changed_at=changed_at,
    )


def schedule_reads(ctx: Context, run: Run, only: list[int] | None = None) -> None:
    """After the detect step, on the database thread: the next read of every anomaly read this pass (or
    of `only` these). Every anomaly a named sync (webhook, Slack action) read counts as changed."""
    read = [
        anomaly_id for anomaly_id in (run.anomalies if only is None else only) if anomaly_id in run.anomalies
    ]
    if not adaptive(ctx.config) or not read:
        return
    read_at = run.report.started_at
    previous = schedule.get(ctx.db, read)
    schedule.save(
        ctx.db,
        [
            next_read(
                previous.get(anomaly_id),
                anomaly_id=anomaly_id,
                changed=anomaly_id in run.detected or not run.polling,
                read_at=read_at,
                config=ctx.config,
                jitter=ctx.jitter,
            )
            for anomaly_id in read
        ],
    )
