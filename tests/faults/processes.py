"""A real `snowbot run` in a child process, for fault tests that kill it, lock its database or delete it.

The child reads only the environment given here (its working directory is empty: no `.env`). Readiness
and progress are awaited on its log lines (uvicorn's "Application startup complete", snowbot's own
lines), each with a bounded deadline; nothing sleeps.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import API_TOKEN, QUALYTICS_TOKEN, SECRET_KEY

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Poll `condition` until true, at most `timeout` seconds (a bounded deadline, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.02)


class Bot:
    """One `snowbot run` process; `lines` collects its log (stderr) as it comes."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())
            self._new.put(line)

    def wait_for_line(self, text: str, timeout: float = 30.0) -> str:
        """The first log line (from now on, or already seen) containing `text`."""
        for line in list(self.lines):
            if text in line:
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None and self._new.empty():
                log = "\n".join(self.lines[-40:])
                raise AssertionError(f"snowbot never logged {text!r}; its log ends:\n{log}")
            try:
                line = self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if text in line:
                return line

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def snowbot_run(
    tmp: Path, db_path: Path | str, sn_url: str, q_url: str, *, port: int | None = None, **env: str
) -> Iterator[Bot]:
    """`snowbot run` against the emulators at `sn_url` and `q_url`, with its database at `db_path`, on
    `port` (a free one by default; the same port again: the same replica restarted)."""
    process, bot = start_replica(tmp, db_path, sn_url, q_url, port=port or free_port(), **env)
    try:
        bot.wait_for_line("Application startup complete")
        yield bot
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def start_replica(
    tmp: Path, db_path: Path | str, sn_url: str, q_url: str, *, port: int, **env: str
) -> tuple[subprocess.Popen[str], Bot]:
    """Start `snowbot run` on `port` (its replica name is the host and the port); not waited for."""
    workdir = tmp / f"run-{port}"
    workdir.mkdir(exist_ok=True)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        # a URL: PostgreSQL (SNOWBOT_DATABASE_URL); else the SQLite file
        ("SNOWBOT_DATABASE_URL" if str(db_path).startswith("postgresql://") else "SNOWBOT_DB"): str(db_path),
        "SNOWBOT_SECRET_KEY": SECRET_KEY,
        "SNOWBOT_API_TOKEN": API_TOKEN,
        "SNOWBOT_PORT": str(port),
        "SNOWBOT_SYNC_INTERVAL": "3600",
        "SNOWBOT_HTTP_TIMEOUT": "60",
        "SERVICENOW_INSTANCE_URL": sn_url,
        "SERVICENOW_CREDENTIALS": "admin:admin",
        "SNOWBOT_ALLOW_INSECURE_INSTANCE": "true",
        "QUALYTICS_URL": q_url,
        "QUALYTICS_TOKEN": QUALYTICS_TOKEN,
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "snowbot", "run"],
        cwd=workdir,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, Bot(process, f"http://127.0.0.1:{port}")
