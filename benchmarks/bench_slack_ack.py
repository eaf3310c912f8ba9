"""Slack ack latency: signed request to HTTP response, snowbot's real app vs a bare Bolt app that only acks.

Everything runs on loopback ports in child processes: the ServiceNow, Qualytics and Slack emulators, the
real app (`bot.app.build_app` with the Slack extension, served by uvicorn) and the bare app. The real
app does its actual work after each ack (views.open, reading the anomaly and the form, creating an
incident, posting in the thread), so concurrent requests compete with it. Three payloads (a slash
command, a message shortcut, a view submission), at 1 and at 20 requests in flight, in alternating
rounds of the same run. Aim: the real app's median within 1.5x of the bare app's, p99 far under 3 s.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import save, serve_in_process, summary_ms
from slackuser import CHANNEL, SlackUser

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
QUALYTICS_TOKEN = "demo-token"
CONCURRENCIES = (1, 20)
REQUESTS = {1: 150, 20: 400}
ROUNDS = 3


# ------------------------------------------------------------------------------------- served apps


def make_servicenow(base_url: str) -> Any:
    from emulators.servicenow import ServiceNowEmulator

    return ServiceNowEmulator(base_url=base_url)


def make_qualytics(base_url: str) -> Any:
    from emulators.qualytics import QualyticsEmulator

    return QualyticsEmulator(base_url=base_url, token=QUALYTICS_TOKEN)


def make_slack(base_url: str) -> Any:
    from emulators.slack import SlackEmulator

    return SlackEmulator(bot_token=BOT_TOKEN)


class Served:
    def __init__(self, app: Any) -> None:
        self.app = app


def make_snowbot(config: dict[str, Any], base_url: str) -> Served:
    """The real app: REST API plus the Slack extension in HTTP mode, against the emulators."""
    import logging

    from bot.app import build_app
    from bot.settings import Settings
    from bot.slack.extension import slack_extension

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(_env_file=None, **config)
    return Served(build_app(settings, extensions=[slack_extension]))


def make_bare(slack_api_url: str, base_url: str) -> Served:
    """A Bolt AsyncApp that only acks the same three requests, behind the same Starlette adapter."""
    from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url), signing_secret=SIGNING_SECRET
    )

    async def just_ack(ack: Any) -> None:
        await ack()

    bolt.command("/snow")(just_ack)
    bolt.shortcut("create_incident_shortcut")(just_ack)
    bolt.view("create_incident_modal")(just_ack)
    from starlette.applications import Starlette
    from starlette.routing import Route

    handler = AsyncSlackRequestHandler(bolt)
    return Served(Starlette(routes=[Route("/slack/events", handler.handle, methods=["POST"])]))


# ------------------------------------------------------------------------------------- payloads


class BenchWorkspace:
    """Slack's side as the simulated user sees it here: trigger ids as Slack issues them, and the one create
    modal opened in the emulator (which runs in a child process)."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.views: dict[str, dict[str, Any]] = {view["id"]: view}
        self.channels: dict[str, dict[str, Any]] = {}
        self.counter = itertools.count(1)

    def issue_trigger_id(self) -> str:
        n = next(self.counter)
        return f"{n}.T0001.bench{n:08x}"

    def posted_by_app(self, message: Mapping[str, Any]) -> bool:
        return False  # the bench clicks no button on a message


ALERT = {  # the message the shortcut is chosen on (only read by the bot, never stored in the emulator)
    "type": "message",
    "ts": "1700000001.000100",
    "text": "",
    "attachments": [{"fallback": "Anomaly Detected", "title_link": "http://127.0.0.1/anomalies/824"}],
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Anomaly ID:* 824 in orders_daily"}}],
}


