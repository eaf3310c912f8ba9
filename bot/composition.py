"""The one composition root: settings -> database -> clients -> use cases -> Slack surface and notifier ->
sync engine (it is given the notifier), built here in that order and nowhere else. `bot.app` serves what `compose` built; the CLI,
the tests and the demo build through here too (transports and retry policies are injectable, so they run
on emulators).

Two arrows point back up the graph: a chat-ops change made from Slack asks the engine for a sync of the
anomaly at once, and a create or link an interrupted request left is announced in Slack once reconciled.
Both are given to the use cases as hooks (`anomaly_changed`, `announcer`) that are closures over the
engine and the notifier built after them, here: nothing is set on a built part, at start-up or later.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.extension import Extension
from bot.metrics import Metrics, metrics_extension
from bot.settings import Settings
from bot.slack.app import SlackSurface, build_slack
from bot.slack.client import Sleep
from bot.slack.extension import slack_enabled, surface_extension
from bot.slack.notifier import SlackNotifier
from bot.sync.engine import SyncEngine
from bot.sync.leader import Leadership, Sole, leadership_for
from bot.sync.wiring import build_engine, engine_extension
from bot.usecases import (
    AnomalyChangedHook,
    ChatOps,
    Connections,
    LinkAnnouncer,
    NotConfigured,
    Runtime,
    ServiceNowFactory,
    Snowbot,
    Storage,
)
from bot.usecases.anomalies import Anomalies
from bot.usecases.autocreate import AutoCreate, RuleHooks
from bot.usecases.form import TicketForms
from bot.usecases.intents import Intents
from bot.usecases.reconcile import Reconciler
from bot.usecases.recurrence import Recurrence
from bot.usecases.rules import Rules
from bot.usecases.tickets import Tickets
from qualytics_api import QualyticsClient, QualyticsConfigError, QualyticsRetry
from servicenow import Credentials, RetryPolicy, ServiceNowClient
from storage import SecretBox, connect, migrate
from storage.links import Link
from storage.rules import Rule


@dataclass(frozen=True)
class Outside:
    """How snowbot reaches ServiceNow and Qualytics: the transports (None: the network) and the retry
    policies (None: the clients' own). Tests and the demo pass the emulators' in-process transports."""

    servicenow_transport: httpx.AsyncBaseTransport | None = None
    qualytics_transport: httpx.AsyncBaseTransport | None = None
    servicenow_retry: RetryPolicy | None = None
    qualytics_retry: QualyticsRetry | None = None


def servicenow_factory(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    metrics: Metrics | None = None,
) -> ServiceNowFactory:
    def build(instance_url: str, credentials: Credentials) -> ServiceNowClient:
        return ServiceNowClient.connect(
            instance_url,
            credentials,
            transport=metrics.transport("servicenow", transport) if metrics else transport,
            check_host=transport is None,  # the network's public-host check, metered or not
            timeout=settings.http_timeout,
            retry=retry,
            allow_insecure=settings.allow_insecure_instance,
            allow_private=settings.allow_private_instance,
        )

    return build


def qualytics_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: QualyticsRetry | None = None,
    metrics: Metrics | None = None,
) -> QualyticsClient | None:
    """The Qualytics client, or None when QUALYTICS_URL / QUALYTICS_TOKEN are not both set."""
    if not settings.qualytics_url or settings.qualytics_token is None:
        return None
    try:
        return QualyticsClient.connect(
            settings.qualytics_url,
            settings.qualytics_token,
            transport=metrics.transport("qualytics", transport) if metrics else transport,
            timeout=settings.http_timeout,
            retry=retry,
        )
    except QualyticsConfigError as err:
        raise NotConfigured(err.message) from None


def replica_name(port: int) -> str:
    """This process's name in the rows it claims: its host and port, so a replica restarted in its place
    takes its own claims back at once, and two replicas on one host never share a name."""
    return f"{socket.gethostname()}:{port}"


def build_snowbot(
    settings: Settings,
    *,
    servicenow_transport: httpx.AsyncBaseTransport | None = None,
    qualytics_transport: httpx.AsyncBaseTransport | None = None,
    servicenow_retry: RetryPolicy | None = None,
    qualytics_retry: QualyticsRetry | None = None,
    announcer: LinkAnnouncer | None = None,
    anomaly_changed: AnomalyChangedHook | None = None,
    metrics: Metrics | None = None,
    rule_hooks: RuleHooks | None = None,
) -> Snowbot:
    """Open (and migrate) the database, build the clients and the use cases, and record the environment's
    integration, if any. With `metrics`, the clients' requests are counted (`bot.metrics`).

    Without SNOWBOT_SECRET_KEY there is no SecretBox: connecting ServiceNow through the bot is refused
    (an integration from SERVICENOW_INSTANCE_URL / SERVICENOW_CREDENTIALS still works).
    """
    db = connect(settings.database)
    migrate(db)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    storage = Storage(db)
    runtime = Runtime(
        intent_settle=settings.create_settle,
        lease=settings.outbox_lease,
        reconcile_interval=min(Runtime.reconcile_interval, settings.outbox_lease),
        replica=replica_name(settings.port),
    )
    connections = Connections(
        storage=storage,
        settings=settings,
        box=SecretBox(secret) if secret else None,
        factory=servicenow_factory(
            settings, transport=servicenow_transport, retry=servicenow_retry, metrics=metrics
        ),
    )
    anomalies = Anomalies(
        qualytics_client(settings, transport=qualytics_transport, retry=qualytics_retry, metrics=metrics)
    )
    forms = TicketForms(connections=connections, anomalies=anomalies, runtime=runtime)
    intents = Intents(storage=storage, runtime=runtime)
    reconciler = Reconciler(
        storage=storage, connections=connections, intents=intents, runtime=runtime, announcer=announcer
    )
    tickets = Tickets(
        storage=storage,
        connections=connections,
        anomalies=anomalies,
        forms=forms,
        intents=intents,
        reconciler=reconciler,
        runtime=runtime,
    )
    recurrence = Recurrence(
        storage=storage, anomalies=anomalies, runtime=runtime, window=settings.recurrence_window
    )
    snowbot = Snowbot(
        settings=settings,
        storage=storage,
        runtime=runtime,
        connections=connections,
        anomalies=anomalies,
        forms=forms,
        reconciler=reconciler,
        tickets=tickets,
        chatops=ChatOps(storage=storage, anomalies=anomalies, anomaly_changed=anomaly_changed),
        rules=Rules(
            storage=storage,
            anomalies=anomalies,
            recurrence=recurrence,
            runtime=runtime,
            default_window=settings.recurrence_window,
        ),
        autocreate=AutoCreate(
            storage=storage,
            anomalies=anomalies,
            tickets=tickets,
            recurrence=recurrence,
            runtime=runtime,
            hooks=rule_hooks,
        ),
        recurrence=recurrence,
    )
    connections.ensure_env_integration()
    return snowbot


@dataclass(frozen=True)
class Process:
    """Everything `snowbot run` serves, built: the use cases, the sync engine (None without Qualytics),
    the Slack surface and its notifier (None without Slack's settings)."""

    settings: Settings
    snowbot: Snowbot
    engine: SyncEngine | None = None
    slack: SlackSurface | None = None
    notifier: SlackNotifier | None = None
    slack_sleep: Sleep = field(default=asyncio.sleep, repr=False)
    metrics: Metrics = field(default_factory=Metrics, repr=False)
    leadership: Leadership = field(default_factory=Sole, repr=False)
    """Whether this replica runs the scheduled sync passes (`bot.sync.leader`)."""

    def leading(self) -> bool:
        """Whether this replica leads the sync now (/healthz's `sync`, the metrics' gauge)."""
        return self.leadership.leading()

    def extensions(self) -> list[Extension]:
        """The surfaces besides the REST API, in start-up order: the webhook and the scheduler, then Slack,
        then `GET /metrics`."""
        built = [
            engine_extension(
                self.settings,
                self.engine,
                self.leadership,
                new_anomalies=self.snowbot.new_anomalies_notified,
            )
        ]
        if self.slack is not None:
            built.append(surface_extension(self.settings, self.slack, sleep=self.slack_sleep))
        built.append(metrics_extension(self.metrics, self.snowbot))
        return built

    async def aclose(self) -> None:
        await self.snowbot.aclose()
        await self.snowbot.store.aclose()


def compose(
    settings: Settings,
    *,
    outside: Outside = Outside(),
    sleep: Sleep = asyncio.sleep,
    suggest_budget: float = 2.0,
    **slack_options: Any,
) -> Process:
    """Build every part of the process from the settings (`sleep` paces Slack's retries and Socket Mode's
    reconnects; `suggest_budget` and `slack_options` go to `build_slack`). The sync's leadership is
    built first: the metrics' `snowbot_leader` reads it."""
    slack_on = slack_enabled(settings)
    lead = leadership(settings)
    metrics = Metrics(leading=lead.leading)
    engine: SyncEngine | None = None
    surface: SlackSurface | None = None
    notifier: SlackNotifier | None = None

    async def sync_soon(anomaly_id: int) -> None:
        """Start a sync of the anomaly in the background (the person's action is done already)."""
        if engine is not None and surface is not None:
            surface.tasks.spawn(engine.sync_anomalies([anomaly_id]), name=f"sync-anomaly-{anomaly_id}")

    async def announce(link: Link, kind: str) -> str | None:
        return await notifier.ticket_linked(link, kind) if notifier is not None else None

    async def recurred(earlier: Link, link: Link) -> None:
        if notifier is not None:
            await notifier.recurred(earlier, link)

    async def rule_paused(rule: Rule) -> None:
        if notifier is not None:
            await notifier.rule_paused(rule)

    snowbot = build_snowbot(
        settings,
        servicenow_transport=outside.servicenow_transport,
        qualytics_transport=outside.qualytics_transport,
        servicenow_retry=outside.servicenow_retry,
        qualytics_retry=outside.qualytics_retry,
        announcer=announce if slack_on else None,
        anomaly_changed=sync_soon if slack_on else None,
        metrics=metrics,
        rule_hooks=RuleHooks(ticket_created=announce, recurred=recurred, paused=rule_paused)
        if slack_on
        else None,
    )
    if slack_on:
        surface = build_slack(
            settings, snowbot, sleep=sleep, suggest_budget=suggest_budget, metrics=metrics, **slack_options
        )
        notifier = SlackNotifier(surface.client, cards=surface.deps.cards)
    if snowbot.qualytics is not None:
        engine = build_engine(settings, snowbot, notifier=notifier, observer=metrics.pass_finished)
    return Process(
        settings=settings,
        snowbot=snowbot,
        engine=engine,
        slack=surface,
        notifier=notifier,
        slack_sleep=sleep,
        metrics=metrics,
        leadership=lead,
    )


def leadership(settings: Settings) -> Leadership:
    """The sync's leadership over the configured database, tried for (and checked) every
    min(SNOWBOT_OUTBOX_LEASE, SNOWBOT_SYNC_INTERVAL) seconds."""
    return leadership_for(settings.database, poll=min(settings.outbox_lease, settings.sync_interval))
