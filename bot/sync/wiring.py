"""The sync's parts, for the composition root (`bot.composition`) and the CLI: the engine over the use
cases' database, Qualytics client and ServiceNow connections (`build_engine`), and its extension: the
router serving `POST /webhooks/qualytics` and the lifespan running the scheduler (a pass every
SNOWBOT_SYNC_INTERVAL seconds, while this replica leads: `bot.sync.leader`). Without QUALYTICS_URL / QUALYTICS_TOKEN there is nothing to poll: the
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
from bot.sync.leader import Leadership, Sole
from bot.sync.scheduler import SyncScheduler, scheduled
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


def engine_extension(
    settings: Settings, engine: SyncEngine | None, leadership: Leadership | None = None
) -> Extension:
    """The webhook route and, with an engine, the scheduler (its passes run only while `leadership`
    leads: by default always)."""
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
    lifespan = scheduler_lifespan(engine, settings.sync_interval, leadership or Sole())
    return Extension(routers=[router], lifespans=[lifespan])


def sync_extension(settings: Settings, snowbot: Snowbot, *, notifier: Notifier | None = None) -> Extension:
    """The sync over a `Snowbot` built already, as a `bot.extension.ExtensionFactory` (its engine has the
    notifier given, none by default; `bot.composition.compose` gives it Slack's)."""
    engine = build_engine(settings, snowbot, notifier=notifier) if snowbot.qualytics is not None else None
    return engine_extension(settings, engine)


def scheduler_lifespan(engine: SyncEngine, interval: int, leadership: Leadership | None = None) -> Lifespan:
    """The scheduler for the server's life; a scheduled pass runs only while this replica leads (`sync` in
    /healthz says `leading` or `standby`): gaining the lead runs one at once, losing it cancels the one
    under way (`bot.sync.leader`)."""
    leader = leadership or Sole()

    async def led_pass() -> object:
        if not leader.leading():
            return None  # another replica runs the scheduled passes
        return await engine.run_pass()

    @asynccontextmanager
    async def lifespan(app: FastAPI, snowbot: Snowbot) -> AsyncIterator[None]:
        checks = getattr(app.state, "health", None)
        if checks is None:
            app.state.health = checks = {}
        checks["sync"] = lambda: "leading" if leader.leading() else "standby"
        running: list[SyncScheduler] = []

        def changed(leading: bool) -> None:
            for sync_scheduler in running:  # none yet at the first attempt: the first pass runs at start
                if leading:
                    sync_scheduler.run_soon()
                else:
                    sync_scheduler.cancel_pass()

        async with leader.keep(on_change=changed), scheduled(led_pass, interval) as sync_scheduler:
            running.append(sync_scheduler)
            yield
        checks.pop("sync", None)

    return lifespan
