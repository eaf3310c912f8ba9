from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlite_utils import Database

import storage
from storage import sync
from storage.links import Link
from storage.sync import Event

from .conftest import T0

MakeLink = Callable[..., Link]


def comment(comment_id: int, text: str = "note") -> Event:
    return {"event_key": sync.comment_event_key(comment_id), "kind": "comment", "payload": {"text": text}}


def status(state: sync.SyncState, new_status: str) -> Event:
    return {
        "event_key": sync.status_event_key(state, new_status),
        "kind": "status",
        "payload": {"to": new_status},
    }


@pytest.fixture
def link(db: Database, make_link: MakeLink) -> Link:
    new = make_link()
    sync.init_state(db, new.id, "Active", False, [1, 2], now=T0)
    return new


def drain(db: Database, now: datetime = T0) -> list[tuple[int, str]]:
    """Send everything due, like the sync would; return (link_id, event_key) in delivery order."""
    sent = []
    while batch := sync.due(db, now, limit=1000):
        for item in batch:
            assert sync.mark_sending(db, item.id, now=now)
            sent.append((item.link_id, item.event_key))
            sync.mark_done(db, item.id, now=now)
    return sent


# --- state ---


def test_init_state_records_the_baseline_once(db: Database, make_link: MakeLink) -> None:
    link = make_link()
    state = sync.init_state(db, link.id, "Active", False, [5, 6], now=T0)
    assert (state.last_status, state.archived, state.resolved, state.watch) == ("Active", False, False, True)
    assert state.seen_comment_ids == {5, 6} and state.status_seq == 0 and state.updated_at == T0
    again = sync.init_state(db, link.id, "Acknowledged", True, [7])
    assert again == state
    assert sync.get_state(db, 999) is None
    assert sync.counts(db) == {
        "pending": 0,
        "retrying": 0,
        "failed": 0,
        "done": 0,
    }  # the baseline sends nothing


def test_record_events_queues_and_advances_together(db: Database, link: Link) -> None:
    state = sync.get_state(db, link.id)
    assert state is not None
    events = [status(state, "Acknowledged"), comment(3, "first"), comment(4, "second")]
    assert sync.record_events(db, link.id, "Acknowledged", False, [3, 4], events, now=T0) == 3
    after = sync.get_state(db, link.id)
    assert after is not None
    assert (after.last_status, after.status_seq, after.seen_comment_ids) == ("Acknowledged", 1, {1, 2, 3, 4})
    queued = sync.items(db, link.id)
    assert [i.event_key for i in queued] == ["status:1:Acknowledged", "comment:3", "comment:4"]
    assert queued[1].payload == {"text": "first"} and queued[1].state == "pending" and queued[1].attempts == 0
    assert len({i.marker for i in queued}) == 3 and all(i.marker.startswith("snowbot-") for i in queued)


def test_recording_the_same_events_again_adds_nothing(db: Database, link: Link) -> None:
    state = sync.get_state(db, link.id)
    assert state is not None
    events = [status(state, "Acknowledged"), comment(3)]
    assert sync.record_events(db, link.id, "Acknowledged", False, [3], events, now=T0) == 2
    assert sync.record_events(db, link.id, "Acknowledged", False, [3], events, now=T0) == 0
    assert sync.get_state(db, link.id).status_seq == 1  # type: ignore[union-attr]
    assert drain(db, T0 + timedelta(hours=1)) == [(link.id, "status:1:Acknowledged"), (link.id, "comment:3")]
    assert sync.record_events(db, link.id, "Acknowledged", False, [3], events) == 0  # even after delivery
    assert drain(db, T0 + timedelta(hours=1)) == []


def test_a_status_that_comes_back_is_a_new_event(db: Database, link: Link) -> None:
    for new_status in ("Acknowledged", "Active", "Acknowledged"):
        state = sync.get_state(db, link.id)
        assert state is not None
        assert sync.record_events(db, link.id, new_status, False, [], [status(state, new_status)]) == 1
    keys = [i.event_key for i in sync.items(db, link.id)]
    assert keys == ["status:1:Acknowledged", "status:2:Active", "status:3:Acknowledged"]


