"""The work the Slack surface does after it has answered Slack.

Bolt acknowledges a request as soon as a listener calls `ack()` and lets the listener run on in its
own task; the surface also starts background work (a suggestion lookup that outlived its time budget,
a sync of an anomaly someone just changed). `TaskTracker` knows all of it, so shutdown can let it finish
and tests can wait for it deterministically (`idle()`), without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskTracker:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    def track_current(self) -> None:
        """Count the running task (a listener) until it ends."""
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run `coro` in the background; a failure is logged, never lost."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_all(self) -> None:
        """Cancel what is still running (shutdown after the grace period), one log line per task saying
        where it was, and wait for it to unwind."""
        from bot.shutdown import describe  # here: bot.shutdown brings uvicorn, which the surface needs not

        me = asyncio.current_task()
        pending = [task for task in self._tasks if not task.done() and task is not me]
        for task in pending:
            log.warning("unfinished Slack work at shutdown, cancelled: %s", describe(task) or task.get_name())
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self, within: float = 10.0) -> bool:
        """Wait until no tracked work is left (False when `within` seconds passed first).

        Each round first yields to the event loop once: a listener Bolt has just scheduled (an event it
        acknowledged by itself) starts, and registers, before the check."""
        deadline = time.monotonic() + within
        me = asyncio.current_task()
        while True:
            await asyncio.sleep(0)
            pending = {task for task in self._tasks if not task.done() and task is not me}
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(pending, timeout=remaining)
