"""snowbot's metrics: `GET /metrics` in Prometheus' text format (prometheus-client), no token (like /healthz).

`Metrics` owns one `CollectorRegistry` per process (never prometheus-client's global one, so tests and
several apps in one interpreter do not collide) and the metrics docs/metrics.md lists. It is fed from
outside the parts it measures, by the composition root (`bot.composition`):

- HTTP to ServiceNow and Qualytics through `MeteredTransport`, an httpx transport around the clients' own
  (every request, a retry included, counted by system, read/write and outcome);
- the Slack Web API through `SlackCallMeter`, first among slack_sdk's retry handlers (slack_sdk asks them
  about every response and every error; it never asks for a retry);
- sync passes through the engine's `observer` (`pass_finished`), Slack acks through the surface's
  `observe_ack` (`slack_ack`), leadership through the `leading` callable (always True with one replica);
- the outbox's backlog at scrape time (`scrape`): one read through the `Store`, never on the event loop.

Never calls a service or writes to the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.extension import Extension
from bot.sync.report import PassReport
from bot.usecases import Snowbot
from storage import backlog

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
SYSTEMS = ("servicenow", "qualytics", "slack")
OUTCOMES = ("ok", "client_error", "rate_limited", "server_error", "timeout", "connection_error", "error")
FAILURE_REASONS = {
    "anomaly_unreadable": "read_failures",
    "note_retrying": "retried",
    "note_refused": "failed",
    "ticket_closed": "not_delivered",
    "refresh_failed": "refresh_failures",
}
"""`snowbot_sync_failures_total`'s reason label -> the `PassReport` count it adds."""
PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
"""Slack gives an app 3 seconds to ack."""


def always_leading() -> bool:
    return True


class Metrics:
    """The registry and every metric of one process (see docs/metrics.md)."""

    def __init__(self, *, leading: Callable[[], bool] = always_leading) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.passes = Counter(
            "snowbot_sync_passes", "Sync passes finished, by trigger.", ["trigger"], registry=reg
        )
        self.pass_seconds = Histogram(
            "snowbot_sync_pass_duration_seconds",
            "How long a sync pass took, by trigger.",
            ["trigger"],
            buckets=PASS_BUCKETS,
            registry=reg,
        )
        self.failures = Counter(
            "snowbot_sync_failures", "Sync failures, by reason.", ["reason"], registry=reg
        )
        self.requests = Counter(
            "snowbot_requests",
            "HTTP requests to the services (each attempt), by system, operation and outcome.",
            ["system", "operation", "outcome"],
            registry=reg,
        )
        self.outbox_rows = Gauge(
            "snowbot_outbox_rows",
            "Outbox rows not done, by state (read at scrape time).",
            ["state"],
            registry=reg,
        )
        self.outbox_due = Gauge("snowbot_outbox_due_rows", "Outbox rows due to be sent now.", registry=reg)
        self.oldest_due = Gauge(
            "snowbot_outbox_oldest_due_age_seconds",
            "Seconds since the oldest due outbox row was recorded (0 when none is due).",
            registry=reg,
        )
        self.storage_up = Gauge(
            "snowbot_storage_up", "1 when the last scrape could read the database, else 0.", registry=reg
        )
        self.ack_seconds = Histogram(
            "snowbot_slack_ack_seconds",
            "Time from a Slack request's arrival to its ack, by mode and request kind.",
            ["mode", "kind"],
            buckets=ACK_BUCKETS,
            registry=reg,
        )
        self.leader = Gauge("snowbot_leader", "1 when this replica leads the sync, else 0.", registry=reg)
        self.leader.set_function(lambda: 1.0 if leading() else 0.0)

    def pass_finished(self, report: PassReport, seconds: float) -> None:
        """The sync engine's observer: one pass (or one `sync_anomalies`) ended after `seconds`."""
        trigger = "pass" if report.trigger == "pass" else "anomalies"
        self.passes.labels(trigger).inc()
        self.pass_seconds.labels(trigger).observe(seconds)
        for reason, field in FAILURE_REASONS.items():
            count = getattr(report, field)
            if count:
                self.failures.labels(reason).inc(count)

    def request_done(self, system: str, operation: str, outcome: str) -> None:
        self.requests.labels(system, operation, outcome).inc()

    def slack_ack(self, mode: str, kind: str, seconds: float) -> None:
        self.ack_seconds.labels(mode, kind).observe(seconds)

    def transport(self, system: str, inner: httpx.AsyncBaseTransport | None) -> httpx.AsyncBaseTransport:
        """`inner` (None: the network, as httpx's client would build it) with every request counted."""
        return MeteredTransport(inner or httpx.AsyncHTTPTransport(), system=system, metrics=self)

    async def scrape(self, snowbot: Snowbot) -> bytes:
        """The text format, with the outbox's backlog read now (on the database's thread)."""
        try:
            found = await snowbot.store.run(backlog.backlog, snowbot.db, snowbot.clock())
        except Exception as err:  # noqa: BLE001 - a scrape still answers; the gauge says storage is down
            log.warning("metrics: the outbox could not be read: %s", type(err).__name__)
            self.storage_up.set(0)
        else:
            self.storage_up.set(1)
            for state, n in found.rows.items():
                self.outbox_rows.labels(state).set(n)
            self.outbox_due.set(found.due)
            self.oldest_due.set(found.oldest_due_age)
        return generate_latest(self.registry)


