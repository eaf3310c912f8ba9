"""The process `snowbot run` serves: the REST API now; the Slack endpoint, the Qualytics webhook and the
sync scheduler plug in through `Extension`s (routers to include, lifespans to run) without editing here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from bot import shutdown
from bot.api import create_api
from bot.bodylimit import BodyLimitMiddleware, MiB
from bot.logs import configure_logging
from bot.services import build_snowbot
from bot.settings import Settings, load_settings
from bot.slack.extension import slack_extension
from bot.startup import check_settings, listen
from bot.sync.wiring import sync_extension
from bot.usecases import Snowbot

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI, Snowbot], AbstractAsyncContextManager[None]]
"""Runs for the life of the server, e.g. a scheduler started on enter and stopped on exit."""


@dataclass(frozen=True)
class Extension:
    """A surface added to the app: its routes (e.g. `POST /slack/events`) and its background work."""

    routers: Sequence[APIRouter] = ()
    lifespans: Sequence[Lifespan] = ()


ExtensionFactory = Callable[[Settings, Snowbot], Extension]
"""Builds an extension once the `Snowbot` exists (Slack handlers and jobs call its use cases)."""

MAX_BODY = MiB
"""The largest request body any route reads (Slack's payloads, a modal's state included, are far smaller)."""
BODY_LIMITS = (("/api/", 64 * 1024),)
"""REST API bodies are small: a create request's description is at most 4,000 characters."""

DEFAULT_EXTENSIONS: tuple[ExtensionFactory, ...] = (sync_extension, slack_extension)
"""What `snowbot run` serves besides the REST API (the Slack surface and the scheduler register here)."""


def build_app(
    settings: Settings,
    *,
    snowbot: Snowbot | None = None,
    extensions: Sequence[ExtensionFactory] = (),
) -> FastAPI:
    """The ASGI app: the REST API plus `extensions`. A `snowbot` passed in is not closed on shutdown."""
    owned = snowbot is None
    bot = snowbot if snowbot is not None else build_snowbot(settings)
    built = [make(settings, bot) for make in extensions]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if owned:
                stack.push_async_callback(bot.store.aclose)
                stack.push_async_callback(bot.aclose)
            for extension in built:
                for hook in extension.lifespans:
                    await stack.enter_async_context(hook(app, bot))
            await stack.enter_async_context(_reconciling(bot))  # after the hooks: Slack can announce
            yield

    app = create_api(bot, settings, lifespan=lifespan)
    for extension in built:
        for router in extension.routers:
            app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, default=MAX_BODY, limits=BODY_LIMITS)
    return app


@asynccontextmanager
async def _reconciling(bot: Snowbot) -> AsyncIterator[None]:
    """Finish, from their recorded intents, the creates and links an earlier process left (and later
    ones this process leaves), in the background while the app runs."""
    task = shutdown.background(asyncio.create_task(bot.keep_reconciled(), name="snowbot-reconcile"))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve(
    settings: Settings | None = None, extensions: Sequence[ExtensionFactory] = DEFAULT_EXTENSIONS
) -> int:
    """`snowbot run`: serve on SNOWBOT_HOST:SNOWBOT_PORT until interrupted; clients close on shutdown,
    which takes at most SNOWBOT_SHUTDOWN_TIMEOUT seconds (`bot.shutdown`). Returns the exit code."""
    import uvicorn

    settings = settings or load_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    check_settings(settings)
    sock = listen(settings.host, settings.port)  # before the app starts: a busy port never runs a pass
    if settings.api_token is None:
        log.warning("SNOWBOT_API_TOKEN is not set: every /api call will be refused with 503")
    app = build_app(settings, extensions=extensions)
    # log_config=None: uvicorn's loggers go through configure_logging's handler (text or JSON)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), log_config=None
    )
    server = shutdown.SnowbotServer(config, shutdown_timeout=settings.shutdown_timeout)
    app.state.request_exit = server.request_exit
    log.info("snowbot listening on http://%s:%d (Ctrl+C stops it)", settings.host, settings.port)
    server.run(sockets=[sock])
    if not server.started:
        return 3  # the app's start-up failed (uvicorn's own exit code for it)
    return server.exit_code
