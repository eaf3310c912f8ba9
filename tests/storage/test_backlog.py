"""`storage.backlog`: the outbox's open rows by state, the due rows and the oldest one's age."""

from __future__ import annotations

from datetime import timedelta

from sqlite_utils import Database

from storage import backlog, sync

from .conftest import T0
from .test_sync import MakeLink, comment


def test_an_empty_outbox_has_no_backlog(db: Database) -> None:
    found = backlog.backlog(db, T0)
    assert found == backlog.Backlog(
        rows={"pending": 0, "sending": 0, "retrying": 0, "failed": 0}, due=0, oldest_due_age=0.0
    )


def test_rows_by_state_and_the_age_of_the_oldest_due_row(db: Database, make_link: MakeLink) -> None:
    a, b = make_link(), make_link()
    for each in (a, b):
        sync.init_state(db, each.id, "Active", False, [])
    sync.record_events(db, a.id, "Active", False, [1, 2], [comment(1), comment(2)], now=T0)
    sync.record_events(db, b.id, "Active", False, [3], [comment(3)], now=T0 + timedelta(minutes=10))
    first, _ = sync.due(db, T0 + timedelta(minutes=10))
    sync.mark_sending(db, first.id, now=T0 + timedelta(minutes=10))
    sync.mark_retry(db, first.id, "HTTP 503", T0 + timedelta(hours=1))  # backing off: not due
    now = T0 + timedelta(minutes=30)

    found = backlog.backlog(db, now)

    assert found.rows == {"pending": 3, "sending": 0, "retrying": 1, "failed": 0}
    assert found.due == 2  # comment 2 (recorded at T0) and comment 3 (at T0 + 10 min)
    assert found.oldest_due_age == 30 * 60.0


def test_failed_and_done_rows(db: Database, make_link: MakeLink) -> None:
    link = make_link()
    sync.init_state(db, link.id, "Active", False, [])
    sync.record_events(db, link.id, "Active", False, [3, 4], [comment(3), comment(4)], now=T0)
    first, *_ = sync.due(db, T0)
    sync.mark_failed(db, first.id, "HTTP 403")
    [second] = sync.due(db, T0)
    sync.mark_sending(db, second.id, now=T0)
    sync.mark_done(db, second.id, now=T0)

    found = backlog.backlog(db, T0)

    assert found.rows == {"pending": 0, "sending": 0, "retrying": 0, "failed": 1}
    assert (found.due, found.oldest_due_age) == (0, 0.0)
