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

Two backends, one interface: `Database` (below) is exactly what the storage functions use, and both
backends provide it: SQLite's `sqlite_utils.Database` as it is, and `storage.postgres.PgDatabase`
(psycopg 3) when `connect` is given a `postgresql://` URL (SNOWBOT_DATABASE_URL). Annotate storage
functions with `storage.db.Database`, not sqlite-utils' class. The SQL contract that code written once
runs on both (`storage.postgres` translates the rest in one place):

- `db.execute(sql, params)` (a cursor: `rowcount`, `fetchone`, `fetchall`, iteration over tuples),
  `db.query(sql, params)` (dicts), `db.conn.executemany(sql, rows)`, `db[table].rows_where(...)`,
  `.exists()`, `.count`, `.count_where(...)`; `atomic(db)` (or `with db.conn:`) for transactions, which
  nest as savepoints. Never sqlite-utils' `db[table].insert/upsert/update` helpers, `db.table_names()`,
  `db.schema`, `PRAGMA`, or `cursor.lastrowid`.
- Placeholders `?` or `:name` (translated to psycopg's `%s` / `%(name)s`; a literal `%` is escaped). A
  `:name IS NULL` test is fine (values are bound on the client side on PostgreSQL).
- `INSERT ... ON CONFLICT (cols) DO NOTHING / DO UPDATE SET col = excluded.col` (never `INSERT OR
  IGNORE/REPLACE`); `INSERT ... RETURNING id` for a new id. Booleans are INTEGER 0/1 and never added
  to numbers (`CASE WHEN ... THEN 1 ELSE 0 END`, not `n + (a != b)`); timestamps are ISO TEXT from
  `iso` (compared as text); no SQLite-only functions (json_each, datetime(), strftime, julianday, GLOB,
  IFNULL: use COALESCE, group_concat, two-argument min()/max(): use CASE) and no PostgreSQL-only ones
  outside a `dialect(db)` branch. `LIKE` ignores ASCII case on SQLite only: compare `lower(...)`.
  `IN (?, ?, ...)` with one placeholder per value for a list.
- A statement whose error you catch and then carry on runs in its own `atomic(db)`: on PostgreSQL a
  failed statement aborts the whole transaction unless it was in a savepoint.
- Constraint failures raise `sqlite3.IntegrityError` on both, its message starting like SQLite's
  (`UNIQUE constraint failed: ...`, `FOREIGN KEY constraint failed: ...`, `CHECK ...`, `NOT NULL ...`).
- DDL (only in `storage.migrations`): plain SQLite-style `CREATE TABLE` / `ALTER TABLE` with INTEGER,
  TEXT, `INTEGER PRIMARY KEY`, REFERENCES ... ON DELETE CASCADE, CHECK, UNIQUE, `WITHOUT ROWID`, and
  `CREATE [UNIQUE] INDEX ... [WHERE ...]`. On PostgreSQL `INTEGER PRIMARY KEY` becomes `BIGINT GENERATED
  BY DEFAULT AS IDENTITY PRIMARY KEY`, INTEGER becomes BIGINT (SQLite's are 64-bit), TEXT becomes
  `TEXT COLLATE "C"` (byte order, as SQLite's BINARY), REAL becomes DOUBLE PRECISION, BLOB becomes
  BYTEA, `AUTOINCREMENT` and `WITHOUT ROWID` are dropped. No `DEFAULT CURRENT_TIMESTAMP` (its text
  differs: give `iso()` values).
- Transactions on PostgreSQL are READ COMMITTED: a read-then-write relies on a unique constraint or a
  row lock, as two SQLite connections would not need (BEGIN IMMEDIATE serializes writers there).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import sqlite_utils
from sqlite_utils.db import Table

from storage.urls import is_url

BUSY_TIMEOUT_SECONDS = 5.0

Params = Iterable[Any] | dict[str, Any] | None


class Cursor(Protocol):
    """What a statement gives back: `sqlite3.Cursor` or psycopg's."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """`db.conn`: a transaction block that nests (`atomic`), and many rows through one statement."""

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...
    def __enter__(self) -> Any: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool | None: ...


class Rows(Protocol):
    """`db[table]`: the few table readers storage uses."""

    def rows_where(
        self,
        where: str | None = None,
        where_args: Iterable[Any] | dict[str, Any] | None = None,
        order_by: str | None = None,
        select: str = "*",
        limit: int | None = None,
        offset: int | None = None,
    ) -> Iterator[dict[str, Any]]: ...
    def exists(self) -> bool: ...
    @property
    def count(self) -> int: ...
    def count_where(
        self, where: str | None = None, where_args: Iterable[Any] | dict[str, Any] | None = None
    ) -> int: ...


class Database(Protocol):
    """The one interface of both backends (see the module docstring)."""

    @property
    def conn(self) -> Connection: ...
    def execute(self, sql: str, parameters: Iterable[Any] | dict[str, Any] | None = None) -> Cursor: ...
    def query(
        self, sql: str, params: Iterable[Any] | dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]: ...
    def __getitem__(self, table_name: str) -> Rows: ...
    def close(self) -> None: ...


def dialect(db: Database) -> Literal["sqlite", "postgresql"]:
    """Which backend `db` is, for the rare statement that must differ (advisory locks, say)."""
    return "sqlite" if isinstance(db, sqlite_utils.Database) else "postgresql"


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
    """Open the snowbot database: a `postgresql://` URL (`storage.postgres.connect`), else the SQLite file
    at `path` (created if needed; ":memory:" works for tests).

    WAL lets readers run beside the one writer; `synchronous=NORMAL` is the usual WAL pairing (a commit
    survives an application crash; a power cut may lose the last commits, which the outbox's marker check
    covers). `check_same_thread=False` lets an async app use the connection from its event loop thread.
    Call `migrate(db)` before use.
    """
    if is_url(path):
        from storage import postgres

        return postgres.connect(str(path), lock_timeout=busy_timeout)
    return connect_sqlite(path, busy_timeout=busy_timeout)


def connect_sqlite(path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite_utils.Database:
    """`connect` for a SQLite file, typed as sqlite-utils' own class (`storage.copy` reads its schema)."""
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
    return sqlite_utils.Database(conn)


class DatabaseFileGoneError(sqlite3.DatabaseError):
    """The database file was deleted or replaced while the connection was open: writes would be lost."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"The database file {path} was {what} while snowbot was running.")
        self.path = path
        self.what = what


def check_identity(db: Database) -> None:
    """Raise `DatabaseFileGoneError` unless the path still names the file this connection opened."""
    if not isinstance(db, sqlite_utils.Database):
        return  # a PostgreSQL server has no file to lose
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


def db_table(db: sqlite_utils.Database, name: str) -> Table:
    """`db[name]` as sqlite-utils' `Table` (SQLite only: storage's own code no longer needs it)."""
    found = db[name]
    if not isinstance(found, Table):
        raise TypeError(f"{name} is a view, not a table")
    return found


@contextmanager
def atomic(db: Database) -> Iterator[Database]:
    """One transaction (or, when nested, one savepoint): everything inside commits together or not at all."""
    with db.conn:
        yield db


def insert(db: Database, table: str, row: dict[str, Any]) -> int:
    """INSERT `row` (column -> value) into `table` and return its new `id` (`RETURNING id`: both backends)."""
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id"  # noqa: S608 (storage's own names)
    (new_id,) = db.execute(sql, list(row.values())).fetchall()[0]
    return int(new_id)


def update(db: Database, table: str, row_id: int, values: dict[str, Any]) -> None:
    """UPDATE the row of `table` whose id is `row_id` with `values` (column -> value)."""
    assignments = ", ".join(f"{column} = ?" for column in values)
    sql = f"UPDATE {table} SET {assignments} WHERE id = ?"  # noqa: S608 (storage's own names)
    db.execute(sql, [*values.values(), row_id])


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
