"""The Slack Web API client: SLACK_API_URL when set, and bounded retries.

A 429 is retried after the `Retry-After` Slack sends (plus up to a second of jitter), at most twice and
only when the wait is short enough to be worth it in an interactive flow; a dropped connection is
retried twice with a short backoff (slack_sdk's own handler). The sleep is injectable so tests never wait.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_TIMEOUT = 10
TRIGGER_METHODS = ("views.open", "views.push")
TRIGGER_MAX_WAIT = 1.0
"""A trigger_id lives 3 seconds: a modal Slack asks us to open later than this cannot open at all, so
the person is told at once instead of after a long, useless wait."""


def _retry_after(response: HttpResponse | None) -> float:
    """Seconds from the Retry-After header (Slack sends whole seconds); 1 when absent or unreadable."""
    if response is None:
        return 1.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(float(values[0]), 0.0)
            except ValueError:
                return 1.0
    return 1.0


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's rate-limit handler with an injectable sleep and a ceiling on the wait: a call Slack
    asks to delay longer than `max_wait` fails at once (an interactive flow would time out anyway)."""

    def __init__(
        self,
        max_retry_count: int = 2,
        *,
        max_wait: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self.sleep = sleep
        self.jitter = jitter

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        ceiling = TRIGGER_MAX_WAIT if request.url.rstrip("/").endswith(TRIGGER_METHODS) else self.max_wait
        return _retry_after(response) <= ceiling

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self.sleep(_retry_after(response) + self.jitter())
        state.increment_current_attempt()


def retry_handlers(
    sleep: Sleep = asyncio.sleep, *, meter: AsyncRetryHandler | None = None
) -> list[AsyncRetryHandler]:
    """The retries; `meter` first (`bot.metrics.SlackCallMeter`: it sees every attempt, retries none)."""
    handlers = [RateLimitRetry(sleep=sleep), AsyncConnectionErrorRetryHandler(max_retry_count=2)]
    return [meter, *handlers] if meter is not None else handlers


def bot_token(settings: Settings) -> str | None:
    return settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None


def web_client(settings: Settings, *, sleep: Sleep = asyncio.sleep) -> AsyncWebClient:
    """The bot's client (SLACK_BOT_TOKEN) against SLACK_API_URL, or Slack's own API when it is unset."""
    return configure_client(AsyncWebClient(token=bot_token(settings)), settings, sleep=sleep)


def configure_client(
    client: AsyncWebClient,
    settings: Settings,
    *,
    sleep: Sleep = asyncio.sleep,
    meter: AsyncRetryHandler | None = None,
) -> AsyncWebClient:
    """Give a client (e.g. the one Bolt built) SLACK_API_URL, the timeout and the retries, in place
    (`base_url`, `timeout` and `retry_handlers` are public attributes of slack_sdk's client)."""
    if settings.slack_api_url:
        base_url = settings.slack_api_url
        client.base_url = base_url if base_url.endswith("/") else base_url + "/"
    client.timeout = DEFAULT_TIMEOUT
    client.retry_handlers = retry_handlers(sleep, meter=meter)
    return client
