"""The read schedule's storage: which watched links are due, and rows that round-trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlite_utils import Database

from storage import schedule, sync
from storage.links import Link
from storage.schedule import ReadSchedule

from .conftest import T0


def _row(anomaly_id: int, next_in: int, changed: bool = False) -> ReadSchedule:
    return ReadSchedule(
        anomaly_id=anomaly_id,
        next_read_at=T0 + timedelta(seconds=next_in),
        interval_seconds=max(next_in, 0),
        last_read_at=T0,
        changed_at=T0 if changed else None,
    )


def test_only_watched_links_of_due_or_unscheduled_anomalies_are_due(
    db: Database, make_link: Callable[..., Link]
) -> None:
    due, later, never, unwatched = (make_link(anomaly_id=i) for i in (1, 2, 3, 4))
    second_of_due = make_link(anomaly_id=1)
    sync.init_state(db, unwatched.id, "Resolved", True, [], now=T0)
    sync.set_watch(db, unwatched.id, False, now=T0)
    schedule.save(db, [_row(1, 60), _row(2, 900), _row(4, 0)])

    assert [link.id for link in schedule.due_links(db, T0 + timedelta(seconds=60))] == [
        due.id,
        never.id,
        second_of_due.id,
    ]
    assert [link.anomaly_id for link in schedule.due_links(db, T0)] == [3]
    assert later.anomaly_id == 2


def test_saving_again_replaces_an_anomalys_row(db: Database) -> None:
    schedule.save(db, [_row(1, 60, changed=True), _row(2, 120)])
    schedule.save(db, [_row(1, 900)])
    assert schedule.get(db, [1, 2, 3]) == {1: _row(1, 900), 2: _row(2, 120)}
