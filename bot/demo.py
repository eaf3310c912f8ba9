"""`snowbot demo`: the story a data-quality team lives, played on local emulators of ServiceNow, Qualytics
and Slack, through the bot's real endpoints.

The three emulators run on loopback ports (`emulators.serve.serve_in_thread`); the bot is the real app
(`bot.app.build_app` with the Slack and sync extensions, its lifespan running) served by uvicorn on a
loopback port in this event loop, so the story can wait for the bot's own work deterministically: the
Slack surface's task tracker after each Slack request, and `SyncEngine.run_pass()` for a sync pass. The
story plays Slack's part with signed requests (`POST /slack/events`: form-encoded slash commands,
`payload=` JSON for interactions) and a Qualytics user's part through the Qualytics API; it reads what
the bot did from the Slack emulator's Web API log and from ServiceNow through `ServiceNowClient`.

    1. Qualytics posts its alert for anomaly 824 in #dq-alerts
    2. "Create ServiceNow ticket" on the alert opens the form, prefilled
    3. the form is submitted: the incident is created and linked, the alert's thread says so
    4. the anomaly is acknowledged and commented in Qualytics; a sync pass writes the work notes
    5. `/snow search` finds an older incident and `/snow link` links it too
    6. the anomaly is archived in Qualytics; a sync pass resolves both incidents
    7. `/snow tickets 824` shows both Resolved
    8. the incident as ServiceNow holds it

Everything is throwaway: a temporary directory for the database (removed at the end unless
`--keep-running`), settings built here (never from the environment or `.env`), random secrets. A failed
step prints which one and why and makes the exit code 1; `snowbot demo --debug` adds the traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bot.app import build_app
from bot.composition import compose
from bot.logs import configure_logging
from bot.qualytics import Anomaly, QualyticsClient, QualyticsError, anomaly_url
from bot.settings import Settings
from bot.slack.ids import ActionId, BlockId, Shortcut, ViewId
from bot.usecases import UseCaseError
from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from emulators.slack import SlackEmulator
from servicenow import Credentials, Incident, JournalEntry, ServiceNowClient
from servicenow.errors import ServiceNowError
from storage import SecretBox, links

ANOMALY_ID = 824
CHANNEL = "C_ALERTS"
CHANNEL_NAME = "dq-alerts"
SLACK_USER = {"id": "U_JANE", "username": "jane.doe", "name": "jane.doe", "team_id": "T0001"}
TEAM = {"id": "T0001", "domain": "acme"}
QUALYTICS_PERSON = ("Raj Patel", "raj.patel@acme.example")
"""Who acknowledges, comments on and archives the anomaly in Qualytics (with their own API token)."""
SERVICENOW_LOGIN = "admin:admin"  # the ServiceNow emulator's default account
GROUP_SEARCH, GROUP_NAME = "data", "Data Quality"
INCIDENT_SEARCH = "orders_daily"
COMMENT = "Upstream ETL wrote prices in cents into max_value; the fix is deployed and a backfill is running."
WAIT = 10.0
JSON = "Content-Type: application/json"
READY = "Still running; Ctrl-C stops it."
"""The last line `--keep-running` prints once everything is up."""
"""Seconds the story waits for the bot's work after a request before the step fails."""


class StepFailed(Exception):
    """A step did not see what it expected; the message says what was seen instead."""


# ------------------------------------------------------------------------------------------ the world


@dataclass
class ResponseUrls:
    """Slack's `response_url` webhooks (hooks.slack.com): what the bot answers to a slash command."""

    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> JSONResponse:
        self.posts.append((request.path_params["name"], json.loads(await request.body())))
        return JSONResponse({"ok": True})

    def to(self, name: str) -> list[dict[str, Any]]:
        return [body for hook, body in self.posts if hook == name]


