"""Runs `SyncEngine.run_pass` every SNOWBOT_SYNC_INTERVAL seconds inside `snowbot run` (APScheduler 3.x).

Policy, set once in `job_defaults`:
- `coalesce=True`: passes missed while the loop was busy (or the host asleep) run once, not once each.
- `max_instances=1`: a pass never overlaps the previous one (detection assumes a single detector); a
  pass longer than the interval makes the next one wait for the following tick.
- `misfire_grace_time` = the interval: a pass up to one interval late still runs; later than that, the
  next regular run is as near, so that one is skipped (3.x's default of 1 second would drop late runs).
The job store is in memory with a fixed job id: the durable state (sync state, outbox) is in SQLite.
A pass that raises is logged with its reason and the schedule goes on; the first pass runs at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

JOB_ID = "snowbot-sync-pass"
RULES_JOB_ID = "snowbot-rules-poll"

PassRunner = Callable[[], Awaitable[object]]


class _Running:
    """The task of the pass in progress, so stopping can cancel and await it."""

    task: asyncio.Task[object] | None = None


async def run_pass_job(run_pass: PassRunner, running: _Running | None = None) -> None:
    """The job: one pass; a failure is logged with its reason and does not stop the schedule."""
    if running is not None:
        running.task = asyncio.current_task()
    try:
        await run_pass()
    except Exception as err:  # the next pass must still run: log it, never let it out
        log.exception("sync pass failed: %s", _reason(err))
    finally:
        if running is not None:
            running.task = None


class SyncScheduler:
    """The scheduler with the sync job, and the pass in progress (so `stop` can cancel and await it)."""

    def __init__(
        self,
        run_pass: PassRunner,
        interval: int,
        *,
        first_run: datetime | None = None,
        job_id: str = JOB_ID,
        name: str = "sync pass",
    ) -> None:
        if interval < 1:
            raise ValueError("the sync interval is at least 1 second")
        self.interval = interval
        self.name = name
        self.running = _Running()
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": interval},
        )
        self.scheduler.add_job(
            run_pass_job,
            IntervalTrigger(seconds=interval, timezone=UTC),
            args=(run_pass, self.running),
            id=job_id,
            name=name,
            replace_existing=True,
            next_run_time=first_run or datetime.now(UTC),
        )

    def start(self) -> None:
        """Start on the running event loop (an ASGI lifespan's start-up)."""
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.scheduler.start()
        log.info("%s scheduled every %d seconds", self.name, self.interval)

    def run_soon(self) -> None:
        """Run the next pass now (this replica just became the sync's leader)."""
        if self.scheduler.running:
            self.scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))

    def cancel_pass(self) -> None:
        """Cancel the pass in progress, if any (this replica lost the lead: another one detects now)."""
        task = self.running.task
        if task is not None and not task.done():
            task.cancel()

    async def stop(self) -> None:
        """Stop the schedule and cancel a pass in progress, waiting until it has unwound. Its outbox rows
        stay leased and are retried by the next pass or process (see `bot.sync.engine`)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        task = self.running.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def scheduled(
    run_pass: PassRunner, interval: int, *, job_id: str = JOB_ID, name: str = "sync pass"
) -> AsyncIterator[SyncScheduler]:
    """`async with scheduled(engine.run_pass, settings.sync_interval):` for the life of the server (also
    the creation rules' poll, under its own job id and name)."""
    sync_scheduler = SyncScheduler(run_pass, interval, job_id=job_id, name=name)
    sync_scheduler.start()
    try:
        yield sync_scheduler
    finally:
        await sync_scheduler.stop()


def _reason(err: BaseException) -> str:
    if isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
        return _reason(err.exceptions[0])
    message = getattr(err, "message", None) or str(err)
    return f"{type(err).__name__}: {message}" if message else type(err).__name__
