"""Socket Mode against the Slack emulator on a loopback port: the WebSocket opens in the background, a
failure that passes is retried with a growing backoff while /healthz says "reconnecting (reason)", and
a refused SLACK_APP_TOKEN asks the process to exit with one line naming it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.slack.extension import slack_extension
from bot.usecases import Snowbot
from tests.bot.slack.conftest import BOT_TOKEN, SlackWorld


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Poll `check` until it holds (bounded: fails after `within` seconds)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def backoff_of(sleeps: list[float]) -> list[float]:
    """The backoff steps behind the waits (each is its step plus up to 10 % jitter)."""
    steps = [step for wait in sleeps for step in (1, 2, 4, 8, 16, 30) if step <= wait <= step * 1.1]
    assert len(steps) == len(sleeps), sleeps
    return steps


@asynccontextmanager
async def running(
    world: SlackWorld,
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    *,
    app_token: str,
    sleeps: list[float],
    exits: list[int],
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    settings = make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_app_token=app_token,
        slack_signing_secret=None,
        slack_api_url=f"{world.base_url}/api/",
    )

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    app = build_app(
        settings, snowbot=make_snowbot(settings), extensions=[partial(slack_extension, sleep=record_sleep)]
    )
    app.state.request_exit = exits.append  # what `snowbot run`'s server provides
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://snowbot.test") as client:
            yield app, client


async def test_failures_that_pass_are_retried_with_backoff_then_it_connects(
    world: SlackWorld, make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    world.slack.refuse_next("apps.connections.open", "internal_error", count=2)
    world.slack.rate_limit_next("apps.connections.open", retry_after=60)  # longer than the client waits
    sleeps: list[float] = []
    exits: list[int] = []

    async with running(
        world, make_settings, make_snowbot, app_token=world.slack.app_token, sleeps=sleeps, exits=exits
    ) as (app, client):
        await eventually(lambda: world.slack.socket_connections == 1)
        await eventually(lambda: app.state.health["slack"]() == "connected")
        assert (await client.get("/healthz")).json() == {"status": "ok", "slack": "connected"}
        assert (await client.post("/slack/events", content=b"{}")).status_code == 404  # no HTTP route

    errors = [call.error for call in world.slack.calls_to("apps.connections.open")]
    assert errors == ["ratelimited", "internal_error", "internal_error", None]
    assert backoff_of(sleeps) == [1, 2, 4]
    assert exits == []


async def test_a_websocket_slack_closes_is_opened_again(
    world: SlackWorld, make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    async with running(
        world, make_settings, make_snowbot, app_token=world.slack.app_token, sleeps=[], exits=[]
    ) as (app, client):
        await eventually(lambda: world.slack.socket_connections == 1)
        await asyncio.to_thread(world.slack.close_sockets)

        await eventually(lambda: world.slack.socket_connections == 2)
        await eventually(lambda: app.state.health["slack"]() == "connected")
        assert (await client.get("/healthz")).json()["slack"] == "connected"
    assert len(world.slack.calls_to("apps.connections.open")) == 2  # a fresh URL for the new WebSocket


async def test_an_envelope_is_dispatched_to_bolt_and_acked_on_the_websocket(
    world: SlackWorld, make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    """A `/snow help` over Socket Mode (envelope shape of python-slack-sdk's socket-mode test server)."""
    async with running(
        world, make_settings, make_snowbot, app_token=world.slack.app_token, sleeps=[], exits=[]
    ) as (app, _):
        await eventually(lambda: app.state.health["slack"]() == "connected")
        command = {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "team_domain": "acme",
            "channel_id": "C_ALERTS",
            "channel_name": "dq-alerts",
            "user_id": "U_JANE",
            "user_name": "jane.doe",
            "command": "/snow",
            "text": "help",
            "api_app_id": "A_SNOWBOT",
            "response_url": world.response_url("command"),
            "trigger_id": world.slack.issue_trigger_id(),
        }
        envelope_id = await asyncio.to_thread(
            world.slack.send_envelope, "slash_commands", command, accepts_response_payload=True
        )
        await eventually(
            lambda: any(ack.get("envelope_id") == envelope_id for ack in world.slack.socket_acks)
        )
        await app.state.slack.idle(10)

    assert [a for a in world.slack.socket_acks if a.get("envelope_id") == envelope_id] == [
        {"envelope_id": envelope_id}  # acked at once, empty; the answer goes through response_url
    ]
    [answer] = world.hooks.to("command")
    assert answer["text"].startswith("/snow commands: create, link")


async def test_healthz_says_reconnecting_and_why_while_slack_fails(
    world: SlackWorld, make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    world.slack.refuse_next("apps.connections.open", "internal_error", count=1_000_000)
    sleeps: list[float] = []

    async with running(
        world, make_settings, make_snowbot, app_token=world.slack.app_token, sleeps=sleeps, exits=[]
    ) as (_, client):
        await eventually(lambda: len(sleeps) >= 3)
        body = (await client.get("/healthz")).json()
        assert body == {"status": "ok", "slack": "reconnecting (Slack answered internal_error)"}
    assert world.slack.socket_connections == 0
    assert backoff_of(sleeps[:7]) == [1, 2, 4, 8, 16, 30, 30][: len(sleeps[:7])]


@pytest.mark.parametrize(
    ("token", "error"),
    [(BOT_TOKEN, "not_allowed_token_type"), ("xapp-1-A_OTHER-1-revoked", "invalid_auth")],
)
async def test_a_refused_app_token_asks_to_exit_with_one_line_naming_it(
    world: SlackWorld,
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    caplog: pytest.LogCaptureFixture,
    token: str,
    error: str,
) -> None:
    exits: list[int] = []
    with caplog.at_level(logging.INFO):
        async with running(world, make_settings, make_snowbot, app_token=token, sleeps=[], exits=exits) as (
            app,
            client,
        ):
            await eventually(lambda: exits == [2])
            assert (await client.get("/healthz")).json()["slack"] == f"refused ({error})"

    assert [call.error for call in world.slack.calls_to("apps.connections.open")] == [error]
    [line] = [r.getMessage() for r in caplog.records if "SLACK_APP_TOKEN" in r.getMessage()]
    assert line.startswith(f"SLACK_APP_TOKEN was refused by Slack ({error}): ") and "\n" not in line
    assert "connections:write" in line
    assert token not in caplog.text  # the token itself is never logged
    assert world.slack.socket_connections == 0
