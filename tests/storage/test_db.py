from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlite_utils import Database

import storage
from storage.db import iso


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own pragmas
def test_connect_sets_wal_foreign_keys_and_busy_timeout(db: Database) -> None:
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_connection_can_be_used_from_another_thread(db: Database) -> None:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(db.execute("SELECT 1").fetchone()[0]))
    thread.start()
    thread.join()
    assert result == [1]


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own helpers (tests/storage/test_backends.py: both)
def test_atomic_rolls_back_sqlite_utils_writes_together(db: Database) -> None:
    db.execute("CREATE TABLE t (v INTEGER)")
    with pytest.raises(RuntimeError), storage.atomic(db):
        db["t"].insert({"v": 1})  # sqlite-utils opens its own `with db.conn:` here
        db["t"].insert({"v": 2})
        raise RuntimeError("crash before commit")
    assert db["t"].count == 0
    assert not db.conn.in_transaction


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own helpers (tests/storage/test_backends.py: both)
def test_inner_block_is_a_savepoint(db: Database) -> None:
    db.execute("CREATE TABLE t (v INTEGER UNIQUE)")
    with storage.atomic(db):
        db["t"].insert({"v": 1})
        with pytest.raises(sqlite3.IntegrityError), storage.atomic(db):
            db["t"].insert({"v": 2})
            db["t"].insert({"v": 1})  # fails: the inner block (v=2 too) is undone, the outer goes on
        db["t"].insert({"v": 3})
    assert [row["v"] for row in db["t"].rows] == [1, 3]


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own write lock
def test_second_writer_waits_then_sees_committed_data(db_path: Path, db: Database) -> None:
    other = storage.connect(db_path, busy_timeout=0.05)
    db.execute("CREATE TABLE t (v INTEGER)")
    with storage.atomic(db):
        db["t"].insert({"v": 1})
        with pytest.raises(sqlite3.OperationalError, match="locked"), storage.atomic(other):
            pass
    with storage.atomic(other):
        other["t"].insert({"v": 2})
    assert db["t"].count == 2
    other.close()


def test_timestamps_are_utc_iso_and_naive_ones_are_refused() -> None:
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert iso(moment) == "2026-03-01T07:30:00.000000+00:00"
    assert iso().endswith("+00:00")
    assert datetime.fromisoformat(iso()).tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        iso(datetime(2026, 3, 1))