@dataclass
class DemoWorld:
    """The running emulators and bot, and the secrets the demo made up for them."""

    servicenow: ServiceNowEmulator
    qualytics: QualyticsEmulator
    slack: SlackEmulator
    hooks: ResponseUrls
    settings: Settings
    app: FastAPI
    bot_url: str
    servicenow_url: str
    qualytics_url: str
    slack_url: str
    person_token: str

    @property
    def api_token(self) -> str:
        assert self.settings.api_token is not None
        return self.settings.api_token.get_secret_value()


def demo_settings(
    directory: Path,
    *,
    servicenow_url: str,
    qualytics_url: str,
    qualytics_token: str,
    slack_url: str,
    slack_token: str,
    sync_interval: int = 3600,
) -> Settings:
    """Every setting given here (the environment and `.env` play no part), secrets fresh and random."""
    values: dict[str, Any] = {
        name: spec.get_default(call_default_factory=True) for name, spec in Settings.model_fields.items()
    }
    values.update(
        slack_bot_token=slack_token,
        slack_signing_secret=secrets.token_hex(16),
        slack_app_token=None,  # HTTP mode: Slack's requests come to POST /slack/events
        slack_api_url=f"{slack_url}/api/",
        servicenow_instance_url=servicenow_url,
        servicenow_credentials=SERVICENOW_LOGIN,
        allow_insecure_instance=True,  # the emulator speaks http on loopback
        qualytics_url=qualytics_url,
        qualytics_token=qualytics_token,
        db_path=directory / "snowbot.db",
        secret_key=SecretBox.generate_key(),
        api_token=secrets.token_urlsafe(24),
        webhook_secret=secrets.token_urlsafe(24),
        sync_interval=sync_interval,
        admins="",
    )
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def demo_world(directory: Path, *, sync_interval: int = 3600) -> AsyncIterator[DemoWorld]:
    """Start the emulators (threads) and the bot (this loop), all on loopback; stop them on exit.

    The story runs its sync passes itself; the scheduler's first pass runs at start-up, the next one
    `sync_interval` seconds later."""
    with ExitStack() as stack:
        servicenow = ServiceNowEmulator()
        servicenow_url = stack.enter_context(serve_in_thread(servicenow.app))
        servicenow.base_url = servicenow_url  # incident links and Location headers name the real port

        bot_token, person_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        qualytics = QualyticsEmulator(token=bot_token)
        qualytics.add_person(person_token, *QUALYTICS_PERSON)
        qualytics_url = stack.enter_context(serve_in_thread(qualytics.app))
        qualytics.base_url = qualytics_url

        slack_token = f"xoxb-demo-{secrets.token_hex(12)}"
        slack = SlackEmulator(bot_token=slack_token)
        hooks = ResponseUrls()
        slack_app = Starlette(  # the Web API under /api/, response_url webhooks under /hooks/
            routes=[Route("/hooks/{name}", hooks.endpoint, methods=["POST"]), Mount("/", app=slack.app)]
        )
        slack_url = stack.enter_context(serve_in_thread(slack_app))

        settings = demo_settings(
            directory,
            servicenow_url=servicenow_url,
            qualytics_url=qualytics_url,
            qualytics_token=bot_token,
            slack_url=slack_url,
            slack_token=slack_token,
            sync_interval=sync_interval,
        )
        process = compose(settings)  # the parts as `snowbot run` composes them
        app = build_app(settings, process=process)
        app.state.sync_engine = process.engine  # the demo's own handle on the engine (`sync_pass`)
        async with app.router.lifespan_context(app), _serve_here(app) as bot_url:
            yield DemoWorld(
                servicenow=servicenow,
                qualytics=qualytics,
                slack=slack,
                hooks=hooks,
                settings=settings,
                app=app,
                bot_url=bot_url,
                servicenow_url=servicenow_url,
                qualytics_url=qualytics_url,
                slack_url=slack_url,
                person_token=person_token,
            )


class _Server(uvicorn.Server):
    """uvicorn in the running loop. Signals stay with `asyncio.run` (Ctrl-C ends the demo, not only this
    server), and start-up is announced through an event instead of being polled."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@asynccontextmanager
async def _serve_here(app: FastAPI, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `app` on a free loopback port from this event loop (its lifespan is the caller's to run)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="snowbot-demo-server")
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({serving, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            if serving.done():
                serving.result()  # start-up failed: its exception
            raise RuntimeError(f"the bot did not start on {host}:{sock.getsockname()[1]}")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        ready.cancel()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        sock.close()


# ---------------------------------------------------------------------------------- playing Slack's part


class Slack:
    """Slack's side of the conversation: signed requests to the bot, payloads as Slack builds them, and
    a deterministic wait for what the bot does after it has answered."""

    def __init__(self, world: DemoWorld, http: httpx.AsyncClient) -> None:
        assert world.settings.slack_signing_secret is not None
        self.world = world
        self.http = http
        self.verifier = SignatureVerifier(world.settings.slack_signing_secret.get_secret_value())
        self._hooks = 0

    @property
    def emulator(self) -> SlackEmulator:
        return self.world.slack

    async def send(self, body: str, content_type: str) -> httpx.Response:
        """POST to /slack/events, signed as Slack signs (v0, HMAC-SHA256), then wait for the bot."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=timestamp, body=body),
        }
        response = await self.http.post("/slack/events", content=body.encode(), headers=headers)
        if response.status_code != 200:
            raise StepFailed(f"the bot answered HTTP {response.status_code} to a signed Slack request")
        await self.settle()
        return response

    async def settle(self) -> None:
        if not await self.world.app.state.slack.idle(WAIT):
            raise StepFailed(f"the bot's Slack work was still running after {WAIT:.0f} s")

    async def interact(self, payload: Mapping[str, Any]) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.send(body, "application/x-www-form-urlencoded")

    async def command(self, text: str) -> dict[str, Any]:
        """`/snow <text>` in the channel; returns the bot's (ephemeral) answer through the response_url."""
        self._hooks += 1
        hook = f"command-{self._hooks}"
        fields = {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": CHANNEL,
            "channel_name": CHANNEL_NAME,
            "user_id": SLACK_USER["id"],
            "user_name": SLACK_USER["username"],
            "command": "/snow",
            "text": text,
            "api_app_id": "A_SNOWBOT",
            "is_enterprise_install": "false",
            "response_url": f"{self.world.slack_url}/hooks/{hook}",
            "trigger_id": self.emulator.issue_trigger_id(),
        }
        await self.send(urlencode(fields), "application/x-www-form-urlencoded")
        answers = self.world.hooks.to(hook)
        if not answers:
            raise StepFailed(f"/snow {text} got no answer")
        return answers[-1]

    def _interaction(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "token": "legacy-verification-token",
            "team": TEAM,
            "user": SLACK_USER,
            "api_app_id": "A_SNOWBOT",
            "is_enterprise_install": False,
            **fields,
        }

    def message_action(self, callback_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
        return self._interaction(
            "message_action",
            callback_id=callback_id,
            action_ts=f"{time.time():.6f}",
            channel={"id": CHANNEL, "name": CHANNEL_NAME},
            trigger_id=self.emulator.issue_trigger_id(),
            response_url=f"{self.world.slack_url}/hooks/shortcut",
            message_ts=message["ts"],
            message={k: v for k, v in message.items() if k != "channel"},
        )

    def block_suggestion(self, view_id: str, action_id: str, block_id: str, value: str) -> dict[str, Any]:
        return self._interaction(
            "block_suggestion",
            container={"type": "view", "view_id": view_id},
            action_id=action_id,
            block_id=block_id,
            value=value,
            view=self.emulator.views[view_id],
        )

    def view_submission(self, view_id: str, chosen: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        """The modal as it is now, with `state.values` as Slack sends them: each input's initial value,
        except the external selects in `chosen` (block_id -> (value, label))."""
        view = dict(self.emulator.views[view_id])
        view["state"] = {"values": state_values(view, chosen)}
        return self._interaction(
            "view_submission", trigger_id=self.emulator.issue_trigger_id(), view=view, response_urls=[]
        )


def state_values(view: Mapping[str, Any], chosen: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        kind = element["type"]
        if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input"):
            state: dict[str, Any] = {"type": kind, "value": element.get("initial_value")}
        elif kind in ("static_select", "external_select"):
            option = element.get("initial_option")
            if block_id in chosen:
                value, label = chosen[block_id]
                option = {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}
            state = {"type": kind, "selected_option": option}
        elif kind in ("multi_static_select", "multi_external_select"):
            state = {"type": kind, "selected_options": element.get("initial_options", [])}
        else:
            continue
        values[block_id] = {element["action_id"]: state}
    return values


# -------------------------------------------------------------------------------------------- the story


def qualytics_alert(anomaly: Anomaly, url: str, datastore_url: str) -> dict[str, Any]:
    """Qualytics' own "Anomaly Detected" Flow alert: Block Kit in a coloured attachment; the anomaly is
    named only by the View Anomaly button's URL."""
    where = anomaly.container.name if anomaly.container else "a container"
    checks = "\n".join(check.message for check in anomaly.failed_checks)
    return {
        "color": "#E53935",
        "fallback": f"Anomaly Detected in {where}",
        "blocks": [
            {
                "type": "section",
                "block_id": "q1",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Anomaly Detected* in *{where}*\n"
                    f"Datastore: <{datastore_url}|{anomaly.datastore.name}>\n{checks}",
                },
            },
            {
                "type": "actions",
                "block_id": "q2",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "view_anomaly",
                        "text": {"type": "plain_text", "text": "View Anomaly"},
                        "url": url,
                    }
                ],
            },
        ],
    }


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as a person reads it: `<url|label>` -> label, `<!date^..|fallback>` -> fallback."""
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", mrkdwn)
    text = re.sub(r"<[^|>]+\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    return text.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def section_texts(blocks: Any) -> list[str]:
    return [
        plain(block["text"]["text"])
        for block in blocks or []
        if block.get("type") in ("section", "context") and isinstance(block.get("text"), dict)
    ] + [
        plain(element.get("text", ""))
        for block in blocks or []
        if block.get("type") == "context"
        for element in block.get("elements", [])
    ]


def modal_says(view: Mapping[str, Any]) -> str:
    """What a modal tells the person: its error block when it has one, else all its text."""
    blocks = view.get("blocks") or []
    error = [block for block in blocks if block.get("block_id") == BlockId.ERROR]
    return " / ".join(section_texts(error or blocks)) or "nothing"


def input_value(view: Mapping[str, Any], block_id: str) -> str | None:
    for block in view.get("blocks", []):
        if block.get("block_id") == block_id:
            return block["element"].get("initial_value")
    return None


def oldest_first(notes: list[JournalEntry]) -> list[JournalEntry]:
    """`list_work_notes` is newest first; entries of the same second keep the instance's order."""
    return sorted(notes, key=lambda note: note.created_on or 0)


def reason(err: BaseException) -> str:
    if isinstance(err, StepFailed):
        return str(err)
    message = getattr(err, "message", None)
    if isinstance(err, UseCaseError | ServiceNowError | QualyticsError) and message:
        return str(message)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class Story:
    """The eight steps; each returns the one line that tells what happened."""

    def __init__(
        self,
        world: DemoWorld,
        slack: Slack,
        servicenow: ServiceNowClient,
        person: QualyticsClient,
        out: TextIO,
    ) -> None:
        self.world = world
        self.slack = slack
        self.servicenow = servicenow
        self.person = person
        self.out = out
        self.alert: dict[str, Any] = {}
        self.view_id = ""
        self.number = ""
        self.sys_id = ""
        self.older = ""
        self.final: tuple[Incident, list[JournalEntry]] | None = None

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
        return [
            ("posting the Qualytics alert", self.alert_posted),
            ('"Create ServiceNow ticket" on the alert', self.create_form_opened),
            ("submitting the create form", self.incident_created),
            ("acknowledging and commenting in Qualytics, then syncing", self.acknowledged_and_commented),
            ("finding and linking an older incident", self.older_incident_linked),
            ("archiving in Qualytics, then syncing", self.archived),
            ("/snow tickets", self.tickets_listed),
            ("reading the incident from ServiceNow", self.incident_read),
        ]

    async def sync_pass(self) -> None:
        """One pass of the engine the app runs (the one its scheduler and webhook drive), bounded."""
        try:
            async with asyncio.timeout(3 * WAIT):
                await self.world.app.state.sync_engine.run_pass()
        except TimeoutError:
            raise StepFailed(f"the sync pass did not finish within {3 * WAIT:.0f} s") from None

    # 1 ---------------------------------------------------------------------------------------------
    async def alert_posted(self) -> str:
        anomaly = await self.person.get_anomaly(ANOMALY_ID)
        url = anomaly_url(self.world.qualytics_url, anomaly)
        datastore = f"{self.world.qualytics_url}/datastores/{anomaly.datastore.id}"
        self.alert = self.world.slack.add_message(
            CHANNEL,
            "",
            attachments=[qualytics_alert(anomaly, url, datastore)],
            user=None,
            bot_id="B0QUALYTICS",
        )
        where = anomaly.container.name if anomaly.container else "?"
        return (
            f"Qualytics posted its alert in #{CHANNEL_NAME}: {anomaly.type} anomaly {anomaly.id} in {where} "
            f"({anomaly.datastore.name}), {anomaly.status}"
        )

    # 2 ---------------------------------------------------------------------------------------------
    async def create_form_opened(self) -> str:
        slack = self.world.slack
        slack.reset_log()
        await self.slack.interact(self.slack.message_action(Shortcut.CREATE_INCIDENT, self.alert))
        opened, updated = slack.calls_to("views.open"), slack.calls_to("views.update")
        if not opened:
            raise StepFailed("no modal was opened (views.open was not called)")
        if not updated:
            view = slack.views.get(str(opened[-1].args.get("view_id", "")), {})
            raise StepFailed(f"the modal was never filled in; it shows: {modal_says(view)}")
        self.view_id = updated[-1].args["view_id"]
        view = slack.views[self.view_id]
        if view.get("callback_id") != ViewId.CREATE_INCIDENT:
            raise StepFailed(f"the modal shows no form but: {modal_says(view)}")
        short = input_value(view, BlockId.SHORT_DESCRIPTION)
        description = input_value(view, BlockId.DESCRIPTION) or ""
        if not short or f"**Anomaly ID:** {ANOMALY_ID}" not in description:
            raise StepFailed("the form is not prefilled with the anomaly")
        return f"“Create ServiceNow ticket” on the alert opened the form, prefilled: “{short}”"

    # 3 ---------------------------------------------------------------------------------------------
    async def incident_created(self) -> str:
        slack = self.world.slack
        suggestion = self.slack.block_suggestion(
            self.view_id, ActionId.ASSIGNMENT_GROUP, BlockId.ASSIGNMENT_GROUP, GROUP_SEARCH
        )
        options = (await self.slack.interact(suggestion)).json().get("options", [])
        group = next((o for o in options if o["text"]["text"] == GROUP_NAME), None)
        if group is None:
            raise StepFailed(f'typing "{GROUP_SEARCH}" in Assignment group did not offer {GROUP_NAME}')
        slack.reset_log()
        chosen = {BlockId.ASSIGNMENT_GROUP: (group["value"], GROUP_NAME)}
        answer = await self.slack.interact(self.slack.view_submission(self.view_id, chosen))
        if answer.content and answer.json().get("response_action") == "errors":
            raise StepFailed(f"the form was refused: {answer.json().get('errors')}")
        posted = [
            call
            for call in slack.calls_to("chat.postMessage")
            if call.args.get("channel") == CHANNEL and call.args.get("thread_ts") == self.alert["ts"]
        ]
        said = re.compile(rf"(INC\d+) created and linked to anomaly {ANOMALY_ID}")
        created = [match for call in posted if (match := said.fullmatch(call.args.get("text", "")))]
        if not created:
            view = slack.views.get(self.view_id, {})
            raise StepFailed(f"nothing was said in the alert's thread; the modal shows: {modal_says(view)}")
        self.number = created[-1].group(1)
        incident = await self.servicenow.get_incident_by_number(self.number)
        if incident is None:
            raise StepFailed(f"ServiceNow has no {self.number}")
        self.sys_id = incident.sys_id
        group_name = incident.assignment_group.display if incident.assignment_group else "no group"
        return f"Submitted (assignment group {group_name}): the alert's thread says “{created[-1].group(0)}”"

    # 4 ---------------------------------------------------------------------------------------------
    async def acknowledged_and_commented(self) -> str:
        before = await self.servicenow.list_work_notes(self.sys_id)
        await self.person.acknowledge(ANOMALY_ID)
        await self.person.add_comment(ANOMALY_ID, COMMENT)
        await self.sync_pass()
        seen = {note.sys_id for note in before}
        new = oldest_first(
            [n for n in await self.servicenow.list_work_notes(self.sys_id) if n.sys_id not in seen]
        )
        wanted = ("Comment from Qualytics: ", "Qualytics Anomaly Status: Acknowledged")
        missing = [w for w in wanted if not any(w in note.text for note in new)]
        if missing:
            raise StepFailed(f"{self.number} got no work note with {', '.join(repr(m) for m in missing)}")
        person = QUALYTICS_PERSON[0]
        return (
            f"{person} acknowledged anomaly {ANOMALY_ID} in Qualytics and commented; a sync pass wrote "
            f"{len(new)} work notes on {self.number}"
        )

    # 5 ---------------------------------------------------------------------------------------------
    async def older_incident_linked(self) -> str:
        found = await self.slack.command(f"search {INCIDENT_SEARCH}")
        results = []
        for text in section_texts(found.get("blocks")):
            match = re.match(r"(INC\d+) · [^\n]*\n(.*)", text)
            if match:
                results.append((match.group(1), match.group(2).strip()))
        older = [(number, short) for number, short in results if number != self.number]
        if not older:
            raise StepFailed(f"/snow search {INCIDENT_SEARCH} found no other incident: {found.get('text')}")
        self.older, short = older[-1]
        linked = await self.slack.command(f"link {ANOMALY_ID} {self.older}")
        expected = f"{self.older} linked to anomaly {ANOMALY_ID}"
        if linked.get("text") != expected:
            raise StepFailed(f"/snow link {ANOMALY_ID} {self.older} answered “{linked.get('text')}”")
        numbers = " and ".join(number for number, _ in results)
        return (
            f"/snow search {INCIDENT_SEARCH} found {numbers}; /snow link {ANOMALY_ID} {self.older} "
            f"linked the older one (“{short}”) too"
        )

    # 6 ---------------------------------------------------------------------------------------------
    async def archived(self) -> str:
        slack = self.world.slack
        slack.reset_log()
        await self.person.archive(ANOMALY_ID, "Resolved")
        await self.sync_pass()
        states = {}
        for number in (self.number, self.older):
            incident = await self.servicenow.get_incident_by_number(number)
            states[number] = incident.state_label if incident else "missing"
        unresolved = [f"{n} is {s}" for n, s in states.items() if s != "Resolved"]
        if unresolved:
            raise StepFailed(f"the sync did not resolve every incident: {', '.join(unresolved)}")
        told = [
            call.args["text"]
            for call in slack.calls_to("chat.postMessage")
            if call.args.get("thread_ts") == self.alert["ts"]
        ]
        thread = f"; the alert's thread says “{told[-1]}”" if told else " (the alert's thread was not told)"
        return (
            f"{QUALYTICS_PERSON[0]} archived anomaly {ANOMALY_ID} as Resolved; a sync pass resolved "
            f"{self.number} and {self.older}{thread}"
        )

    # 7 ---------------------------------------------------------------------------------------------
    async def tickets_listed(self) -> str:
        answer = await self.slack.command(f"tickets {ANOMALY_ID}")
        lines = [
            text.split("\n", 1)[0]
            for text in section_texts(answer.get("blocks"))
            if re.match(r"INC\d+ · ", text)
        ]
        wanted = {f"{self.number} · Resolved", f"{self.older} · Resolved"}
        if set(lines) != wanted:
            raise StepFailed(f"/snow tickets {ANOMALY_ID} shows {lines or answer.get('text')}")
        return f"/snow tickets {ANOMALY_ID}: {answer.get('text')}: {'; '.join(lines)}"

    # 8 ---------------------------------------------------------------------------------------------
    async def incident_read(self) -> str:
        incident = await self.servicenow.get_incident_by_number(self.number)
        if incident is None:
            raise StepFailed(f"ServiceNow has no {self.number}")
        notes = oldest_first(await self.servicenow.list_work_notes(incident.sys_id))
        self.final = (incident, notes)
        return f"ServiceNow holds {incident.number}: {incident.state_label}, {len(notes)} work notes"

    def print_incident(self) -> None:
        if self.final is not None:
            print_incident(*self.final, self.out)


def print_incident(incident: Incident, notes: list[JournalEntry], out: TextIO) -> None:
    indent = "      "
    print(f"\n{indent}{incident.number} · {incident.state_label} · {incident.short_description}", file=out)
    print(f"{indent}{incident.url}", file=out)
    if incident.close_notes:
        print(f"{indent}Resolution: {incident.close_code} — {incident.close_notes}", file=out)
    print(f"\n{indent}Description:", file=out)
    for line in incident.description.rstrip().splitlines():
        print(f"{indent}  {line}".rstrip(), file=out)
    print(f"\n{indent}Work notes, oldest first:", file=out)
    for number, note in enumerate(notes, 1):
        first, *rest = note.text.rstrip().splitlines() or [""]
        print(f"{indent}  {number}. {first}", file=out)
        for line in rest:
            print(f"{indent}     {line}", file=out)


async def play_story(world: DemoWorld, out: TextIO, *, debug: bool = False) -> int:
    """Play the eight steps against a running world; 0 when every step saw what it expected."""
    started = time.monotonic()
    settings = world.settings
    assert settings.servicenow_credentials_value is not None
    login = settings.servicenow_credentials_value.split(":", 1)
    async with (
        httpx.AsyncClient(base_url=world.bot_url, timeout=WAIT) as http,
        ServiceNowClient.connect(
            world.servicenow_url,
            Credentials(username=login[0], password=SecretStr(login[1])),
            allow_insecure=True,
        ) as servicenow,
        QualyticsClient.connect(world.qualytics_url, SecretStr(world.person_token)) as person,
    ):
        story = Story(world, Slack(world, http), servicenow, person, out)
        steps = story.steps()
        for number, (title, step) in enumerate(steps, 1):
            try:
                line = await step()
            except Exception as err:
                print(f"✗ {number}/{len(steps)} {title} failed: {reason(err)}", file=out, flush=True)
                if debug:
                    traceback.print_exc(file=out)
                return 1
            print(f"✓ {number}/{len(steps)} {line}", file=out, flush=True)
        story.print_incident()
    print(f"\nThe story took {time.monotonic() - started:.1f} s.", file=out, flush=True)
    return 0


# ------------------------------------------------------------------------------------------- entry point


def _quiet_logging() -> None:
    """Warnings only, so the story reads cleanly."""
    configure_logging(level="WARNING")


def keep_running_help(world: DemoWorld) -> str:
    """What stays up, every URL answering a GET (the Slack endpoint is POST only, as Slack sends), the
    tokens, and ready commands: a Qualytics person's acknowledge and comment, then the sync's work notes."""
    token = world.api_token
    assert world.settings.webhook_secret is not None
    secret = world.settings.webhook_secret.get_secret_value()
    person = f"Authorization: Bearer {world.person_token}"
    comment = json.dumps({"anomaly_id": ANOMALY_ID, "message": "Checked again by hand."})
    db = world.app.state.snowbot.db
    return "\n".join(
        [
            "",
            "Up:",
            f"  REST API docs        {world.bot_url}/api/docs",
            f"  Slack endpoint       {world.bot_url}/slack/events  (POST only, signed as Slack signs)",
            f"  ServiceNow emulator  {world.servicenow_url}/  (login {SERVICENOW_LOGIN})",
            f"  Qualytics emulator   {world.qualytics_url}/api",
            f"  anomaly {ANOMALY_ID}          {world.qualytics_url}/datastores/23/anomalies?id={ANOMALY_ID}",
            f"  Slack emulator       {world.slack_url}/api/",
            f"  API token            {token}",
            f"  Qualytics token      {world.person_token}  ({QUALYTICS_PERSON[0]}, for the commands below)",
            f"  database             {world.settings.db_path}  (kept after Ctrl-C)",
            f"  sync                 every {world.settings.sync_interval} s, or at once through the webhook",
            "",
            "Try:",
            f'  curl -H "Authorization: Bearer {token}" {world.bot_url}/api/anomalies/{ANOMALY_ID}/ticket-links',
            f"  # as {QUALYTICS_PERSON[0]}: restore anomaly {ANOMALY_ID} (the story archived it), acknowledge it, comment",
            *(
                f"  curl -X PUT -H '{person}' -H '{JSON}' -d '{{\"status\": \"{status}\"}}' "
                f"{world.qualytics_url}/api/anomalies/{ANOMALY_ID}"
                for status in ("Active", "Acknowledged")
            ),
            f"  curl -X POST -H '{person}' -H '{JSON}' -d '{comment}' {world.qualytics_url}/api/comments",
            "  # sync now (or wait for the next pass), then read the work notes in ServiceNow",
            f"  curl -X POST -H 'x-qualytics-secret: {secret}' -H '{JSON}' -d '{{\"anomaly_id\": {ANOMALY_ID}}}' "
            f"{world.bot_url}/webhooks/qualytics",
            *(f"  {link.ticket_number}           {link.url}" for link in links.for_anomaly(db, ANOMALY_ID)),
            "",
            READY,
        ]
    )


