"""The sync's parts, for the composition root (`bot.composition`) and the CLI: the engine over the use
cases' database, Qualytics client and ServiceNow connections (`build_engine`), and its extension: the
router serving `POST /webhooks/qualytics` and the lifespan running the scheduler (a pass every
SNOWBOT_SYNC_INTERVAL seconds). Without QUALYTICS_URL / QUALYTICS_TOKEN there is nothing to poll: the
webhook answers 503 and no scheduler starts.

Never reaches into another part: what the engine needs (its notifier) is given when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.extension import Extension, Lifespan
from bot.settings import Settings
from bot.sync.engine import Notifier, SyncConfig, SyncEngine
from bot.sync.scheduler import scheduled
from bot.sync.webhook import webhook_router
from bot.usecases import NotConfigured, Snowbot

log = logging.getLogger(__name__)

NO_QUALYTICS = "Qualytics is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN to run the sync."


def build_engine(settings: Settings, snowbot: Snowbot, *, notifier: Notifier | None = None) -> SyncEngine:
    """An engine over the Snowbot's database, Qualytics client and ServiceNow connections (their cached
    client of each integration, `Connections.sync_client`); `NotConfigured` without Qualytics."""
    if snowbot.qualytics is None:
        raise NotConfigured(NO_QUALYTICS)
    return SyncEngine(
        snowbot.db,
        snowbot.qualytics,
        snowbot.connections.sync_client,
        config=SyncConfig.from_settings(settings, replica=snowbot.runtime.replica),
        clock=snowbot.clock,
        notifier=notifier,
        unauthorized=snowbot.connections.reread_id,
    )


def engine_extension(settings: Settings, engine: SyncEngine | None) -> Extension:
    """The webhook route and, with an engine, the scheduler."""
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


def sync_extension(settings: Settings, snowbot: Snowbot, *, notifier: Notifier | None = None) -> Extension:
    """The sync over a `Snowbot` built already, as a `bot.extension.ExtensionFactory` (its engine has the
    notifier given, none by default; `bot.composition.compose` gives it Slack's)."""
    engine = build_engine(settings, snowbot, notifier=notifier) if snowbot.qualytics is not None else None
    return engine_extension(settings, engine)


def scheduler_lifespan(engine: SyncEngine, interval: int) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI, snowbot: Snowbot) -> AsyncIterator[None]:
        async with scheduled(engine.run_pass, interval):
            yield

    return lifespan
