"""`Store`: the one worker thread that uses a database connection, so storage never blocks the event loop.

SQLite calls block: a write waits up to the busy timeout (5 s) while another connection holds the write
lock, and any call on a connection waits while another thread's call holds it. The async app therefore
never calls the (synchronous) `storage` functions itself: `await store.run(links.for_anomaly, db, 824)`
runs the call on the connection's own thread. Calls run one at a time, in the order they were made, so
a transaction (`storage.atomic`) inside one call never interleaves with another. `store_for(db)` gives
every user of a connection (the use cases, the sync engine) the same store and so the same thread.

Before each call the file's identity is checked (`storage.db.check_identity`): a database file deleted
or replaced while running raises `DatabaseFileGoneError` instead of writing where nobody will read. A
call that finds the write lock held past the busy timeout raises `DatabaseBusyError`. A caller
cancelled while its call runs waits for the call to end (it cannot be stopped halfway), then is
cancelled: the connection is never used by a call whose caller is gone, and a write that was submitted
(a create's intent) is committed even when its request is cancelled.

On PostgreSQL (`storage.postgres`) the store has `POSTGRES_WORKERS` threads, each with its own
connection: calls run side by side (the server isolates their transactions), each call still on one
thread from start to end. A lock held past the lock timeout raises `DatabaseBusyError` there too.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from storage.db import Database, check_identity, dialect

P = ParamSpec("P")
T = TypeVar("T")

POSTGRES_WORKERS = 4
"""Worker threads (so connections) of a store on PostgreSQL; SQLite's has one."""


class DatabaseBusyError(sqlite3.OperationalError):
    """Another connection held the database's write lock for longer than the busy timeout."""


def _is_busy(err: sqlite3.OperationalError) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _is_pg_busy(err: Exception) -> bool:
    """psycopg's LockNotAvailable (55P03: lock_timeout ran out), without importing psycopg for SQLite."""
    return getattr(err, "sqlstate", None) == "55P03"


class Store:
    """A database connection and the one thread that uses it (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        workers = POSTGRES_WORKERS if dialect(db) == "postgresql" else 1
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snowbot-db")
        self._closed = False

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the connection's thread (pass the `Database` yourself, as usual)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(self._call, fn, *args, **kwargs))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                await asyncio.wait([future])
            raise

    def _call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        check_identity(self.db)
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as err:
            if _is_busy(err) and not isinstance(err, DatabaseBusyError):
                raise DatabaseBusyError(str(err)) from err
            raise
        except Exception as err:
            if _is_pg_busy(err):
                raise DatabaseBusyError(str(err).splitlines()[0]) from err
            raise

    def check(self) -> None:
        """`check_identity` without waiting for the thread (one `stat`: safe on the event loop)."""
        check_identity(self.db)

    async def aclose(self) -> None:
        """Close the connection on its thread, after the calls already made."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self.db.close)
        self._executor.shutdown(wait=False)


def store_for(db: Database) -> Store:
    """The store of `db`'s connection, made on first use; every caller gets the same one."""
    store = getattr(db, "_snowbot_store", None)
    if store is None:
        store = Store(db)
        db._snowbot_store = store  # type: ignore[attr-defined]
    return store
