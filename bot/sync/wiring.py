"""The sync's parts, for the composition root (`bot.composition`) and the CLI: the engine over the use
cases' database, Qualytics client and ServiceNow connections (`build_engine`), and its extension: the
router serving `POST /webhooks/qualytics` and the lifespan running the scheduler (a pass every
SNOWBOT_SYNC_INTERVAL seconds, while this replica leads: `bot.sync.leader`). Without QUALYTICS_URL / QUALYTICS_TOKEN there is nothing to poll: the
webhook answers 503 and no scheduler starts.

Never reaches into another part: what the engine needs (its notifier) is given when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.extension import Extension, Lifespan
from bot.settings import Settings
from bot.sync.engine import Notifier, PassReport, SyncConfig, SyncEngine
from bot.sync.leader import Leadership, Sole
from bot.sync.scheduler import RULES_JOB_ID, SyncScheduler, scheduled
from bot.sync.servicenow_webhook import servicenow_webhook_router
from bot.sync.webhook import webhook_router
from bot.usecases import NotConfigured, Snowbot

log = logging.getLogger(__name__)

NO_QUALYTICS = "Qualytics is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN to run the sync."


def build_engine(
    settings: Settings,
    snowbot: Snowbot,
    *,
    notifier: Notifier | None = None,
    observer: Callable[[PassReport, float], None] | None = None,
) -> SyncEngine:
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
        observer=observer,
    )


NewAnomalies = Callable[[list[int]], Awaitable[object]]


def engine_extension(
    settings: Settings,
    engine: SyncEngine | None,
    leadership: Leadership | None = None,
    *,
    new_anomalies: NewAnomalies | None = None,
) -> Extension:
    """The webhook routes (Qualytics' and ServiceNow's) and, with an engine, the scheduler (its passes run
    only while `leadership` leads: by default always). `new_anomalies` (the creation rules,
    `Snowbot.new_anomalies_notified`) hears the Qualytics webhook's anomalies before the sync does, and
    then the rules' poll runs every SNOWBOT_RULES_POLL_INTERVAL seconds too."""
    notified: NewAnomalies | None = engine.sync_anomalies if engine else None
    if engine is not None and new_anomalies is not None:
        sync_anomalies = engine.sync_anomalies

        async def rules_then_sync(ids: list[int]) -> None:
            try:
                await new_anomalies(ids)
            finally:
                await sync_anomalies(ids)

        notified = rules_then_sync
    router = webhook_router(notified, settings.webhook_secret, qualytics_url=settings.qualytics_url)
    servicenow = servicenow_webhook_router(
        engine.sync_ticket if engine else None, settings.servicenow_webhook_secret
    )
    if engine is None:
        log.warning("%s", NO_QUALYTICS)
        return Extension(routers=[router, servicenow])
    if settings.webhook_secret is None:
        log.info("SNOWBOT_WEBHOOK_SECRET is not set: POST /webhooks/qualytics answers 503")
    lifespans = [scheduler_lifespan(engine, settings.sync_interval, leadership or Sole())]
    if new_anomalies is not None:
        lifespans.append(rules_poll_lifespan(settings.rules_poll_interval))
    return Extension(routers=[router, servicenow], lifespans=lifespans)


def sync_extension(settings: Settings, snowbot: Snowbot, *, notifier: Notifier | None = None) -> Extension:
    """The sync over a `Snowbot` built already, as a `bot.extension.ExtensionFactory` (its engine has the
    notifier given, none by default; `bot.composition.compose` gives it Slack's)."""
    engine = build_engine(settings, snowbot, notifier=notifier) if snowbot.qualytics is not None else None
    return engine_extension(settings, engine, new_anomalies=snowbot.new_anomalies_notified)


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


def rules_poll_lifespan(interval: int) -> Lifespan:
    """The creation rules' poll of new anomalies (`Snowbot.poll_new_anomalies`), a job of its own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI, snowbot: Snowbot) -> AsyncIterator[None]:
        async with scheduled(
            snowbot.poll_new_anomalies, interval, job_id=RULES_JOB_ID, name="creation rules poll"
        ):
            yield

    return lifespan
