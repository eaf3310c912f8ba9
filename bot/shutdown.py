"""How `snowbot run` stops: within SNOWBOT_SHUTDOWN_TIMEOUT seconds, saying what work it cut short.

On SIGTERM (or SIGINT) uvicorn stops accepting connections, lets requests in flight finish, then runs the
lifespans' shutdown (Slack, the scheduler, the clients), and each of those can be waiting on a
ServiceNow that does not answer. `SnowbotServer` bounds the whole of it: at three quarters of the
timeout the work still running (a request or a Slack listener in a use case, a sync pass) is cancelled,
one log line per task naming where it was; at the timeout whatever is left is cancelled too. A watchdog
thread ends the process a moment later should anything block the event loop itself. Cancelling is
safe: a create in flight is never sent again blindly, and what it recorded before the POST is found
again at the next start (reconciliation by correlation id).

A part of the app can also stop the process (`request_exit`, at `app.state.request_exit`), e.g. when
Slack refuses SLACK_APP_TOKEN; `snowbot run` then exits with that code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import uvicorn

log = logging.getLogger(__name__)
T = TypeVar("T")

OURS = ("bot", "servicenow", "storage")
"""Packages whose frames make a task snowbot's work (and name it in the log)."""
WORK_SHARE = 0.75
"""Share of the timeout the work in flight gets before it is cancelled; the rest is for the lifespans."""
HARD_EXIT_MARGIN = 2.0
"""Seconds past the timeout after which the watchdog ends the process whatever it is doing."""
_ROOT = Path(__file__).resolve().parents[1]
_BACKGROUND: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def background(task: asyncio.Task[T]) -> asyncio.Task[T]:
    """Mark a task its owner stops (a lifespan's loop such as the reconciler; a request's claim renewal,
    which ends with its request), so it is not reported as work left over."""
    _BACKGROUND.add(task)
    return task


def _frames(task: asyncio.Task[Any]) -> Iterator[FrameType]:
    """The frames of the task's await chain, outermost first."""
    awaited: Any = task.get_coro()
    for _ in range(200):
        if awaited is None:
            return
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            yield frame
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)


def _ours(frame: FrameType) -> bool:
    module = str(frame.f_globals.get("__name__", ""))
    return module.split(".")[0] in OURS and module != __name__


def describe(task: asyncio.Task[Any]) -> str | None:
    """Where snowbot's code in `task` is: "create_ticket -> Snowbot.create_ticket_for_anomaly -> ... (at
    servicenow/client.py:370)"; None when the task runs none of it (a library's own task)."""
    ours = [frame for frame in _frames(task) if _ours(frame)]
    if not ours:
        return None
    chain = " -> ".join(frame.f_code.co_qualname for frame in ours)
    inner = ours[-1]
    try:
        where = Path(inner.f_code.co_filename).resolve().relative_to(_ROOT)
    except ValueError:
        where = Path(inner.f_code.co_filename)
    return f"{chain} (at {where}:{inner.f_lineno}, task {task.get_name()})"


def snowbot_work(exclude: Iterable[asyncio.Task[Any]] = ()) -> list[tuple[asyncio.Task[Any], str]]:
    """The running tasks doing snowbot's work, with their description (not the lifespan's own task)."""
    skip = {*exclude, asyncio.current_task()}
    work = []
    for task in asyncio.all_tasks():
        if (
            task in skip
            or task in _BACKGROUND
            or task.done()
            or getattr(task.get_coro(), "__qualname__", None) == "LifespanOn.main"
        ):
            continue
        description = describe(task)
        if description is not None:
            work.append((task, description))
    return work


def _not_a_cancellation(record: logging.LogRecord) -> bool:
    """A log filter: uvicorn reports a request task cancelled here with its traceback; the line that
    cancelled it said it already."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def cancel_reporting(work: Iterable[tuple[asyncio.Task[Any], str]], why: str) -> list[asyncio.Task[Any]]:
    """Cancel each task, logging one line per task: `why` and where it was."""
    logging.getLogger("uvicorn.error").addFilter(_not_a_cancellation)
    cancelled = []
    for task, description in work:
        log.warning("%s, cancelled: %s", why, description)
        task.cancel()
        cancelled.append(task)
    return cancelled


def _hard_exit(timeout: float, code: int) -> None:
    sys.stderr.write(f"snowbot did not stop within {timeout:.0f}s (SNOWBOT_SHUTDOWN_TIMEOUT): exiting now\n")
    sys.stderr.flush()
    os._exit(code or 1)


class SnowbotServer(uvicorn.Server):
    """uvicorn's server with a bounded shutdown and `request_exit`."""

    def __init__(self, config: uvicorn.Config, *, shutdown_timeout: float) -> None:
        super().__init__(config)
        self.shutdown_timeout = shutdown_timeout
        self.exit_code = 0

    def request_exit(self, code: int) -> None:
        """Stop serving and exit with `code` (the caller has logged why)."""
        self.exit_code = code
        self.should_exit = True

    async def shutdown(self, sockets: Any = None) -> None:
        timeout = self.shutdown_timeout
        if threading.current_thread() is threading.main_thread():  # a `snowbot run` process, not a test
            watchdog = threading.Timer(timeout + HARD_EXIT_MARGIN, _hard_exit, (timeout, self.exit_code))
            watchdog.daemon = True
            watchdog.start()
        stopping = asyncio.create_task(super().shutdown(sockets), name="snowbot-shutdown")
        done, _ = await asyncio.wait({stopping}, timeout=timeout * WORK_SHARE)
        if not done:
            left = snowbot_work(exclude=[stopping])
            log.warning(
                "shutdown: %d task(s) still running after %.1fs (SNOWBOT_SHUTDOWN_TIMEOUT=%g)",
                len(left),
                timeout * WORK_SHARE,
                timeout,
            )
            cancelled = cancel_reporting(left, "unfinished at shutdown")
            done, _ = await asyncio.wait({stopping, *cancelled}, timeout=timeout * (1 - WORK_SHARE))
        if not stopping.done():
            left = snowbot_work(exclude=[stopping])
            cancelled = cancel_reporting(left, f"shutdown still not done after {timeout:g}s")
            stopping.cancel()
            await asyncio.wait({stopping, *cancelled}, timeout=0.5)
            log.error("shutdown: stopped after %gs with work cut short (see the lines above)", timeout)
