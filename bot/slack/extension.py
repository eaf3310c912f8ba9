"""The Slack surface as a `bot.app` extension, in the same process as the REST API.

HTTP mode (no SLACK_APP_TOKEN): `POST /slack/events` verifies the signature and its 5-minute replay
window on the raw bytes (401 otherwise, one log line, never the body), refuses a signed body that is not
shaped like Slack's payloads (400, or 200 for an event Slack would retry; one log line), then hands it
to Bolt, which answers Slack's url_verification and runs the listeners.
Socket Mode (SLACK_APP_TOKEN set): no route; `bot.slack.socket_mode` holds the WebSocket open in the
background (its state is `slack` in /healthz), and a refused SLACK_APP_TOKEN stops the process through
`app.state.request_exit` (set by `snowbot run`'s server) with one line naming it.

Either way the lifespan puts the surface at `app.state.slack` (tests and the demo wait on it), shares one
aiohttp session for the Web API client while the app runs, and on shutdown lets in-flight listeners
finish (at most SHUTDOWN_GRACE seconds, and half of SNOWBOT_SHUTDOWN_TIMEOUT), then cancels them. What
the surface is told about the rest (the sync engine, the announcer) is given by the composition root
(`bot.composition`) when it builds the parts: nothing is set here at run time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from functools import partial
from typing import Any, cast
from urllib.parse import parse_qs

import aiohttp
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncBoltRequest

from bot.extension import Extension
from bot.settings import Settings
from bot.slack import inbound
from bot.slack.app import SlackSurface, build_slack
from bot.slack.client import Sleep
from bot.slack.socket_mode import AppTokenRefused, SocketModeLink
from bot.usecases import Snowbot

log = logging.getLogger(__name__)

LinkFactory = Callable[..., SocketModeLink]

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE = 10.0
"""Seconds in-flight Slack work (a ticket being created) may take to finish on shutdown."""


def missing_settings(settings: Settings) -> list[str]:
    """What Slack needs and is not set: the bot token always, the signing secret in HTTP mode."""
    missing = [] if settings.slack_bot_token else ["SLACK_BOT_TOKEN"]
    if not settings.slack_signing_secret and not settings.slack_app_token:
        missing.append("SLACK_SIGNING_SECRET")
    return missing


def slack_enabled(settings: Settings) -> bool:
    """Whether Slack is served; when it is not, one warning says which settings are missing."""
    missing = missing_settings(settings)
    if missing:
        log.warning(
            "Slack is off: %s %s not set (the REST API still runs). Set %s to serve Slack.",
            " and ".join(missing),
            "is" if len(missing) == 1 else "are",
            "it" if len(missing) == 1 else "them",
        )
    return not missing


def slack_extension(settings: Settings, snowbot: Snowbot, **options: Any) -> Extension:
    """The Slack surface over a `Snowbot` built already, as a `bot.extension.ExtensionFactory`;
    `options` go to `build_slack` (tests), and its `sleep` also paces Socket Mode's reconnects."""
    if not slack_enabled(settings):
        return Extension()
    surface = build_slack(settings, snowbot, **options)
    return surface_extension(settings, surface, sleep=options.get("sleep", asyncio.sleep))


def surface_extension(
    settings: Settings, surface: SlackSurface, *, sleep: Sleep = asyncio.sleep
) -> Extension:
    """Serve a built surface: the events route (HTTP mode) or the Socket Mode link, and the lifespan."""
    grace = min(SHUTDOWN_GRACE, settings.shutdown_timeout / 2)
    if settings.slack_app_token is not None:
        token = settings.slack_app_token.get_secret_value()
        link = partial(
            SocketModeLink, surface.bolt, surface.client, token, sleep=sleep, observe_ack=surface.observe_ack
        )
        return Extension(lifespans=[partial(_lifespan, surface, link, grace)])
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    return Extension(
        routers=[events_router(surface, secret)], lifespans=[partial(_lifespan, surface, None, grace)]
    )


