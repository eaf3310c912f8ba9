"""Opening the database, transactions that nest, and the one timestamp format.

Transactions: sqlite-utils 3.x wraps each `insert`, `update` and `delete` in `with db.conn:`, and a plain
`sqlite3.Connection` commits whatever transaction is open when such a block ends. Two sqlite-utils calls
meant to land together would then commit separately. `connect()` therefore builds the connection from
`_Connection`, whose `with conn:` nests: the outermost block is the transaction (`BEGIN IMMEDIATE` ...
`COMMIT`, or `ROLLBACK` on an exception) and inner blocks are savepoints. `atomic(db)` is the spelled-out
name for that block; every multi-row change in `storage` runs inside one, and callers may wrap several
storage calls in their own `atomic(db)` to make them one unit (for example `links.add` + `sync.init_state`).

Outside a block every statement commits on its own (`isolation_level=None`), so reads never hold a
transaction open. A connection (and so its transaction depth) belongs to one thread at a time: the app
reaches it only through its `storage.store.Store` (one worker thread per connection).

File identity: `connect` remembers the device and inode of the file it opened. `check_identity(db)`
raises `DatabaseFileGoneError` when the path no longer names that file (deleted, or replaced by
another): every write would then go to a file nobody will open again.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

from sqlite_utils import Database
from sqlite_utils.db import Table

BUSY_TIMEOUT_SECONDS = 5.0


class _Connection(sqlite3.Connection):
    """A sqlite3 connection whose `with conn:` blocks nest (outermost = transaction, inner = savepoint)."""

    _depth: int = 0
    path: str | None = None
    """The file opened (absolute), None for ":memory:"."""
    identity: tuple[int, int] | None = None
    """(st_dev, st_ino) of that file when it was opened."""

    def __enter__(self) -> _Connection:
        if self._depth == 0:
            # IMMEDIATE takes the write lock now, so a second writer waits (busy timeout) at BEGIN
            # instead of failing halfway through when a read lock cannot be upgraded.
            self.execute("BEGIN IMMEDIATE")
        else:
            self.execute(f"SAVEPOINT nest_{self._depth}")
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self._depth -= 1
        if self._depth > 0:
            name = f"nest_{self._depth}"
            if exc_type is not None:
                self.execute(f"ROLLBACK TO {name}")
            self.execute(f"RELEASE {name}")
            return False
        if exc_type is None:
            try:
                self.execute("COMMIT")
            except BaseException:
                if self.in_transaction:
                    self.execute("ROLLBACK")
                raise
        elif self.in_transaction:  # some errors (e.g. SQLITE_FULL) have already rolled back
            self.execute("ROLLBACK")
        return False


def connect(path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> Database:
    """Open (creating if needed) the snowbot database at `path`; ":memory:" works for tests.

    WAL lets readers run beside the one writer; `synchronous=NORMAL` is the usual WAL pairing (a commit
    survives an application crash; a power cut may lose the last commits, which the outbox's marker check
    covers). `check_same_thread=False` lets an async app use the connection from its event loop thread.
    Call `migrate(db)` before use.
    """
    conn = sqlite3.connect(
        str(path),
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        factory=_Connection,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    if str(path) != ":memory:" and not str(path).startswith("file:"):
        conn.path = os.path.abspath(path)
        opened = os.stat(conn.path)  # right after SQLite opened it (journal_mode read the header)
        conn.identity = (opened.st_dev, opened.st_ino)
    return Database(conn)


class DatabaseFileGoneError(sqlite3.DatabaseError):
    """The database file was deleted or replaced while the connection was open: writes would be lost."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"The database file {path} was {what} while snowbot was running.")
        self.path = path
        self.what = what


def check_identity(db: Database) -> None:
    """Raise `DatabaseFileGoneError` unless the path still names the file this connection opened."""
    conn = db.conn
    path, identity = getattr(conn, "path", None), getattr(conn, "identity", None)
    if path is None or identity is None:
        return
    try:
        now = os.stat(path)
    except FileNotFoundError:
        raise DatabaseFileGoneError(path, "deleted") from None
    if (now.st_dev, now.st_ino) != identity:
        raise DatabaseFileGoneError(path, "replaced by another file")


def db_table(db: Database, name: str) -> Table:
    """`db[name]` as the `Table` it is here: sqlite-utils types it `Table | View`, and storage makes no views."""
    found = db[name]
    if not isinstance(found, Table):
        raise TypeError(f"{name} is a view, not a table")
    return found


@contextmanager
def atomic(db: Database) -> Iterator[Database]:
    """One transaction (or, when nested, one savepoint): everything inside commits together or not at all."""
    with db.conn:
        yield db


def aware(moment: datetime | None = None) -> datetime:
    """`moment`, or now when None; a naive datetime is refused rather than guessed at."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("storage needs timezone-aware datetimes (use datetime.now(UTC))")
    return moment


def iso(moment: datetime | None = None) -> str:
    """`moment` (default: now) as ISO 8601 UTC text, the only timestamp format stored.

    One fixed format (microseconds, `+00:00`) means timestamps compare correctly as text in SQL.
    """
    return aware(moment).astimezone(UTC).isoformat(timespec="microseconds")
