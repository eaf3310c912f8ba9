"""Socket Mode: snowbot's WebSocket to Slack, opened in the background so the rest of the process runs.

`SocketModeLink.start()` returns at once; a task asks Slack for a WebSocket URL (`apps.connections.open`
with SLACK_APP_TOKEN) and connects to it, and slack_sdk's client keeps the session alive and reconnects
through the same path. Slack's answer decides what happens (its errors table for apps.connections.open):

- a refusal of the token (`invalid_auth`, `not_allowed_token_type` e.g. an xoxb token in SLACK_APP_TOKEN,
  `token_revoked`, `missing_scope`, ...) never heals by retrying: `on_refused` gets one line naming
  SLACK_APP_TOKEN and the cause, and `snowbot run` stops with it;
- a failure that passes (Slack unreachable, a timeout, `ratelimited`, `internal_error`, a 5xx) is retried
  with a growing backoff (1 s, 2 s, ... 30 s) while `status` says "reconnecting (reason)" (in /healthz).

`close()` stops it at any point, within a few seconds. It never logs the token.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from time import perf_counter, time

import aiohttp
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import inbound

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""apps.connections.open errors that pass (Slack's errors table: "likely due to a transient issue")."""

APP_TOKEN_HELP = (
    "create one under Basic Information -> App-Level Tokens with the connections:write scope and set "
    "SLACK_APP_TOKEN to its xapp-... value"
)
REFUSALS = {
    "not_allowed_token_type": "it is not an app-level token (a bot token xoxb-... belongs in SLACK_BOT_TOKEN)",
    "invalid_auth": "it is not a valid app-level token of this app",
    "not_authed": "it is empty",
    "token_revoked": "the token was revoked",
    "token_expired": "the token expired",
    "account_inactive": "the app or its workspace was deleted",
    "missing_scope": "the token lacks the connections:write scope",
}
BACKOFF_MAX = 30.0
CLOSE_WITHIN = 3.0
"""Seconds `close()` waits for the WebSocket to close cleanly before dropping it."""


class AppTokenRefused(Exception):
    """Slack refused SLACK_APP_TOKEN for good; `message` is the one line to show."""

    def __init__(self, error: str) -> None:
        self.error = error
        cause = REFUSALS.get(error, "Slack does not accept it")
        self.message = f"SLACK_APP_TOKEN was refused by Slack ({error}): {cause}; {APP_TOKEN_HELP}."
        super().__init__(self.message)


def refusal_or_reason(error: BaseException) -> AppTokenRefused | str:
    """A permanent refusal, or the reason a failure that passes happened (for the status)."""
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error") or f"HTTP {error.response.status_code}")
        if code in TRANSIENT or error.response.status_code >= 500:
            return f"Slack answered {code}"
        return AppTokenRefused(code)
    if isinstance(error, TimeoutError):
        return "Slack did not answer in time"
    return f"Slack unreachable: {type(error).__name__}: {error}".rstrip(": ")


class _Client(SocketModeClient):
    """slack_sdk's Socket Mode client asking `link` for each WebSocket URL (first connect and reconnects)."""

    def __init__(self, link: SocketModeLink, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.link = link

    async def issue_new_wss_url(self) -> str:
        return await self.link.open_url()

    async def connect(self) -> None:
        await super().connect()
        if not self.closed and await self.is_connected():
            self.link.status = "connected"
            log.info("Slack Socket Mode connected")

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        """slack_sdk's reconnect (Slack closed the WebSocket, or it went stale)."""
        if not self.closed:
            self.link.status = "reconnecting (the WebSocket to Slack closed)"
        await super().connect_to_new_endpoint(force)
        if not self.closed and await self.is_connected():
            self.link.status = "connected"


class SocketModeLink:
    def __init__(
        self,
        bolt: AsyncApp,
        client: AsyncWebClient,
        app_token: str,
        *,
        on_refused: Callable[[AppTokenRefused], None],
        sleep: Sleep = asyncio.sleep,
        ping_interval: float = 10.0,
        observe_ack: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.bolt = bolt
        self.web_client = client
        self.on_refused = on_refused
        self.sleep = sleep
        self.observe_ack = observe_ack
        self.status = "connecting"
        self._app_token = app_token
        self._ping_interval = ping_interval
        self._client: _Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect in the background (the REST API, the webhook and the sync do not wait for Slack)."""
        self._client = _Client(
            self,
            app_token=self._app_token,
            web_client=self.web_client,
            logger=logging.getLogger("bot.slack.socket_mode.client"),
            ping_interval=self._ping_interval,
        )
        self._client.socket_mode_request_listeners.append(self._handle)  # type: ignore[arg-type]
        self._task = asyncio.create_task(self._client.connect(), name="slack-socket-mode-connect")

    async def open_url(self) -> str:
        """apps.connections.open until Slack gives a URL; a refusal of the token ends the link."""
        attempt = 0
        while True:
            try:
                response = await self.web_client.apps_connections_open(app_token=self._app_token)
                return str(response["url"])
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as err:
                outcome = refusal_or_reason(err)
            if isinstance(outcome, AppTokenRefused):
                self._refused(outcome)
                raise outcome
            attempt += 1
            delay = min(BACKOFF_MAX, 2.0 ** (attempt - 1)) * (1 + random.random() / 10)  # noqa: S311
            self.status = f"reconnecting ({outcome})"
            log.warning("Slack Socket Mode: %s; trying again in %.0f s", outcome, delay)
            await self.sleep(delay)

    def _refused(self, refusal: AppTokenRefused) -> None:
        self.status = f"refused ({refusal.error})"
        if self._client is not None:
            self._client.closed = True  # slack_sdk's connect loop stops instead of retrying
        self.on_refused(refusal)

    async def _handle(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        """An envelope from Slack: Bolt dispatches it and the ack goes back on the WebSocket."""
        start, arrived = time(), perf_counter()
        response = await run_async_bolt_app(self.bolt, request)
        await send_async_response(client, request, response, start)
        if self.observe_ack is not None and isinstance(request.payload, dict):
            self.observe_ack("socket", inbound.kind(request.payload), perf_counter() - arrived)

    async def close(self) -> None:
        """Stop connecting or disconnect (bounded: a Slack that does not answer the close is dropped)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            try:
                await asyncio.wait_for(self._client.close(), CLOSE_WITHIN)
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                log.info("Slack Socket Mode did not close cleanly: %s", err)
        self.status = "closed"