def events_router(surface: SlackSurface, signing_secret: str) -> APIRouter:
    router = APIRouter()

    @router.post(EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        """Verify, check the shape, then let Bolt dispatch. The body is capped by `bot.bodylimit`."""
        arrived = time.perf_counter()
        body = await request.body()
        refused = inbound.check_signature(body, request.headers, signing_secret)
        if refused is not None:
            log.info("Slack request refused (401): %s", refused)
            return JSONResponse({"error": "invalid request"}, status_code=401)  # Bolt's own 401 body
        try:
            text = body.decode("utf-8")
            # Starlette's multi-dicts, as Bolt's own Starlette adapter passes them
            query, headers = cast(Any, request.query_params), cast(Any, request.headers)
            bolt_request = AsyncBoltRequest(body=text, query=query, headers=headers)
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError) as err:
            # Bolt parses the body and reads ids from it in its constructor: what it cannot read is not
            # one of Slack's payloads
            return _malformed(_unreadable(err), event=_looks_like_event(body))
        payload = bolt_request.body
        wrong = inbound.check_shape(payload, interactive=_interactive(text, bolt_request.content_type))
        if wrong is not None:
            return _malformed(wrong, event=inbound.is_event(payload))
        response = await surface.bolt.async_dispatch(bolt_request)  # returns once the listener acked
        if surface.observe_ack is not None:
            surface.observe_ack("http", inbound.kind(payload), time.perf_counter() - arrived)
        if response.status == 404 and response.body == UNHANDLED:
            log.info("Slack request with no listener: %s", inbound.describe(payload))
            if inbound.is_event(payload):
                return Response(status_code=200)  # Slack retries an event answered otherwise
        return to_starlette_response(response)

    return router


UNHANDLED = '{"error": "unhandled request"}'
"""Bolt's answer (404) when no listener matched."""


def _interactive(text: str, content_type: str | None) -> bool:
    """Bolt's `parse_body` rule: JSON when so declared or when it starts with `{`; else a form, whose
    `payload` field is an interactivity payload."""
    if content_type == "application/json" or text.startswith("{"):
        return False
    return "payload" in parse_qs(text, keep_blank_values=True)


def _unreadable(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "the body is not UTF-8 text"
    if isinstance(error, json.JSONDecodeError):
        return "the payload is not JSON"
    if isinstance(error, RecursionError):
        return "the payload is nested too deeply"
    return f"the payload is not a JSON object with Slack's fields (Bolt could not read it: {type(error).__name__})"


def _looks_like_event(body: bytes) -> bool:
    """An Events API delivery Bolt could not read (e.g. `event.user` a number): still answered 200."""
    try:
        return inbound.is_event(json.loads(body))
    except (ValueError, RecursionError):
        return False


def _malformed(reason: str, *, event: bool) -> Response:
    """A signed request that is not what Slack sends: 400, or 200 for an event (Slack would retry it)."""
    status = 200 if event else 400
    log.warning("signed Slack request refused (%d): %s", status, reason)
    if event:
        return Response(status_code=200)
    return JSONResponse({"error": f"malformed request: {reason}"}, status_code=400)


@asynccontextmanager
async def _lifespan(
    surface: SlackSurface, link: LinkFactory | None, grace: float, app: FastAPI, snowbot: Snowbot
) -> AsyncIterator[None]:
    app.state.slack = surface
    # one connection pool for every Web API call (slack_sdk opens a session per call otherwise)
    async with aiohttp.ClientSession() as session:
        surface.client.session = session
        try:
            async with _socket_mode(link, app) if link else nullcontext():
                yield
        finally:
            if not await surface.idle(grace):
                log.warning("Slack work was still running after %.0fs at shutdown: cancelled", grace)
                await surface.tasks.cancel_all()
            surface.client.session = None


@asynccontextmanager
async def _socket_mode(make_link: LinkFactory, app: FastAPI) -> AsyncIterator[None]:
    """The Socket Mode link for the app's life; start-up does not wait for Slack to answer."""

    def refused(refusal: AppTokenRefused) -> None:
        log.error("%s", refusal.message)
        request_exit = getattr(app.state, "request_exit", None)
        if request_exit is not None:
            request_exit(2)

    link = make_link(on_refused=refused)
    checks = getattr(app.state, "health", None)
    if checks is None:
        app.state.health = checks = {}
    checks["slack"] = lambda: link.status
    await link.start()
    try:
        yield
    finally:
        await link.close()
        checks.pop("slack", None)
