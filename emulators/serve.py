"""Run an ASGI app on a real loopback port in a background thread (tests, benchmarks, the demo).

Clients that do not speak httpx (pysnc over requests, slack_sdk over aiohttp) need a real socket.
`port=0` picks a free port; the context manager yields the base URL and stops the server on exit.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

MAX_HEAD = 1 << 20
"""uvicorn refuses request heads over 16 KB with its own 400; the emulators answer long URLs themselves
(ServiceNow's 414, `emulators.servicenow.MAX_URL_BYTES`)."""


def _free_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    sock = _free_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level=log_level, lifespan="off", access_log=False, h11_max_incomplete_event_size=MAX_HEAD
    )
    server = uvicorn.Server(config)
    started = threading.Event()

    original_startup = server.startup

    async def startup(sockets=None):  # signal readiness from uvicorn's own start-up, no polling
        await original_startup(sockets=sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name=f"asgi-{bound_port}", daemon=True)
    thread.start()
    if not started.wait(timeout=15):
        raise RuntimeError(f"the server on {host}:{bound_port} did not start")
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
