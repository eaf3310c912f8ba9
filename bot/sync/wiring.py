"""Plugs the sync into `snowbot run` through `bot.app`'s extension points, and builds engines for the CLI.

    from bot.sync.wiring import sync_extension
    DEFAULT_EXTENSIONS = (..., sync_extension)      # in bot/app.py

`sync_extension(settings, snowbot)` is an `ExtensionFactory`: its router serves `POST /webhooks/qualytics`
and its lifespan runs the scheduler (a pass every SNOWBOT_SYNC_INTERVAL seconds) and puts the engine at
`app.state.sync_engine`, where the Slack part finds `sync_anomalies` for its buttons and may set
`engine.notifier`. Without QUALYTICS_URL / QUALYTICS_TOKEN there is nothing to poll: the webhook answers
503 and no scheduler starts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from bot.settings import Settings
from bot.sync.engine import Notifier, ServiceNowClients, SyncConfig, SyncEngine
from bot.sync.scheduler import scheduled
from bot.sync.webhook import webhook_router
from bot.usecases import NotConfigured, Snowbot, UseCaseError
from servicenow import ServiceNowClient
from servicenow.errors import ConfigurationError

if TYPE_CHECKING:
    from bot.app import Extension, Lifespan

log = logging.getLogger(__name__)

NO_QUALYTICS = "Qualytics is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN to run the sync."


def servicenow_clients(snowbot: Snowbot) -> ServiceNowClients:
    """The engine's way to a ServiceNow client: the Snowbot's cached client of each integration.

    A missing integration or secret (a `UseCaseError`) becomes a `ConfigurationError`, which the engine
    treats as a failed attempt to retry later: an operator can fix the setting without losing notes.
    """

    async def client_for(integration_id: int) -> ServiceNowClient:
        try:
            return await snowbot.servicenow_client(integration_id)
        except UseCaseError as err:
            raise ConfigurationError(err.message) from err

    return client_for


def build_engine(settings: Settings, snowbot: Snowbot, *, notifier: Notifier | None = None) -> SyncEngine:
    """An engine over the Snowbot's database and clients; `NotConfigured` without Qualytics."""
    if snowbot.qualytics is None:
        raise NotConfigured(NO_QUALYTICS)
    return SyncEngine(
        snowbot.db,
        snowbot.qualytics,
        servicenow_clients(snowbot),
        config=SyncConfig.from_settings(settings),
        clock=snowbot.clock,
        notifier=notifier,
    )


def sync_extension(settings: Settings, snowbot: Snowbot, *, notifier: Notifier | None = None) -> Extension:
    """The webhook route and the scheduler, as a `bot.app.ExtensionFactory`."""
    from bot.app import Extension  # here, not at the top: bot/app.py imports this module

    engine = build_engine(settings, snowbot, notifier=notifier) if snowbot.qualytics is not None else None
    router = webhook_router(
        engine.sync_anomalies if engine else None,
        settings.webhook_secret,
        qualytics_url=settings.qualytics_url,
    )
    if engine is None:
        log.warning("%s", NO_QUALYTICS)
        return Extension(routers=[router])
    if settings.webhook_secret is None:
        log.info("SNOWBOT_WEBHOOK_SECRET is not set: POST /webhooks/qualytics answers 503")
    return Extension(routers=[router], lifespans=[scheduler_lifespan(engine, settings.sync_interval)])


def scheduler_lifespan(engine: SyncEngine, interval: int) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI, snowbot: Snowbot) -> AsyncIterator[None]:
        app.state.sync_engine = engine
        async with scheduled(engine.run_pass, interval):
            yield

    return lifespan
