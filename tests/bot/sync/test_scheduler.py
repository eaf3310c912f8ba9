"""The APScheduler job that runs a pass every SNOWBOT_SYNC_INTERVAL seconds inside `snowbot run`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot.sync.scheduler import JOB_ID, SyncScheduler, run_pass_job, scheduled

WAIT = 5.0  # seconds an awaited event may take before the test fails (never slept through)


async def test_the_job_runs_every_interval_in_utc_without_overlap_or_pile_up() -> None:
    async def run_pass() -> None:
        return None

    sync_scheduler = SyncScheduler(run_pass, 90)
    sync_scheduler.scheduler.start(paused=True)  # job defaults apply once the job is really added
    job = sync_scheduler.scheduler.get_job(JOB_ID)
    await sync_scheduler.stop()

    assert str(sync_scheduler.scheduler.timezone) == "UTC"
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 90)
    assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(seconds=90)
    assert job.next_run_time <= datetime.now(UTC) + timedelta(seconds=1)  # the first pass runs at start
    with pytest.raises(ValueError):
        SyncScheduler(run_pass, 0)


async def test_a_failing_pass_is_logged_and_the_next_one_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0
    first, second = asyncio.Event(), asyncio.Event()

    async def run_pass() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            first.set()
            raise RuntimeError("ServiceNow exploded")
        second.set()

    sync_scheduler = SyncScheduler(run_pass, 3600)
    sync_scheduler.start()
    try:
        job = sync_scheduler.scheduler.get_job(JOB_ID)
        await asyncio.wait_for(first.wait(), WAIT)
        job.modify(next_run_time=datetime.now(UTC))
        await asyncio.wait_for(second.wait(), WAIT)
    finally:
        await sync_scheduler.stop()

    assert calls == 2
    assert "sync pass failed: RuntimeError: ServiceNow exploded" in caplog.text


async def test_stopping_cancels_a_pass_in_progress_and_waits_for_it() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def run_pass() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a pass that would run for ever
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with scheduled(run_pass, 60) as sync_scheduler:
        await asyncio.wait_for(started.wait(), WAIT)
    assert cancelled.is_set()
    assert not sync_scheduler.scheduler.running or sync_scheduler.running.task is None


async def test_the_job_function_swallows_a_pass_error_group(caplog: pytest.LogCaptureFixture) -> None:
    async def run_pass() -> None:
        raise ExceptionGroup("pass", [OSError("disk full")])

    await run_pass_job(run_pass)
    assert "sync pass failed: OSError: disk full" in caplog.text
