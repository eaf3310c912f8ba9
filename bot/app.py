"""The ASGI app `snowbot run` serves: the REST API over the use cases, plus the extensions (routers to
include, lifespans to run) of what the composition root built (`bot.composition.compose`: the Qualytics
webhook and the sync scheduler, the Slack endpoint or Socket Mode), and the reconciling of interrupted
creates and links in the background. Builds nothing but the app (and, given no parts, the use cases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from bot import shutdown
from bot.api import create_api
from bot.bodylimit import BodyLimitMiddleware, MiB
from bot.composition import Process, build_snowbot, compose
from bot.extension import Extension, ExtensionFactory, Lifespan
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from bot.startup import check_settings, listen
from bot.usecases import Snowbot

log = logging.getLogger(__name__)

__all__ = ["Extension", "ExtensionFactory", "Lifespan", "build_app", "serve"]

MAX_BODY = MiB
"""The largest request body any route reads (Slack's payloads, a modal's state included, are far smaller)."""
BODY_LIMITS = (("/api/", 64 * 1024),)
"""REST API bodies are small: a create request's description is at most 4,000 characters."""


def build_app(
    settings: Settings,
    *,
    process: Process | None = None,
    snowbot: Snowbot | None = None,
    extensions: Sequence[ExtensionFactory] = (),
) -> FastAPI:
    """The ASGI app: the REST API, the extensions of a composed `process` (closed on shutdown: it is the
    app's), and `extensions` built over the use cases. A `snowbot` passed in instead is not closed;
    with neither, the use cases alone are built (and closed)."""
    if process is not None:
        bot, owned, built = process.snowbot, True, process.extensions()
    else:
        owned = snowbot is None
        bot = snowbot if snowbot is not None else build_snowbot(settings)
        built = []
    built += [make(settings, bot) for make in extensions]

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


def serve(settings: Settings | None = None) -> int:
    """`snowbot run`: serve on SNOWBOT_HOST:SNOWBOT_PORT until interrupted; clients close on shutdown,
    which takes at most SNOWBOT_SHUTDOWN_TIMEOUT seconds (`bot.shutdown`). Returns the exit code."""
    import uvicorn

    settings = settings or load_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    check_settings(settings)
    sock = listen(settings.host, settings.port)  # before the app starts: a busy port never runs a pass
    if settings.api_token is None:
        log.warning("SNOWBOT_API_TOKEN is not set: every /api call will be refused with 503")
    app = build_app(settings, process=compose(settings))
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
