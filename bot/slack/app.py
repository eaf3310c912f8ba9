"""The Bolt app: snowbot's listeners on a slack-bolt `AsyncApp`, built from the settings and the `Snowbot`.

`build_slack` wires the Web API client (SLACK_API_URL, rate-limit and connection retries), every
listener and the one error handler; HTTP requests are verified by the route (`bot.slack.inbound`). `bot.slack.extension` serves it over HTTP (`POST /slack/events`) or Socket Mode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics, SlackCallMeter
from bot.settings import Settings
from bot.slack import handlers
from bot.slack.boltlog import bolt_logger
from bot.slack.cards import AnomalyCards
from bot.slack.client import Sleep, bot_token, configure_client
from bot.slack.handlers.common import Deps
from bot.slack.handlers.errors import on_error
from bot.slack.suggest import Suggestions
from bot.slack.tasks import TaskTracker
from bot.usecases import Snowbot

log = logging.getLogger(__name__)


AckObserver = Callable[[str, str, float], None]
"""Told each ack: the mode ("http", "socket"), the request's kind (`inbound.kind`), the seconds it took."""


@dataclass
class SlackSurface:
    bolt: AsyncApp
    client: AsyncWebClient
    deps: Deps
    observe_ack: AckObserver | None = None

    @property
    def tasks(self) -> TaskTracker:
        return self.deps.tasks

    async def idle(self, within: float = 10.0) -> bool:
        """Wait until every listener and background task has finished (False when `within` seconds passed first)."""
        return await self.deps.tasks.idle(within)


def build_slack(
    settings: Settings,
    snowbot: Snowbot,
    *,
    client: AsyncWebClient | None = None,
    sleep: Sleep = asyncio.sleep,
    suggest_budget: float = 2.0,
    metrics: Metrics | None = None,
) -> SlackSurface:
    """The Bolt app with every listener. Bolt checks the token with auth.test on the first request it
    authorizes (never at start-up), and signatures on every HTTP request. With `metrics`, the Web API
    calls and the acks are measured (`bot.metrics`)."""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    new_bolt = partial(
        AsyncApp,
        name="snowbot",
        signing_secret=secret,
        logger=bolt_logger(),
        # the route verifies every HTTP request before Bolt parses it (`bot.slack.inbound`); Bolt's own
        # check would log a refused body. Its docs: "If you have a proxy that verifies request signature
        # in front of the Bolt app, it's totally fine to disable RequestVerification". Socket Mode needs none.
        request_verification_enabled=False,
    )
    if client is None:
        # Bolt builds the client from the token, then it is configured in place: Bolt reads SLACK_BOT_TOKEN
        # from the environment itself, and given `client=` as well it would warn at every start "As you
        # gave `client` as well, `token` will be unused" (slack_bolt/app/async_app.py, AsyncApp.__init__).
        bolt = new_bolt(token=bot_token(settings))
        meter = SlackCallMeter(metrics) if metrics is not None else None
        client = configure_client(bolt.client, settings, sleep=sleep, meter=meter)
    else:
        bolt = new_bolt(client=client)
    tasks = TaskTracker()
    deps = Deps(
        snowbot=snowbot,
        settings=settings,
        tasks=tasks,
        suggestions=Suggestions(tasks, budget=suggest_budget),
        cards=AnomalyCards(snowbot, client),
    )
    handlers.register(bolt, deps)
    bolt.error(on_error)
    observe = metrics.slack_ack if metrics is not None else None
    return SlackSurface(bolt=bolt, client=client, deps=deps, observe_ack=observe)
