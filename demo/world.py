"""The demo's world: the ServiceNow, Qualytics and Slack emulators on loopback ports (threads) and the real
bot (`bot.app.build_app` with the Slack and sync extensions, its lifespan running) served by uvicorn in
this event loop. Settings are built here, never read from the environment or `.env`; secrets are fresh
and random. Plays no step of the story (demo.story does)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from bot.app import build_app
from bot.composition import Process, compose
from bot.settings import Settings
from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from emulators.slack import SlackEmulator
from slackuser import ResponseUrls, with_hooks
from storage import SecretBox

ANOMALY_ID = 824
QUALYTICS_PERSON = ("Raj Patel", "raj.patel@acme.example")
"""Who acknowledges, comments on and archives the anomaly in Qualytics (with their own API token)."""
SERVICENOW_LOGIN = "admin:admin"  # the ServiceNow emulator's default account
READY = "Still running; Ctrl-C stops it."
"""The last line `--keep-running` prints once everything is up."""


@dataclass
class DemoWorld:
    """The running emulators and bot, and the secrets the demo made up for them."""

    servicenow: ServiceNowEmulator
    qualytics: QualyticsEmulator
    slack: SlackEmulator
    hooks: ResponseUrls
    settings: Settings
    app: FastAPI
    process: Process
    """The bot's parts as `bot.composition.compose` built them (the engine, the Slack surface)."""
    bot_url: str
    servicenow_url: str
    qualytics_url: str
    slack_url: str
    person_token: str

    @property
    def api_token(self) -> str:
        assert self.settings.api_token is not None
        return self.settings.api_token.get_secret_value()


def demo_settings(
    directory: Path,
    *,
    servicenow_url: str,
    qualytics_url: str,
    qualytics_token: str,
    slack_url: str,
    slack_token: str,
    sync_interval: int = 3600,
) -> Settings:
    """Every setting given here (the environment and `.env` play no part), secrets fresh and random."""
    values: dict[str, Any] = {
        name: spec.get_default(call_default_factory=True) for name, spec in Settings.model_fields.items()
    }
    values.update(
        slack_bot_token=slack_token,
        slack_signing_secret=secrets.token_hex(16),
        slack_app_token=None,  # HTTP mode: Slack's requests come to POST /slack/events
        slack_api_url=f"{slack_url}/api/",
        servicenow_instance_url=servicenow_url,
        servicenow_credentials=SERVICENOW_LOGIN,
        allow_insecure_instance=True,  # the emulator speaks http on loopback
        qualytics_url=qualytics_url,
        qualytics_token=qualytics_token,
        db_path=directory / "snowbot.db",
        secret_key=SecretBox.generate_key(),
        api_token=secrets.token_urlsafe(24),
        webhook_secret=secrets.token_urlsafe(24),
        sync_interval=sync_interval,
        admins="",
    )
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def demo_world(directory: Path, *, sync_interval: int = 3600) -> AsyncIterator[DemoWorld]:
    """Start the emulators (threads) and the bot (this loop), all on loopback; stop them on exit.

    The story runs its sync passes itself; the scheduler's first pass runs at start-up, the next one
    `sync_interval` seconds later."""
    with ExitStack() as stack:
        servicenow = ServiceNowEmulator()
        servicenow_url = stack.enter_context(serve_in_thread(servicenow.app))
        servicenow.base_url = servicenow_url  # incident links and Location headers name the real port

        bot_token, person_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        qualytics = QualyticsEmulator(token=bot_token)
        qualytics.add_person(person_token, *QUALYTICS_PERSON)
        qualytics_url = stack.enter_context(serve_in_thread(qualytics.app))
        qualytics.base_url = qualytics_url

        slack_token = f"xoxb-demo-{secrets.token_hex(12)}"
        slack = SlackEmulator(bot_token=slack_token)
        hooks = ResponseUrls()  # the Web API under /api/, response_url webhooks under /hooks/
        slack_url = stack.enter_context(serve_in_thread(with_hooks(slack.app, hooks)))

        settings = demo_settings(
            directory,
            servicenow_url=servicenow_url,
            qualytics_url=qualytics_url,
            qualytics_token=bot_token,
            slack_url=slack_url,
            slack_token=slack_token,
            sync_interval=sync_interval,
        )
        process = compose(settings)  # as `snowbot run` builds it
        app = build_app(settings, process=process)
        async with app.router.lifespan_context(app), _serve_here(app) as bot_url:
            yield DemoWorld(
                servicenow=servicenow,
                qualytics=qualytics,
                slack=slack,
                hooks=hooks,
                settings=settings,
                app=app,
                process=process,
                bot_url=bot_url,
                servicenow_url=servicenow_url,
                qualytics_url=qualytics_url,
                slack_url=slack_url,
                person_token=person_token,
            )


class _Server(uvicorn.Server):
    """uvicorn in the running loop. Signals stay with `asyncio.run` (Ctrl-C ends the demo, not only this
    server), and start-up is announced through an event instead of being polled."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@asynccontextmanager
async def _serve_here(app: FastAPI, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `app` on a free loopback port from this event loop (its lifespan is the caller's to run)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="snowbot-demo-server")
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({serving, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            if serving.done():
                serving.result()  # start-up failed: its exception
            raise RuntimeError(f"the bot did not start on {host}:{sock.getsockname()[1]}")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        ready.cancel()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        sock.close()
