"""The demo's story: eight steps played against a running `DemoWorld`, each returning the one line that
tells what happened, or raising `StepFailed` with what was seen instead. Slack's part is the shared
simulated Slack user (`slackuser.SlackDriver`); a Qualytics person's part goes through the Qualytics API;
what the bot did is read from the Slack emulator's Web API log and from ServiceNow through
`ServiceNowClient`. Starts nothing (demo.world does)."""

from __future__ import annotations

import asyncio
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TextIO

import httpx
from pydantic import SecretStr

from bot.slack.ids import ActionId, BlockId, Shortcut, ViewId
from bot.usecases import UseCaseError
from demo.world import ANOMALY_ID, QUALYTICS_PERSON, DemoWorld
from qualytics_api import Anomaly, QualyticsClient, QualyticsError, anomaly_url
from servicenow import Credentials, Incident, JournalEntry, ServiceNowClient
from servicenow.errors import ServiceNowError
from servicenow.kinds import INCIDENT
from slackuser import CHANNEL, CHANNEL_NAME, SlackDriver, qualytics_alert

GROUP_SEARCH, GROUP_NAME = "data", "Data Quality"
INCIDENT_SEARCH = "orders_daily"
COMMENT = "Upstream ETL wrote prices in cents into max_value; the fix is deployed and a backfill is running."
NUMBER = rf"{INCIDENT.number_prefix}\d{{7,12}}"
"""An incident number as the bot writes it in Slack (servicenow.kinds: the prefix and 7-12 digits)."""
WAIT = 10.0
"""Seconds the story waits for the bot's work after a request before the step fails."""


class StepFailed(Exception):
    """A step did not see what it expected; the message says what was seen instead."""


class DemoSlack(SlackDriver):
    """The simulated Slack user against the demo's bot: a request the bot refuses, work still running after
    `WAIT`, or a command nobody answers fails the step."""

    def __init__(self, world: DemoWorld, http: httpx.AsyncClient) -> None:
        assert world.settings.slack_signing_secret is not None
        super().__init__(
            http=http,
            settle=self._idle,
            signing_secret=world.settings.slack_signing_secret.get_secret_value(),
            workspace=world.slack,
            hooks_url=f"{world.slack_url}/hooks",
        )
        self.world = world
        self._hooks = 0

    async def _idle(self) -> None:
        surface = self.world.process.slack
        if surface is None or not await surface.idle(WAIT):
            raise StepFailed(f"the bot's Slack work was still running after {WAIT:.0f} s")

    async def post(self, body: str, content_type: str, **kw: Any) -> httpx.Response:
        response = await super().post(body, content_type, **kw)
        if response.status_code != 200:
            raise StepFailed(f"the bot answered HTTP {response.status_code} to a signed Slack request")
        return response

    async def ask(self, text: str) -> dict[str, Any]:
        """`/snow <text>` in the channel; returns the bot's (ephemeral) answer through the response_url."""
        self._hooks += 1
        hook = f"command-{self._hooks}"
        await self.command(text, hook=hook)
        answers = self.world.hooks.to(hook)
        if not answers:
            raise StepFailed(f"/snow {text} got no answer")
        return answers[-1]


def alert_of(anomaly: Anomaly, url: str, datastore_url: str) -> dict[str, Any]:
    """Qualytics' own alert for `anomaly` (slackuser.qualytics_alert)."""
    return qualytics_alert(
        anomaly_url=url,
        datastore_url=datastore_url,
        datastore=anomaly.datastore.name,
        container=anomaly.container.name if anomaly.container else "a container",
        checks="\n".join(check.message for check in anomaly.failed_checks),
    )


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
        slack: DemoSlack,
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

    async def sync_pass(self, *, named: int | None = None) -> None:
        """One pass of the engine the app runs (the one its scheduler and webhook drive), bounded; with
        `named`, the sync of that anomaly a Qualytics Flow webhook runs (a scheduled pass reads an anomaly
        read a moment ago only a minute later: bot/sync/schedule.py)."""
        try:
            async with asyncio.timeout(3 * WAIT):
                engine = self.world.process.engine
                assert engine is not None  # the demo always has Qualytics
                await (engine.run_pass() if named is None else engine.sync_anomalies([named]))
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
            attachments=[alert_of(anomaly, url, datastore)],
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
        chosen: dict[str, Any] = {BlockId.ASSIGNMENT_GROUP: (group["value"], GROUP_NAME)}
        answer = await self.slack.interact(self.slack.view_submission(self.view_id, chosen))
        if answer.content and answer.json().get("response_action") == "errors":
            raise StepFailed(f"the form was refused: {answer.json().get('errors')}")
        posted = [
            call
            for call in slack.calls_to("chat.postMessage")
            if call.args.get("channel") == CHANNEL and call.args.get("thread_ts") == self.alert["ts"]
        ]
        said = re.compile(rf"({NUMBER}) created and linked to anomaly {ANOMALY_ID}")
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
        found = await self.slack.ask(f"search {INCIDENT_SEARCH}")
        results = []
        for text in section_texts(found.get("blocks")):
            match = re.match(rf"({NUMBER}) · [^\n]*\n(.*)", text)
            if match:
                results.append((match.group(1), match.group(2).strip()))
        older = [(number, short) for number, short in results if number != self.number]
        if not older:
            raise StepFailed(f"/snow search {INCIDENT_SEARCH} found no other incident: {found.get('text')}")
        self.older, short = older[-1]
        linked = await self.slack.ask(f"link {ANOMALY_ID} {self.older}")
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
        await self.sync_pass(named=ANOMALY_ID)
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
        answer = await self.slack.ask(f"tickets {ANOMALY_ID}")
        lines = [
            text.split("\n", 1)[0]
            for text in section_texts(answer.get("blocks"))
            if re.match(rf"{NUMBER} · ", text)
        ]
        wanted = {f"{self.number} · Incident · Resolved", f"{self.older} · Incident · Resolved"}
        if {line.split(" · changed ", 1)[0] for line in lines} != wanted:  # kind, state, last change
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
        story = Story(world, DemoSlack(world, http), servicenow, person, out)
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
