"""One sync leader at a time (issue 15): a file lock beside the SQLite file, PostgreSQL's advisory lock on
a connection of the leader's own; a leader that goes away (its process, its connection) hands over within
one poll; the scheduler runs passes only while leading, and /healthz says which."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bot.sync.leader import AdvisoryLock, FileLock, Leadership, OnChange, Sole, leadership_for
from bot.sync.wiring import scheduler_lifespan

WAIT = 10.0  # seconds an awaited change may take before the test fails (never slept through)
POLL = 0.05
DATABASE_URL = os.environ.get("SNOWBOT_TEST_DATABASE_URL")


class Watch:
    """`on_change` that remembers every change and lets a test await the next one."""

    def __init__(self) -> None:
        self.changes: list[bool] = []
        self.changed = asyncio.Event()

    def __call__(self, leading: bool) -> None:
        self.changes.append(leading)
        self.changed.set()

    async def becomes(self, leadership: Leadership, leading: bool) -> None:
        async with asyncio.timeout(WAIT):
            while leadership.leading() != leading:
                self.changed.clear()
                await self.changed.wait()


async def handover(first: Leadership, second: Leadership, *, drop_first: object = None) -> list[bool]:
    """`first` leads, `second` waits; `first` goes away (its block ends, or `drop_first` is awaited); then
    `second` leads. Returns `second`'s changes."""
    one, two = Watch(), Watch()
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(first.keep(on_change=one))
        await one.becomes(first, True)
        await stack.enter_async_context(second.keep(on_change=two))
        for _ in range(5):  # several polls of the second: it never leads while the first does
            two.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(two.changed.wait(), POLL * 2)
        assert (first.leading(), second.leading()) == (True, False)
        if drop_first is None:
            await stack.aclose()  # the first replica stops: its lock goes with it
            async with second.keep(on_change=two):
                await two.becomes(second, True)
                return two.changes
        await drop_first  # type: ignore[misc]
        await one.becomes(first, False)
        await two.becomes(second, True)
        assert one.changes == [True, False]
        return two.changes


async def test_one_process_on_a_sqlite_file_leads_and_a_second_takes_over_when_it_stops(
    tmp_path: Path,
) -> None:
    path = tmp_path / "snowbot.db.leader"
    changes = await handover(FileLock(path, poll=POLL), FileLock(path, poll=POLL))
    assert changes == [True, False]  # leading, then given up when its block ended


def test_the_leadership_follows_the_database() -> None:
    assert isinstance(leadership_for(":memory:", poll=1), Sole)
    file_lock = leadership_for(Path("/var/lib/snowbot/snowbot.db"), poll=1)
    assert isinstance(file_lock, FileLock) and file_lock.path == Path("/var/lib/snowbot/snowbot.db.leader")
    advisory = leadership_for("postgresql://snowbot@db/snowbot", poll=2)
    assert isinstance(advisory, AdvisoryLock) and advisory.poll == 2


def _postgres() -> str:
    if DATABASE_URL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("SNOWBOT_TEST_DATABASE_URL is not set in CI (.ci/run starts PostgreSQL and sets it)")
        pytest.skip("SNOWBOT_TEST_DATABASE_URL is not set: no PostgreSQL to take advisory locks on")
    return DATABASE_URL


async def test_on_postgresql_a_leader_whose_connection_dies_loses_the_lead_and_another_takes_it() -> None:
    import psycopg

    url = _postgres()
    key = 4242  # apart from the real key: a test run beside a snowbot on the same database
    first, second = AdvisoryLock(url, poll=POLL, key=key), AdvisoryLock(url, poll=POLL, key=key)

    async def kill_first_connection() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = %s",
                [key],
            )

    changes = await handover(first, second, drop_first=kill_first_connection())
    assert changes == [True, False]  # leading, then given up when its block ended


class Switch:
    """A leadership the test turns on and off."""

    def __init__(self) -> None:
        self.on = False
        self.told: OnChange | None = None

    def leading(self) -> bool:
        return self.on

    def set(self, leading: bool) -> None:
        self.on = leading
        assert self.told is not None
        self.told(leading)

    @contextlib.asynccontextmanager
    async def keep(self, on_change: OnChange | None = None) -> AsyncIterator[None]:
        self.told = on_change
        yield


class Engine:
    def __init__(self) -> None:
        self.passes = 0
        self.ran = asyncio.Event()
        self.hold = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def run_pass(self) -> None:
        self.passes += 1
        self.ran.set()
        try:
            await self.hold.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_the_scheduler_runs_passes_only_while_leading_and_healthz_says_which() -> None:
    engine, switch = Engine(), Switch()
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {name: check() for name, check in app.state.health.items()}

    lifespan = scheduler_lifespan(engine, 3600, switch)  # type: ignore[arg-type]
    async with (
        lifespan(app, None),
        httpx.AsyncClient(  # type: ignore[arg-type]
            transport=httpx.ASGITransport(app=app), base_url="http://bot"
        ) as client,
    ):
        assert (await client.get("/healthz")).json() == {"sync": "standby"}
        await asyncio.sleep(0)  # the first (scheduled at start) tick ran while standing by
        assert engine.passes == 0
        switch.set(True)  # gaining the lead runs a pass at once, not an interval later
        await asyncio.wait_for(engine.ran.wait(), WAIT)
        assert (await client.get("/healthz")).json() == {"sync": "leading"}
        switch.set(False)  # losing it cancels the pass under way: another replica detects now
        await asyncio.wait_for(engine.cancelled.wait(), WAIT)
        assert (await client.get("/healthz")).json() == {"sync": "standby"}
    assert engine.passes == 1


async def test_on_postgresql_two_snowbots_in_two_schemas_of_one_database_each_have_a_leader() -> None:
    from tests.backends import fresh_schema

    url = _postgres()
    with fresh_schema(url) as one, fresh_schema(url) as two:
        first, second = AdvisoryLock(one, poll=POLL), AdvisoryLock(two, poll=POLL)
        async with first.keep(), second.keep():  # the first attempt is made before the block starts
            assert (first.leading(), second.leading()) == (True, True)
