"""`GET /metrics` after a sync pass and Slack requests through the emulators, read back with
prometheus-client's own parser; Socket Mode's acks; docs/metrics.md against the registry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from bot.app import build_app
from bot.metrics import Metrics, metrics_extension
from bot.settings import Settings
from bot.slack.extension import slack_extension
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from tests.bot.slack.conftest import BOT_TOKEN, Harness, SlackWorld
from tests.bot.slack.test_socket_mode import eventually

DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
NIGHTLY_LOAD = "INC0000002"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(metrics: Metrics, snowbot: Snowbot, settings: Settings) -> Samples:
    """GET /metrics on an app serving it (no token), parsed by prometheus-client's text parser."""
    app = build_app(settings, snowbot=snowbot, extensions=[lambda _s, bot: metrics_extension(metrics, bot)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://snowbot.test"
    ) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object]) -> dict[str, object]:
    """Every watched anomaly read on every pass (no adaptive schedule): the passes below follow each other
    at once, as three scheduled passes would minutes apart."""
    return {**settings_overrides, "sync_min_read_interval": 0, "sync_max_read_interval": 0}


async def test_metrics_after_a_sync_pass_and_a_slack_command(
    h: Harness, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator
) -> None:
    engine, metrics = h.process.engine, h.process.metrics
    assert engine is not None
    await h.command("help")
    await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    await engine.run_pass()  # the baseline
    q_emulator.set_status(824, "Acknowledged")
    await engine.run_pass()  # one work note
    q_emulator.add_comment(824, "Reloaded upstream.")
    sn_emulator.faults.fail_next(503, count=5)  # more than the client's retries: the row backs off
    await engine.run_pass()

    samples = await scrape(metrics, h.snowbot, h.snowbot.settings)

    assert value(samples, "snowbot_sync_passes_total", trigger="pass") == 3
    assert value(samples, "snowbot_sync_pass_duration_seconds_count", trigger="pass") == 3
    assert value(samples, "snowbot_sync_failures_total", reason="note_retrying") == 1
    assert value(samples, "snowbot_requests_total", system="qualytics", operation="read", outcome="ok") >= 3
    assert value(samples, "snowbot_requests_total", system="servicenow", operation="write", outcome="ok") >= 1
    assert value(samples, "snowbot_requests_total", system="servicenow", operation="read", outcome="ok") >= 1
    server_errors = value(
        samples, "snowbot_requests_total", system="servicenow", operation="write", outcome="server_error"
    )
    assert server_errors >= 1  # each attempt counted, the client's own retries included
    assert (
        value(samples, "snowbot_requests_total", system="slack", operation="read", outcome="ok") >= 1
    )  # auth.test
    assert value(samples, "snowbot_slack_ack_seconds_count", mode="http", kind="command") == 1
    assert value(samples, "snowbot_outbox_rows", state="retrying") == 1
    assert value(samples, "snowbot_outbox_rows", state="pending") == 1
    assert value(samples, "snowbot_outbox_due_rows") == 0  # backing off: not due yet
    assert value(samples, "snowbot_storage_up") == 1
    assert value(samples, "snowbot_leader") == float(h.process.leading())  # the leadership's own answer


async def test_socket_mode_acks_are_measured(
    world: SlackWorld, make_settings: Callable[..., Settings], make_snowbot: Callable[..., Snowbot]
) -> None:
    """A `/snow help` envelope over Socket Mode (as in test_socket_mode.py) is acked and measured."""
    metrics = Metrics(leading=lambda: False)
    settings = make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_app_token=world.slack.app_token,
        slack_signing_secret=None,
        slack_api_url=f"{world.base_url}/api/",
    )
    snowbot = make_snowbot(settings)
    app = build_app(settings, snowbot=snowbot, extensions=[partial(slack_extension, metrics=metrics)])
    async with app.router.lifespan_context(app):
        await eventually(lambda: app.state.health["slack"]() == "connected")
        command = {
            "team_id": "T0001",
            "channel_id": "C_ALERTS",
            "user_id": "U_JANE",
            "command": "/snow",
            "text": "help",
            "api_app_id": "A_SNOWBOT",
            "response_url": world.response_url("command"),
            "trigger_id": world.slack.issue_trigger_id(),
        }
        await asyncio.to_thread(world.slack.send_envelope, "slash_commands", command)
        acks = ("snowbot_slack_ack_seconds_count", {"mode": "socket", "kind": "command"})
        await eventually(lambda: metrics.registry.get_sample_value(*acks) == 1)
        await app.state.slack.idle(10)
        samples = await scrape(metrics, snowbot, settings)

    assert value(samples, "snowbot_slack_ack_seconds_count", mode="socket", kind="command") == 1
    assert value(samples, "snowbot_leader") == 0  # the callable decides


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """docs/metrics.md's table: name -> (type, labels)."""
    rows = re.findall(r"^\| `(snowbot_\w+)` \| (\w+) \|([^|]*)\|", DOCS.read_text(encoding="utf-8"), re.M)
    return {name: (kind, tuple(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}


def test_the_docs_list_every_metric_with_its_type_and_labels() -> None:
    metrics = Metrics()
    exposed = {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in metrics.registry.collect()
    }
    docs = documented()
    assert {name: kind for name, (kind, _) in docs.items()} == exposed
    for collector in vars(metrics).values():
        if isinstance(collector, Counter | Gauge | Histogram):
            [family] = collector.describe()
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = docs[name][1]
            if labels:
                collector.labels(**dict.fromkeys(labels, "x"))  # raises unless these are its label names
            else:
                try:
                    collector.labels(x="x")
                except ValueError as err:  # prometheus-client: "No label names were set ..."
                    assert "No label names" in str(err)
                else:
                    raise AssertionError(f"{name} has labels the docs do not list")


def test_two_apps_in_one_process_keep_their_own_figures() -> None:
    first, second = Metrics(), Metrics()
    first.request_done("qualytics", "read", "ok")
    labels = {"system": "qualytics", "operation": "read", "outcome": "ok"}
    assert first.registry.get_sample_value("snowbot_requests_total", labels) == 1
    assert second.registry.get_sample_value("snowbot_requests_total", labels) is None