def http_outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


def error_outcome(error: BaseException) -> str:
    if isinstance(error, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, httpx.TransportError | aiohttp.ClientConnectionError | OSError):
        return "connection_error"
    return "error"


class MeteredTransport(httpx.AsyncBaseTransport):
    """An httpx transport that counts each request it carries (GET/HEAD: read, else write)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, system: str, metrics: Metrics) -> None:
        self._inner = inner
        self._system = system
        self._metrics = metrics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        operation = "read" if request.method in ("GET", "HEAD") else "write"
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as err:
            self._metrics.request_done(self._system, operation, error_outcome(err))
            raise
        self._metrics.request_done(self._system, operation, http_outcome(response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


SLACK_READS = ("info", "list", "history", "replies", "test", "lookupByEmail", "getPermalink")
"""The last part of the Web API methods that only read (users.info, conversations.history, auth.test)."""


class SlackCallMeter(AsyncRetryHandler):
    """Counts each Slack Web API attempt; never asks for a retry. slack_sdk calls every retry handler,
    in order, with each response and each error (slack_sdk/web/async_internal_utils.py,
    `_request_with_session`), so this one goes first (`bot.slack.client.retry_handlers`)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self._metrics = metrics

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        operation = "read" if method.rsplit(".", 1)[-1] in SLACK_READS else "write"
        self._metrics.request_done("slack", operation, _slack_outcome(response, error))
        return False


def _slack_outcome(response: HttpResponse | None, error: Exception | None) -> str:
    if error is not None or response is None:
        return error_outcome(error) if error is not None else "error"
    body: Any = response.body
    failed = isinstance(body, dict) and body.get("ok") is False
    if response.status_code == 429 or (failed and body.get("error") == "ratelimited"):
        return "rate_limited"
    outcome = http_outcome(response.status_code)
    return "client_error" if outcome == "ok" and failed else outcome


def metrics_extension(metrics: Metrics, snowbot: Snowbot) -> Extension:
    """`GET /metrics`, served without a token like /healthz."""
    router = APIRouter()

    @router.get(
        METRICS_PATH,
        tags=["health"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus' text format."}},
    )
    async def metrics_text() -> Response:
        """The metrics of this process (docs/metrics.md), the outbox's backlog read at scrape time."""
        return Response(await metrics.scrape(snowbot), media_type=CONTENT_TYPE_LATEST)

    return Extension(routers=[router])
