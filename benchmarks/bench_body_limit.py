"""Memory under a huge body: 200 MB streamed at `POST /slack/events` of `snowbot run`'s app in its own process.

The server's peak RSS (VmHWM in /proc/<pid>/status) after the request, minus its RSS before, for a body
with a `Content-Length` and for a chunked one. With the cap (`bot/bodylimit.py`) both are refused with
413 after at most 1 MiB; without it the route read the whole body first (+190 MB). Linux only.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import _serve, free_port, save

BODY = 200 * 1024 * 1024
CHUNK = 256 * 1024


class Served:
    def __init__(self, app: Any) -> None:
        self.app = app


def make_snowbot(base_url: str) -> Served:
    import logging
    import tempfile

    from bot.app import build_app
    from bot.settings import Settings
    from bot.slack.extension import slack_extension

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(
        _env_file=None,
        db_path=str(Path(tempfile.mkdtemp()) / "bench.db"),
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench-signing-secret",
    )
    return Served(build_app(settings, extensions=[slack_extension]))


@contextmanager
def served() -> Iterator[tuple[int, int]]:
    """(port, pid) of the app in a child process."""
    port = free_port()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve, args=(make_snowbot, port, ready, "on"), daemon=True)
    proc.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("snowbot did not start")
        yield port, proc.pid or 0
    finally:
        proc.terminate()
        proc.join(10)


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def send(port: int, *, chunked: bool) -> str:
    """Stream the body until the server stops taking it; return its status line (or what happened)."""
    head = "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {BODY}\r\n\r\n"
    chunk = b"x" * CHUNK
    frame = f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(BODY // CHUNK):
                sock.sendall(frame)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed while the body was still coming
        try:
            return sock.recv(200).split(b"\r\n", 1)[0].decode() or "closed without an answer"
        except OSError as err:
            return f"closed ({type(err).__name__})"


def main() -> None:
    figures: dict[str, Any] = {}
    for chunked in (False, True):
        with served() as (port, pid):
            before = kib(pid, "VmRSS")
            status = send(port, chunked=chunked)
            peak = kib(pid, "VmHWM")
        name = "chunked" if chunked else "content_length"
        figures[name] = {
            "rss_before_mib": round(before / 1024, 1),
            "peak_growth_mib": round((peak - before) / 1024, 1),
        }
        figures[name]["answer"] = status
        print(f"[body_limit] 200 MB body ({name}): {status}; peak RSS +{(peak - before) / 1024:.1f} MiB")
    save("body_limit", figures)


if __name__ == "__main__":
    main()
