"""End-to-end harness for the Slack surface.

The real app (`bot.app.build_app` with the Slack extension) is driven over httpx's ASGI transport with
signed requests, as Slack sends them. ServiceNow and Qualytics are the in-process emulators of the
shared fixtures; the Slack Web API emulator runs on a loopback port (slack_sdk speaks aiohttp), beside a
small recorder for `response_url` posts. After a request, `settle()` waits for the work Bolt runs after
the ack (the surface's task tracker), never a fixed time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from bot.app import Extension, build_app
from bot.composition import Outside, Process, compose
from bot.settings import Settings
from bot.slack.extension import surface_extension
from bot.slack.ids import BlockId
from bot.usecases import Snowbot
from emulators.serve import serve_in_thread
from emulators.slack import SlackEmulator
from slackuser import CHANNEL, TEAM, USERS, ResponseUrls, SlackDriver, with_hooks
from slackuser import qualytics_alert as shared_alert

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
ALERTS = CHANNEL
__all__ = ["ALERTS", "TEAM", "USERS"]  # re-exported for the tests
QUALYTICS = "https://demo.qualytics.io"


def qualytics_alert(anomaly_id: int, *, host: str = QUALYTICS) -> dict[str, Any]:
    """Qualytics' alert for `anomaly_id` in orders_daily of the Sales Warehouse datastore (23)."""
    return shared_alert(
        anomaly_url=f"{host}/datastores/23/anomalies?id={anomaly_id}",
        datastore_url=f"{host}/datastores/23",
        datastore="Sales Warehouse",
        container="orders_daily",
        checks="17 records failed: max_value is not between 0 and 100000",
    )


@dataclass
class SlackWorld:
    slack: SlackEmulator
    hooks: ResponseUrls
    base_url: str

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def methods(self) -> list[str]:
        return [call.method for call in self.slack.calls if call.method != "auth.test"]


@pytest.fixture
def world() -> Iterator[SlackWorld]:
    slack = SlackEmulator(bot_token=BOT_TOKEN)
    hooks = ResponseUrls()
    with serve_in_thread(with_hooks(slack.app, hooks)) as base_url:
        yield SlackWorld(slack, hooks, base_url)


class Harness(SlackDriver):
    """The shared simulated Slack user (`slackuser.SlackDriver`) sending into the real app, and what a
    test reads back: the emulator, the app, the wired `Snowbot`, the sleeps the surface asked for."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        app: Any,
        world: SlackWorld,
        snowbot: Snowbot,
        sleeps: list[float],
        process: Process,
    ) -> None:
        super().__init__(
            http=http,
            settle=self._idle,
            signing_secret=SIGNING_SECRET,
            workspace=world.slack,
            hooks_url=f"{world.base_url}/hooks",
        )
        self.app = app
        self.world = world
        self.snowbot = snowbot
        self.sleeps = sleeps
        self.process = process
        """What `bot.composition.compose` built (the engine, the Slack surface and its notifier)."""

    @property
    def slack(self) -> SlackEmulator:
        return self.world.slack

    async def _idle(self) -> None:
        assert self.process.slack is not None
        assert await self.process.slack.idle(10), "Slack work still running after 10 s"

    def card_in(self, channel: str, thread_ts: str) -> dict[str, Any]:
        """The one anomaly card the bot posted in a thread (its chat-ops buttons are what a person clicks)."""
        [card] = self.cards_in(channel, thread_ts)
        return card

    def cards_in(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.slack.app_messages(channel, thread_ts)
            if any(b.get("block_id") == BlockId.ANOMALY_ACTIONS for b in m.get("blocks", []))
        ]

    def last_view(self) -> dict[str, Any]:
        return list(self.slack.views.values())[-1]


@pytest.fixture
def slack_settings(make_settings: Callable[..., Settings], world: SlackWorld) -> Settings:
    return make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{world.base_url}/api/",
        admins="U_BOB",
    )


@pytest.fixture
def servicenow_transport() -> httpx.AsyncBaseTransport | None:
    """The bot's way to ServiceNow (None: the emulator in-process); a test module may override it."""
    return None


@pytest.fixture
async def harness(
    slack_settings: Settings,
    outside: Outside,
    world: SlackWorld,
    servicenow_transport: httpx.AsyncBaseTransport | None,
) -> AsyncIterator[Harness]:
    """The parts as `snowbot run` composes them (the use cases' hooks reach the engine and Slack), served
    with the Slack surface only: no scheduler runs a pass behind a test's back."""
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    if servicenow_transport is not None:
        outside = replace(outside, servicenow_transport=servicenow_transport)
    process = compose(slack_settings, outside=outside, sleep=record_sleep, suggest_budget=0.5)
    surface = process.slack
    assert surface is not None

    def slack_only(settings: Settings, snowbot: Snowbot) -> Extension:
        return surface_extension(settings, surface, sleep=record_sleep)

    app = build_app(slack_settings, snowbot=process.snowbot, extensions=[slack_only])
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://snowbot.test") as http:
                yield Harness(
                    http=http, app=app, world=world, snowbot=process.snowbot, sleeps=sleeps, process=process
                )
    finally:
        await process.snowbot.aclose()
        process.snowbot.db.close()


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness
