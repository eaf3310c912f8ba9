"""End-to-end harness for the Slack surface.

The real app (`bot.app.build_app` with the Slack extension) is driven over httpx's ASGI transport with
signed requests, as Slack sends them. ServiceNow and Qualytics are the in-process emulators of the
shared fixtures; the Slack Web API emulator runs on a loopback port (slack_sdk speaks aiohttp), beside a
small recorder for `response_url` posts. After a request, `settle()` waits for the work Bolt runs after
the ack (the surface's task tracker), never a fixed time.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bot.app import Extension, build_app
from bot.composition import Outside, Process, compose
from bot.settings import Settings
from bot.slack.extension import surface_extension
from bot.slack.ids import BlockId
from bot.usecases import Snowbot
from emulators.serve import serve_in_thread
from emulators.slack import SlackEmulator

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
TEAM = {"id": "T0001", "domain": "acme"}
USERS = {
    "U_JANE": {"id": "U_JANE", "username": "jane.doe", "name": "jane.doe", "team_id": "T0001"},
    "U_BOB": {"id": "U_BOB", "username": "bob", "name": "bob", "team_id": "T0001"},
    "U_ADMIN": {"id": "U_ADMIN", "username": "admin", "name": "admin", "team_id": "T0001"},
    # in the payload but unknown to users.info (e.g. a guest from another workspace)
    "U_NOBODY": {"id": "U_NOBODY", "username": "nobody", "name": "nobody", "team_id": "T0001"},
}
ALERTS = "C_ALERTS"
QUALYTICS = "https://demo.qualytics.io"


def qualytics_alert(anomaly_id: int, *, host: str = QUALYTICS) -> dict[str, Any]:
    """Qualytics' own "Anomaly Detected" Flow alert: Block Kit inside a coloured attachment; the anomaly
    is only in the View Anomaly button's URL."""
    return {
        "color": "#E53935",
        "fallback": "Anomaly Detected in orders_daily",
        "blocks": [
            {
                "type": "section",
                "block_id": "x1Y",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Anomaly Detected* in *orders_daily*\nDatastore: <{host}/datastores/23|Sales Warehouse>"
                    "\n17 records failed: max_value is not between 0 and 100000",
                },
            },
            {
                "type": "actions",
                "block_id": "a9Z",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "view_anomaly",
                        "text": {"type": "plain_text", "text": "View Anomaly"},
                        "url": f"{host}/datastores/23/anomalies?id={anomaly_id}",
                    }
                ],
            },
        ],
    }


class ResponseUrls:
    """Receives `response_url` posts (Slack's own webhook for replies to a command or a button)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        self.posts.append((request.path_params["name"], json.loads(await request.body())))
        return JSONResponse({"ok": True})

    def to(self, name: str) -> list[dict[str, Any]]:
        return [body for hook, body in self.posts if hook == name]


@dataclass
class SlackWorld:
    slack: SlackEmulator
    hooks: ResponseUrls
    base_url: str

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def methods(self) -> list[str]:
        return [call.method for call in self.slack.calls if call.method != "auth.test"]


@pytest.fixture
def world() -> Iterator[SlackWorld]:
    slack = SlackEmulator(bot_token=BOT_TOKEN)
    hooks = ResponseUrls()
    app = Starlette(
        routes=[Route("/hooks/{name}", hooks.endpoint, methods=["POST"]), Mount("/", app=slack.app)]
    )
    with serve_in_thread(app) as base_url:
        yield SlackWorld(slack, hooks, base_url)


@dataclass
class Harness:
    """Signed requests into the real app, payload builders, and a deterministic wait."""

    http: httpx.AsyncClient
    app: Any
    world: SlackWorld
    snowbot: Snowbot
    sleeps: list[float] = field(default_factory=list)
    process: Process | None = None
    """What `bot.composition.compose` built (the engine, the Slack surface and its notifier)."""
    verifier: SignatureVerifier = field(default_factory=lambda: SignatureVerifier(SIGNING_SECRET))

    @property
    def slack(self) -> SlackEmulator:
        return self.world.slack

    async def settle(self) -> None:
        assert await self.app.state.slack.idle(10), "Slack work still running after 10 s"

    # --------------------------------------------------------------------------- transport

    def request(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        signed: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """httpx keyword arguments for a POST to /slack/events, signed as Slack signs (v0, HMAC-SHA256)."""
        headers = {"Content-Type": content_type, **(headers or {})}
        if signed:
            ts = str(int(time.time()) if timestamp is None else timestamp)
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = signature or self.verifier.generate_signature(
                timestamp=ts, body=body
            )
        return {"content": body.encode(), "headers": headers}

    def interaction_request(self, payload: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        return self.request(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw
        )

    async def post(self, body: str, content_type: str, **kw: Any) -> httpx.Response:
        """Send, then wait until the work Bolt does after the ack has finished."""
        response = await self.http.post("/slack/events", **self.request(body, content_type, **kw))
        await self.settle()
        return response

    def trigger_id(self) -> str:
        return self.slack.issue_trigger_id()

    async def command(
        self, text: str, *, user: str = "U_JANE", channel: str = ALERTS, **kw: Any
    ) -> httpx.Response:
        fields = {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "dq-alerts",
            "user_id": user,
            "user_name": USERS[user]["username"],
            "command": "/snow",
            "text": text,
            "api_app_id": "A_SNOWBOT",
            "is_enterprise_install": "false",
            "response_url": self.world.response_url("command"),
            "trigger_id": self.trigger_id(),
        }
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded", **kw)

    async def interact(self, payload: Mapping[str, Any], **kw: Any) -> httpx.Response:
        response = await self.http.post("/slack/events", **self.interaction_request(payload, **kw))
        await self.settle()
        return response

    async def event(
        self, event: Mapping[str, Any], *, event_id: str = "Ev0001", retry: int | None = None, **kw: Any
    ) -> httpx.Response:
        """An Events API delivery; `retry` > 0 is Slack delivering it again (X-Slack-Retry-Num and
        -Reason, Slack's Events API retry headers) after it saw no answer in time."""
        if retry:
            kw["headers"] = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        envelope = {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": "A_SNOWBOT",
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM["id"], "user_id": "U_SNOWBOT", "is_bot": True}],
        }
        return await self.post(json.dumps(envelope), "application/json", **kw)

    # --------------------------------------------------------------------------- payloads

    def message_event(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The `message` event Slack sends for a message stored in the emulator (the fields of
        bolt-python's tests/scenario_tests message payloads: type, subtype, bot_id, channel, ts,
        event_ts, channel_type)."""
        event = {k: v for k, v in message.items() if k not in ("app_id",)}
        channel = self.slack.channels.get(str(message["channel"]), {})
        return {
            **event,
            "type": "message",
            "team": TEAM["id"],
            "event_ts": message["ts"],
            "channel_type": "group" if channel.get("is_private") else "channel",
        }

    def card_in(self, channel: str, thread_ts: str) -> dict[str, Any]:
        """The one anomaly card the bot posted in a thread (its chat-ops buttons are what a person clicks)."""
        [card] = self.cards_in(channel, thread_ts)
        return card

    def cards_in(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.slack.app_messages(channel, thread_ts)
            if any(b.get("block_id") == BlockId.ANOMALY_ACTIONS for b in m.get("blocks", []))
        ]

    def message_action(
        self, callback_id: str, message: Mapping[str, Any], *, user: str = "U_JANE"
    ) -> dict[str, Any]:
        return {
            "type": "message_action",
            "token": "legacy-verification-token",
            "action_ts": "1700000100.000001",
            "team": TEAM,
            "user": USERS[user],
            "channel": {"id": ALERTS, "name": "dq-alerts"},
            "is_enterprise_install": False,
            "callback_id": callback_id,
            "trigger_id": self.trigger_id(),
            "response_url": self.world.response_url("shortcut"),
            "message_ts": message["ts"],
            "message": {k: v for k, v in message.items() if k != "channel"},
        }

    def block_actions_in_view(
        self, view_id: str, action: Mapping[str, Any], *, user: str = "U_JANE"
    ) -> dict[str, Any]:
        view = self.slack.views[view_id]
        return {
            "type": "block_actions",
            "team": TEAM,
            "user": USERS[user],
            "api_app_id": "A_SNOWBOT",
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.trigger_id(),
            "view": view,
            "actions": [{**action, "action_ts": "1700000200.000001"}],
        }

    def block_actions_on_message(
        self,
        message: Mapping[str, Any],
        action: Mapping[str, Any],
        *,
        user: str = "U_JANE",
        ephemeral: bool = False,
        hook: str = "button",
    ) -> dict[str, Any]:
        if not ephemeral:  # Slack sends an app the clicks on its own messages only
            assert self.slack.posted_by_app(message), "a click on a message the bot did not post"
            ids = [e.get("action_id") for b in message.get("blocks", []) for e in b.get("elements", [])]
            ids += [b["accessory"].get("action_id") for b in message.get("blocks", []) if b.get("accessory")]
            assert action.get("action_id") in ids, f"{action.get('action_id')} is not on that message"
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": TEAM,
            "user": USERS[user],
            "api_app_id": "A_SNOWBOT",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": ephemeral,
            },
            "trigger_id": self.trigger_id(),
            "channel": {"id": message["channel"], "name": "dq-alerts"},
            "response_url": self.world.response_url(hook),
            "actions": [{**action, "action_ts": "1700000200.000001"}],
        }
        if not ephemeral:  # Slack leaves the message out when it was ephemeral
            payload["message"] = {k: v for k, v in message.items() if k != "channel"}
        return payload

    def view_submission(
        self, view_id: str, entered: Mapping[str, Any] | None = None, *, user: str = "U_JANE"
    ) -> dict[str, Any]:
        view = dict(self.slack.views[view_id])
        view["state"] = {"values": state_values(view, entered or {})}
        return {
            "type": "view_submission",
            "team": TEAM,
            "user": USERS[user],
            "api_app_id": "A_SNOWBOT",
            "token": "legacy-verification-token",
            "trigger_id": self.trigger_id(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
        }

    def block_suggestion(self, view_id: str, action_id: str, block_id: str, value: str) -> dict[str, Any]:
        return {
            "type": "block_suggestion",
            "user": USERS["U_JANE"],
            "team": TEAM,
            "api_app_id": "A_SNOWBOT",
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view_id},
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "view": self.slack.views[view_id],
        }

    def last_view(self) -> dict[str, Any]:
        return list(self.slack.views.values())[-1]


def state_values(view: Mapping[str, Any], entered: Mapping[str, Any]) -> dict[str, Any]:
    """`view.state.values` as Slack sends it: what the person `entered` (block_id -> text, option value,
    or (value, label) / list of them for external selects), else the inputs' initial values."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        kind, action_id, block_id = element["type"], element["action_id"], block["block_id"]
        given = entered.get(block_id)
        if kind in ("plain_text_input", "url_text_input"):
            state = {"type": kind, "value": given if block_id in entered else element.get("initial_value")}
        elif kind == "static_select":
            chosen = element.get("initial_option")
            if block_id in entered:
                chosen = next((o for o in element["options"] if o["value"] == given), None)
            state = {"type": kind, "selected_option": chosen}
        elif kind == "external_select":
            chosen = element.get("initial_option")
            if given is not None:
                chosen = {"text": {"type": "plain_text", "text": given[1]}, "value": given[0]}
            state = {"type": kind, "selected_option": chosen}
        elif kind == "multi_external_select":
            chosen = [
                {"text": {"type": "plain_text", "text": label}, "value": value}
                for value, label in given or []
            ]
            state = {"type": kind, "selected_options": chosen}
        else:  # pragma: no cover - no other inputs in snowbot's modals
            raise AssertionError(kind)
        values[block_id] = {action_id: state}
    return values


@pytest.fixture
def slack_settings(make_settings: Callable[..., Settings], world: SlackWorld) -> Settings:
    return make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{world.base_url}/api/",
        admins="U_BOB",
    )


@pytest.fixture
def servicenow_transport() -> httpx.AsyncBaseTransport | None:
    """The bot's way to ServiceNow (None: the emulator in-process); a test module may override it."""
    return None


@pytest.fixture
async def harness(
    slack_settings: Settings,
    outside: Outside,
    world: SlackWorld,
    servicenow_transport: httpx.AsyncBaseTransport | None,
) -> AsyncIterator[Harness]:
    """The parts as `snowbot run` composes them (the use cases' hooks reach the engine and Slack), served
    with the Slack surface only: no scheduler runs a pass behind a test's back."""
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    if servicenow_transport is not None:
        outside = replace(outside, servicenow_transport=servicenow_transport)
    process = compose(slack_settings, outside=outside, sleep=record_sleep, suggest_budget=0.5)
    surface = process.slack
    assert surface is not None

    def slack_only(settings: Settings, snowbot: Snowbot) -> Extension:
        return surface_extension(settings, surface, sleep=record_sleep)

    app = build_app(slack_settings, snowbot=process.snowbot, extensions=[slack_only])
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://snowbot.test") as http:
                yield Harness(
                    http=http, app=app, world=world, snowbot=process.snowbot, sleeps=sleeps, process=process
                )
    finally:
        await process.snowbot.aclose()
        process.snowbot.db.close()


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness
