"""Shared helpers for `make bench`: emulators in their own process, timing, and the results file."""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

Lifespan = Literal["auto", "on", "off"]
RESULTS = Path(".bench/results.json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(factory: Callable[[str], Any], port: int, ready: Any, lifespan: Lifespan) -> None:
    import uvicorn

    app = factory(f"http://127.0.0.1:{port}").app
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan=lifespan
    )
    server = uvicorn.Server(config)
    original_startup = server.startup

    # signal readiness from uvicorn's own start-up, no polling
    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets=sockets)
        ready.set()

    server.startup = startup  # type: ignore[method-assign]
    server.run()  # uvicorn binds host/port itself in the child


@contextmanager
def serve_in_process(factory: Callable[[str], Any], *, lifespan: Lifespan = "off") -> Iterator[str]:
    """Run an app (`factory(base_url).app`: an emulator, or the bot) on a loopback port in a child process.

    `lifespan="on"` runs the app's lifespan as `snowbot run` does (the bot's shared pools and hooks).

    A separate process keeps the server off the benchmark's own GIL and event loop, so the numbers
    measure the client, not the server competing with it.
    """
    port = free_port()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve, args=(factory, port, ready, lifespan), daemon=True)
    proc.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("emulator did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.join(10)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "n": len(samples),
    }


def save(section: str, figures: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[section] = figures
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def sys_id(i: int) -> str:
    """The benchmarks' sys_id of ticket `i` (32 hex digits)."""
    return f"{i:032x}"


def bench_integration(db: Any, instance_url: str) -> int:
    """The one stored integration the sync benchmarks link through (admin:admin); its id."""
    from pydantic import SecretStr

    from storage import SecretBox, integrations

    saved = integrations.save(
        db, SecretBox("bench"), instance_url=instance_url, username="admin", password=SecretStr("admin")
    )
    return saved.id


def add_bench_link(db: Any, integration_id: int, i: int, instance_url: str, *, status: str, now: Any) -> None:
    """Link anomaly `i` to incident INC<i> (sys_id `sys_id(i)`) with its sync baseline (`status`, not
    archived, no comments), as a running snowbot leaves it; call inside `storage.atomic`."""
    from storage import links, sync

    link = links.add(
        db,
        anomaly_id=i,
        integration_id=integration_id,
        ticket_sys_id=sys_id(i),
        ticket_number=f"INC{i:07d}",
        status="New",
        url=f"{instance_url}/incident/{sys_id(i)}",
        created_by="bench",
        now=now,
    )
    sync.init_state(db, link.id, status, False, [], now=now)
