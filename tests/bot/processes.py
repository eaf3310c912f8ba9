"""Run `snowbot …` as a real child process for the CLI tests: a clean environment (no SNOWBOT_*, SLACK_*,
QUALYTICS_*, SERVICENOW_* from the developer's shell), a scratch working directory (no `.env`), and its
output read line by line with a bounded deadline (never a sleep)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PREFIXES = ("SNOWBOT_", "SLACK_", "QUALYTICS_", "SERVICENOW_", "VAULT_")


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1", **settings)
    return env


def snowbot(
    tmp_path: Path, *args: str, timeout: float = 60, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`snowbot *args` to completion (bounded by `timeout`)."""
    return subprocess.run(
        [sys.executable, "-m", "snowbot", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Running:
    """A child `snowbot` whose stdout lines arrive on a queue (a reader thread), stderr kept aside."""

    def __init__(self, process: subprocess.Popen[str], stream: str = "stdout") -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(getattr(process, stream),), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, last: str | Callable[[str], bool], within: float = 60) -> list[str]:
        """Every line up to and including `last` (the line, or a test of it), or AssertionError with what
        came instead."""
        done = last if callable(last) else last.__eq__
        deadline = time.monotonic() + within
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(
                    f"no {last!r} within {within} s; got:\n" + "\n".join(self.seen)
                ) from None
            if line is None:
                raise AssertionError(f"the process ended before {last!r}; got:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if done(line):
                return list(self.seen)


@contextmanager
def running(tmp_path: Path, *args: str, stream: str = "stdout", **settings: str) -> Iterator[Running]:
    process = subprocess.Popen(
        [sys.executable, "-m", "snowbot", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Running(process, stream)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C: the way a person stops it
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