def test_a_failure_inside_record_events_leaves_nothing(db: Database, link: Link) -> None:
    bad: Event = {"event_key": "x", "kind": "nonsense", "payload": {}}  # type: ignore[typeddict-item]
    with pytest.raises(sqlite3.IntegrityError):
        sync.record_events(db, link.id, "Acknowledged", False, [3], [comment(3), bad])
    state = sync.get_state(db, link.id)
    assert state is not None and state.last_status == "Active" and state.seen_comment_ids == {1, 2}
    assert sync.items(db, link.id) == []


def test_a_crash_before_commit_loses_nothing_and_the_retry_duplicates_nothing(
    db: Database, link: Link
) -> None:
    state = sync.get_state(db, link.id)
    assert state is not None
    events = [status(state, "Acknowledged"), comment(3)]
    with pytest.raises(KeyboardInterrupt), storage.atomic(db):
        sync.record_events(db, link.id, "Acknowledged", False, [3], events)
        raise KeyboardInterrupt  # the process dies between detecting and committing
    assert sync.get_state(db, link.id) == state
    assert sync.record_events(db, link.id, "Acknowledged", False, [3], events) == 2
    assert len(sync.items(db, link.id)) == 2


def test_record_events_needs_a_baseline(db: Database, make_link: MakeLink) -> None:
    with pytest.raises(LookupError, match="init_state"):
        sync.record_events(db, make_link().id, "Active", False, [], [comment(1)])


def test_watch_and_resolved_flags(db: Database, link: Link) -> None:
    assert sync.set_watch(db, link.id, False, now=T0) == 1
    assert sync.set_watch(db, [link.id], False) == 0
    sync.set_resolved(db, link.id, True)
    state = sync.get_state(db, link.id)
    assert state is not None and (state.watch, state.resolved) == (False, True)


def test_thousands_of_seen_comments(db: Database, link: Link) -> None:
    ids = range(10, 5010)
    sync.record_events(db, link.id, "Active", False, ids, [comment(i) for i in ids])
    assert len(sync.get_state(db, link.id).seen_comment_ids) == 5002  # type: ignore[union-attr]


# --- outbox ---


def test_due_is_oldest_first_and_one_per_link(db: Database, make_link: MakeLink) -> None:
    a, b = make_link(), make_link()
    for each in (a, b):
        sync.init_state(db, each.id, "Active", False, [])
    sync.record_events(db, a.id, "Active", False, [1, 2], [comment(1), comment(2)], now=T0)
    sync.record_events(db, b.id, "Active", False, [3], [comment(3)], now=T0)
    assert [(i.link_id, i.event_key) for i in sync.due(db, T0)] == [(a.id, "comment:1"), (b.id, "comment:3")]
    assert sync.due(db, T0 - timedelta(seconds=1)) == []
    assert len(sync.due(db, T0, limit=1)) == 1
    assert drain(db) == [(a.id, "comment:1"), (b.id, "comment:3"), (a.id, "comment:2")]


def test_retry_backs_off_and_holds_the_links_later_items(db: Database, link: Link) -> None:
    sync.record_events(db, link.id, "Active", False, [3, 4], [comment(3), comment(4)], now=T0)
    first = sync.due(db, T0)[0]
    assert first.maybe_sent is False
    assert sync.mark_sending(db, first.id, now=T0)
    assert sync.mark_sending(db, first.id, now=T0) is False  # already claimed
    assert sync.due(db, T0) == []  # comment:4 waits while comment:3 is being sent
    sync.mark_retry(db, first.id, "503 Service Unavailable", T0 + timedelta(seconds=30))
    assert sync.due(db, T0 + timedelta(seconds=29)) == []  # backing off, and comment:4 still waits
    (again,) = sync.due(db, T0 + timedelta(seconds=30))
    assert (again.id, again.attempts, again.last_error, again.maybe_sent) == (
        first.id,
        1,
        "503 Service Unavailable",
        True,
    )
    assert sync.counts(db) == {"pending": 2, "retrying": 1, "failed": 0, "done": 0}
    assert [(i.id, i.last_error) for i in sync.retrying(db)] == [(first.id, "503 Service Unavailable")]
    assert drain(db, T0 + timedelta(seconds=30)) == [(link.id, "comment:3"), (link.id, "comment:4")]
    done = sync.get_item(db, first.id)
    assert done is not None and done.state == "done" and done.attempts == 2 and done.done_at is not None
    assert done.last_error is None and sync.retrying(db) == []
    assert sync.counts(db) == {"pending": 0, "retrying": 0, "failed": 0, "done": 2}


def test_an_expired_sending_lease_is_offered_again(db: Database, link: Link) -> None:
    sync.record_events(db, link.id, "Active", False, [3], [comment(3)], now=T0)
    item = sync.due(db, T0)[0]
    sync.mark_sending(db, item.id, now=T0, lease=timedelta(minutes=5))  # ... and the process dies
    assert sync.due(db, T0 + timedelta(minutes=4)) == []
    (again,) = sync.due(db, T0 + timedelta(minutes=5))
    assert again.id == item.id and again.state == "sending" and again.maybe_sent


def test_failed_items_are_reported_not_dropped_and_do_not_block(db: Database, link: Link) -> None:
    sync.record_events(db, link.id, "Active", False, [3, 4], [comment(3), comment(4)], now=T0)
    first = sync.due(db, T0)[0]
    sync.mark_sending(db, first.id, now=T0)
    sync.mark_failed(db, first.id, "403 Forbidden: cannot write work notes")
    assert [i.event_key for i in sync.due(db, T0)] == ["comment:4"]
    assert drain(db) == [(link.id, "comment:4")]
    assert sync.counts(db) == {"pending": 0, "retrying": 0, "failed": 1, "done": 1}
    (failure,) = sync.failures(db)
    assert (failure.id, failure.last_error) == (first.id, "403 Forbidden: cannot write work notes")
    sync.mark_retry(db, (sync.items(db, link.id)[1]).id, "late", T0)  # a done item is never reopened
    assert sync.items(db, link.id)[1].state == "done"


def test_requeue_failed(db: Database, make_link: MakeLink) -> None:
    a, b = make_link(), make_link()
    for each in (a, b):
        sync.init_state(db, each.id, "Active", False, [])
        sync.record_events(db, each.id, "Active", False, [1], [comment(1)], now=T0)
    for item in sync.due(db, T0):
        sync.mark_sending(db, item.id, now=T0)
        sync.mark_failed(db, item.id, "401")
    assert sync.requeue_failed(db, a.id, now=T0) == 1
    (requeued,) = sync.due(db, T0)
    assert (
        requeued.link_id == a.id and requeued.attempts == 0 and requeued.maybe_sent
    )  # check the marker first
    assert sync.requeue_failed(db, now=T0) == 1
    assert sync.counts(db) == {"pending": 2, "retrying": 2, "failed": 0, "done": 0}  # the reason shows


def test_due_can_be_limited_to_some_links(db: Database, make_link: MakeLink) -> None:
    a, b, c = make_link(), make_link(), make_link()
    for each in (a, b, c):
        sync.init_state(db, each.id, "Active", False, [])
        sync.record_events(db, each.id, "Active", False, [1, 2], [comment(1), comment(2)], now=T0)
    assert [(i.link_id, i.event_key) for i in sync.due(db, T0, link_ids={c.id, a.id})] == [
        (a.id, "comment:1"),
        (c.id, "comment:1"),
    ]
    assert sync.due(db, T0, link_ids=[]) == []
    assert sync.due(db, T0 - timedelta(seconds=1), link_ids=[a.id]) == []  # still only when due
    first = sync.due(db, T0, link_ids=[b.id])[0]
    sync.mark_sending(db, first.id, now=T0)
    assert sync.due(db, T0, link_ids=[b.id]) == []  # one at a time per link, in order
    sync.mark_done(db, first.id, now=T0)
    assert [i.event_key for i in sync.due(db, T0, link_ids=[b.id])] == ["comment:2"]
    assert len(sync.due(db, T0, limit=1, link_ids=[a.id, b.id, c.id])) == 1


def test_sync_runs(db: Database) -> None:
    assert sync.last_run(db) is None
    for n in range(5):
        sync.record_run(db, started_at=T0, finished_at=T0 + timedelta(seconds=n), summary={"n": n}, keep=3)
    last = sync.last_run(db)
    assert last is not None and last.summary == {"n": 4} and last.finished_at == T0 + timedelta(seconds=4)
    assert db["sync_runs"].count == 3
    assert json.loads(next(db["sync_runs"].rows)["summary"]) == {"n": 2}