class Payloads:
    """Signed requests for the three kinds, from the shared simulated Slack user (`slackuser.SlackUser`);
    each gets a fresh trigger_id, as Slack sends them. Replies go to a closed port (discard, 9)."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.view_id = view["id"]
        self.user = SlackUser(
            signing_secret=SIGNING_SECRET,
            workspace=BenchWorkspace(view),
            hooks_url="http://127.0.0.1:9/hooks",
        )

    def command(self) -> dict[str, Any]:
        return self.user.request(self.user.command_body("create 824"), "application/x-www-form-urlencoded")

    def shortcut(self) -> dict[str, Any]:
        return self.user.interaction_request(self.user.message_action("create_incident_shortcut", ALERT))

    def submission(self) -> dict[str, Any]:
        return self.user.interaction_request(self.user.view_submission(self.view_id))


async def open_create_view(slack_api_url: str) -> dict[str, Any]:
    """A real create modal in the Slack emulator, so the app's views.update after the ack lands."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack import blocks

    summary = blocks.AnomalySummary(id=824, type="record", status="Active", container="orders_daily")
    metadata = blocks.ModalMetadata(channel=CHANNEL, thread_ts="1700000001.000100")
    view = blocks.create_incident_modal(summary, metadata, description="Anomaly ID: 824")
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url)
    opened: dict[str, Any] = (await client.views_open(trigger_id="0.T0001.bench", view=view))["view"]
    return opened


# ------------------------------------------------------------------------------------- measuring

Send = Callable[[], dict[str, Any]]


async def latencies(client: httpx.AsyncClient, url: str, make: Send, n: int, concurrency: int) -> list[float]:
    sem = asyncio.Semaphore(concurrency)
    samples: list[float] = []

    async def one() -> None:
        async with sem:
            request = make()
            start = time.perf_counter()
            response = await client.post(url, **request)
            samples.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")

    await asyncio.gather(*(one() for _ in range(n)))
    return samples


async def _bench(real_url: str, bare_url: str, slack_api_url: str) -> dict[str, Any]:
    payloads = Payloads(await open_create_view(slack_api_url))
    kinds: dict[str, Send] = {
        "slash_command": payloads.command,
        "message_shortcut": payloads.shortcut,
        "view_submission": payloads.submission,
    }
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        for url in (real_url, bare_url):  # warm up: Bolt's first request calls auth.test
            for make in kinds.values():
                await latencies(client, url, make, 10, 1)
        for kind, make in kinds.items():
            for concurrency in CONCURRENCIES:
                real: list[float] = []
                bare: list[float] = []
                for _ in range(ROUNDS):
                    real += await latencies(client, real_url, make, REQUESTS[concurrency], concurrency)
                    bare += await latencies(client, bare_url, make, REQUESTS[concurrency], concurrency)
                r, b = summary_ms(real), summary_ms(bare)
                figures[f"{kind}_c{concurrency}"] = {
                    "snowbot": r,
                    "bare_bolt": b,
                    "median_ratio": round(r["median_ms"] / b["median_ms"], 3),
                }
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with (
            serve_in_process(make_servicenow) as sn_url,
            serve_in_process(make_qualytics) as q_url,
            serve_in_process(make_slack) as slack_url,
        ):
            slack_api_url = f"{slack_url}/api/"
            config: dict[str, Any] = {
                "db_path": str(Path(tmp) / "bench.db"),
                "secret_key": "bench-secret-key",
                "servicenow_instance_url": sn_url,
                "servicenow_credentials": "admin:admin",
                "allow_insecure_instance": "true",
                "qualytics_url": q_url,
                "qualytics_token": QUALYTICS_TOKEN,
                "slack_bot_token": BOT_TOKEN,
                "slack_signing_secret": SIGNING_SECRET,
                "slack_api_url": slack_api_url,
            }
            with (
                serve_in_process(partial(make_snowbot, config), lifespan="on") as real_base,
                serve_in_process(partial(make_bare, slack_api_url), lifespan="on") as bare_base,
            ):
                figures = asyncio.run(
                    _bench(f"{real_base}/slack/events", f"{bare_base}/slack/events", slack_api_url)
                )
    print(f"Slack ack latency, signed request -> response ({ROUNDS} rounds; snowbot vs a bare Bolt app):")
    for name, f in figures.items():
        s, b = f["snowbot"], f["bare_bolt"]
        print(
            f"  {name:22s} snowbot median {s['median_ms']:7.2f} ms p99 {s['p99_ms']:7.2f} ms | "
            f"bare median {b['median_ms']:7.2f} ms p99 {b['p99_ms']:7.2f} ms | "
            f"median ratio {f['median_ratio']:.2f}x (aim <= 1.5x; p99 far under 3000 ms)"
        )
    save("slack_ack", figures)


if __name__ == "__main__":
    main()
