"""Which replica runs the scheduled sync passes: one leader at a time over one database.

Detection assumes a single detector (`bot.sync.engine`), so with several `snowbot run` on one database only
the leader runs the scheduled passes; every replica serves creates, Slack and the REST API, and the
webhook's and Slack's syncs of named anomalies (their outbox rows are claimed one replica at a time).

- `AdvisoryLock` (PostgreSQL): `pg_try_advisory_lock(key, hashtext(current_schema()))` on a connection of its own, held by the leader for
  as long as that connection lives. PostgreSQL releases a session's advisory locks when the session ends
  (PostgreSQL 15 manual, 9.27.10 "Advisory Lock Functions" and 13.3.5 "Advisory Locks"), so a leader that is
  killed or loses its connection loses the lead; the leader checks its connection every `poll` seconds
  (a failed check: it stops leading at once), and the others try for the lock as often, so one of them
  leads within one poll interval.
- `FileLock` (SQLite): `flock(LOCK_EX | LOCK_NB)` on `<database>.leader`, held while the process lives
  (the kernel drops it when the process dies, even by SIGKILL; flock(2)). A single process always leads;
  several processes on one SQLite file (one host: SQLite's locking needs it anyway) get one leader.
- `Sole`: always leads (an in-memory database, tests).

`keep(on_change)` runs the attempts in the background for the life of the scheduler and calls
`on_change(leading)` whenever this replica gains or loses the lead; `leading()` answers at once (for
/healthz and the metrics gauge). Never runs a pass itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

from bot.shutdown import background
from storage.db import is_url

log = logging.getLogger(__name__)

LOCK_CLASS = 0x736E6F73  # "snos"
"""The advisory lock's first key; the second is the schema's hash (`hashtext(current_schema())`): advisory
locks are per database, so two snowbots in two schemas of one database must not share a leader."""

OnChange = Callable[[bool], object]


class Leadership(Protocol):
    def leading(self) -> bool:
        """Whether this replica runs the scheduled passes now."""
        ...

    def keep(self, on_change: OnChange | None = None) -> contextlib.AbstractAsyncContextManager[None]:
        """Try for (and hold) the lead in the background until the block ends, then give it up."""
        ...


class Sole:
    """Always the leader."""

    def leading(self) -> bool:
        return True

    @contextlib.asynccontextmanager
    async def keep(self, on_change: OnChange | None = None) -> AsyncIterator[None]:
        yield


class _Polled:
    """Tries for the lead every `poll` seconds while not leading, checks it as often while leading."""

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self._leading = False

    def leading(self) -> bool:
        return self._leading

    async def _acquire(self) -> bool:
        raise NotImplementedError

    async def _still_held(self) -> bool:
        raise NotImplementedError

    async def _release(self) -> None:
        raise NotImplementedError

    async def _step(self) -> bool:
        try:
            return await (self._still_held() if self._leading else self._acquire())
        except Exception as err:  # a lost connection, a refused login: not leading, try again later
            log.warning("sync leadership: %s: %s", type(err).__name__, err)
            with contextlib.suppress(Exception):
                await self._release()
            return False

    @contextlib.asynccontextmanager
    async def keep(self, on_change: OnChange | None = None) -> AsyncIterator[None]:
        """The first attempt before the block starts (so a scheduler started inside knows at once), then
        one every `poll` seconds in the background."""

        async def attempt() -> None:
            now = await self._step()
            if now != self._leading:
                self._leading = now
                log.info("sync leadership: %s", "this replica leads the sync" if now else "standby")
                if on_change is not None:
                    on_change(now)

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.poll)
                await attempt()

        await attempt()
        task = background(asyncio.create_task(loop(), name="sync-leadership"))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._leading:
                self._leading = False
                if on_change is not None:
                    on_change(False)
            with contextlib.suppress(Exception):
                await self._release()


class FileLock(_Polled):
    """An exclusive `flock` on a file beside the SQLite database."""

    def __init__(self, path: Path, *, poll: float) -> None:
        super().__init__(poll)
        self.path = path
        self._fd: int | None = None

    async def _acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def _still_held(self) -> bool:
        return self._fd is not None

    async def _release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock


class AdvisoryLock(_Polled):
    """`pg_try_advisory_lock` on a dedicated psycopg connection (autocommit: the lock is the session's)."""

    def __init__(
        self, url: str, *, poll: float, key: int = LOCK_CLASS, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(poll)
        self.url = url
        self.key = key
        self.connect_timeout = connect_timeout
        self._conn: Any = None

    async def _acquire(self) -> bool:
        if self._conn is None:
            import psycopg  # type: ignore[import-not-found, unused-ignore]  # installed with PostgreSQL support

            self._conn = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, int(self.connect_timeout)),
                application_name="snowbot sync leader",
                # a dead peer is noticed by the checks below; keepalives end a half-open session on the server
                keepalives=1,
                keepalives_idle=max(1, int(self.poll)),
                keepalives_interval=max(1, int(self.poll)),
                keepalives_count=3,
            )
        cursor = await self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", [self.key]
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _still_held(self) -> bool:
        cursor = await asyncio.wait_for(
            self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted AND objsubid = 2 AND classid::bigint = %s",
                [self.key],
            ),
            timeout=self.poll,
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()  # the session ends: PostgreSQL releases its advisory locks


def leadership_for(target: str | Path, *, poll: float) -> Leadership:
    """The leadership of the database `storage.connect` opens for `target`: PostgreSQL's advisory lock for
    a `postgresql://` URL, else a file lock beside the SQLite file (an in-memory database always leads)."""
    if is_url(target):
        return AdvisoryLock(str(target), poll=poll)
    if str(target) == ":memory:" or str(target).startswith("file:"):
        return Sole()
    return FileLock(Path(f"{target}.leader"), poll=poll)