async def run_demo(keep_running: bool = False, *, out: TextIO | None = None, debug: bool = False) -> int:
    """`snowbot demo`: start everything, play the story, print the outcome; 0 when it all went as told.

    With `keep_running` everything stays up after the story until Ctrl-C (asyncio.run cancels this
    task), the sync runs every minute, and the temporary directory with the database is kept."""
    out = out or sys.stdout
    _quiet_logging()
    directory = Path(tempfile.mkdtemp(prefix="snowbot-demo-"))
    try:
        started = time.monotonic()
        async with demo_world(directory, sync_interval=60 if keep_running else 3600) as world:
            print(
                "snowbot demo: the ServiceNow, Qualytics and Slack emulators and the bot are up on 127.0.0.1 "
                f"({time.monotonic() - started:.1f} s)\n",
                file=out,
                flush=True,
            )
            code = await play_story(world, out, debug=debug)
            if keep_running:
                print(keep_running_help(world), file=out, flush=True)
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()  # stopping is the answer to Ctrl-C: shut down cleanly below
                    print("\nStopping.", file=out, flush=True)
            return code
    except Exception as err:
        print(f"✗ the demo failed outside the story: {reason(err)}", file=out, flush=True)
        if debug:
            traceback.print_exc(file=out)
        return 1
    finally:
        if not keep_running:
            shutil.rmtree(directory, ignore_errors=True)
