"""`storage.store.Store`: storage calls on the connection's own thread, busy and vanished databases."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

import storage
from storage import DatabaseBusyError, DatabaseFileGoneError, intents, links, store_for
from storage.db import check_identity


async def test_calls_run_on_one_thread_that_is_not_the_event_loops(db: Database) -> None:
    store = store_for(db)
    assert store_for(db) is store
    names = {await store.run(lambda: threading.current_thread().name) for _ in range(3)}
    assert len(names) == 1 and names != {threading.current_thread().name}
    assert await store.run(links.for_anomaly, db, 1) == []


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own write lock
async def test_a_held_write_lock_is_a_busy_error_and_the_loop_keeps_running(
    db_path: Path, db: Database
) -> None:
    db.execute("PRAGMA busy_timeout=300")
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(DatabaseBusyError):
            await store_for(db).run(db.execute, "INSERT INTO sync_runs VALUES (NULL, 'a', 'b', '{}')")
    finally:
        ticker.cancel()
        other.execute("ROLLBACK")
        other.close()
    assert ticks > 10  # the event loop ran while the write waited for the lock
    assert isinstance(DatabaseBusyError("x"), sqlite3.OperationalError)  # old `except`s still catch it


async def test_a_cancelled_caller_waits_for_its_call_which_commits(db: Database) -> None:
    started, finish = threading.Event(), threading.Event()

    def slow_record() -> None:
        started.set()
        finish.wait(10)
        db.execute("INSERT INTO sync_runs (started_at, finished_at, summary) VALUES ('a', 'b', '{}')")

    task = asyncio.create_task(store_for(db).run(slow_record))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()  # still waiting for the call: it cannot be stopped halfway
    finish.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db["sync_runs"].count == 1


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own file
async def test_a_deleted_or_replaced_file_is_refused_before_any_call(
    tmp_path: Path, db_path: Path, db: Database
) -> None:
    store = store_for(db)
    store.check()
    copy = tmp_path / "copy.db"
    shutil.copy(db_path, copy)
    os.replace(copy, db_path)
    with pytest.raises(DatabaseFileGoneError, match="replaced"):
        store.check()
    called: list[int] = []
    with pytest.raises(DatabaseFileGoneError):
        await store.run(called.append, 1)
    assert called == []
    os.unlink(db_path)
    with pytest.raises(DatabaseFileGoneError, match="deleted") as gone:
        check_identity(db)
    assert gone.value.path == str(db_path)


def test_memory_databases_have_no_file_to_check() -> None:
    check_identity(storage.connect(":memory:"))


def test_an_intent_is_open_until_linked_and_announced_at_most_once(db: Database, make_link) -> None:  # type: ignore[no-untyped-def]
    link = make_link(anomaly_id=7)
    intent = intents.record(
        db,
        kind="create",
        anomaly_id=7,
        integration_id=link.integration_id,
        fields={"short_description": "x"},
        baseline={"status": "Active", "archived": False, "comment_ids": []},
        actor="U1",
        correlation_id="snowbot:7:abc",
        channel_id="C1",
    )
    assert [i.id for i in intents.open_intents(db, 7, "create")] == [intent.id]
    intents.mark_linked(db, intent.id, link.id)
    assert intents.open_intents(db) == [] and [i.id for i in intents.to_announce(db)] == [intent.id]
    assert intents.claim_announcement(db, intent.id) and not intents.claim_announcement(db, intent.id)
    assert intents.to_announce(db) == []
    links.delete(db, link.id)  # the link's intent goes with it
    assert intents.get(db, intent.id) is None
