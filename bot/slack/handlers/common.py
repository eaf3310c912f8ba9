"""What the Slack listeners share: their dependencies (`Deps`), who the person is, and small Slack steps
(open or update a modal, answer a submission on its field, post in a thread, answer a suggestion).

A listener acknowledges first, then calls one use case and renders the result with `bot.slack.blocks`;
the helpers here only make Slack Web API calls (no HTTP of their own, no SQL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack import blocks, forms
from bot.slack.blocks import ModalMetadata, View, ViewState
from bot.slack.cards import AnomalyCards
from bot.slack.handlers.errors import OPEN_VIEW
from bot.slack.ids import Subcommand, ViewId
from bot.slack.suggest import Suggestions
from bot.slack.tasks import TaskTracker
from bot.usecases import InvalidInput, SlackContext, Snowbot

log = logging.getLogger(__name__)

NOT_ADMIN = (
    "Only workspace admins and owners, or people listed in SNOWBOT_ADMINS, can connect snowbot to "
    "ServiceNow. Ask one of them to run `/snow connect`."
)
ADMIN_UNKNOWN = "Slack did not say in time whether you are a workspace admin; please try again."


class SlackUsers:
    """users.info answers, kept `ttl` seconds: a person's e-mail, name and admin flag rarely change, and
    Slack rate-limits users.info. A failure is not kept."""

    def __init__(self, ttl: float = 120.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self._known: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, client: AsyncWebClient, user_id: str) -> dict[str, Any] | None:
        """users.info, or None when Slack cannot tell (logged)."""
        known = self._known.get(user_id)
        if known is not None and known[0] > self.monotonic():
            return known[1]
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as err:
            log.info("users.info failed: %s", err.response.get("error"))
            return None
        user = response.get("user")
        if not isinstance(user, dict):
            return None
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[user_id] = (self.monotonic() + self.ttl, user)
        return user


@dataclass
class Deps:
    """What the listeners use, bound to each one when it is registered (`bot.slack.handlers.routes`)."""

    snowbot: Snowbot
    settings: Settings
    tasks: TaskTracker
    suggestions: Suggestions
    cards: AnomalyCards
    users: SlackUsers = field(default_factory=SlackUsers)
    slack_budget: float = 2.0
    """Seconds a Slack lookup may take while a trigger_id (valid 3 s) waits for it."""

    @property
    def qualytics_host(self) -> str | None:
        return self.settings.qualytics_url

    def now(self) -> datetime:
        return self.snowbot.clock()


def actor(user: Mapping[str, Any]) -> str:
    """Who did it, as work notes and links record it: "jane.doe via Slack"."""
    name = user.get("username") or user.get("user_name") or user.get("name") or user.get("id") or "someone"
    return f"{name} via Slack"


def email_of(user: Mapping[str, Any] | None) -> str | None:
    return (user or {}).get("profile", {}).get("email") or None


def real_name(user: Mapping[str, Any] | None, fallback: str) -> str:
    profile = (user or {}).get("profile", {})
    return (
        (user or {}).get("real_name") or profile.get("real_name") or profile.get("display_name") or fallback
    )


async def is_admin(deps: Deps, client: AsyncWebClient, user_id: str) -> bool | None:
    """Workspace admin or owner (users.info), or listed in SNOWBOT_ADMINS; None when Slack did not say
    within `deps.slack_budget`."""
    if user_id in deps.settings.admin_ids:
        return True
    try:
        user = await asyncio.wait_for(deps.users.get(client, user_id), deps.slack_budget)
    except TimeoutError:
        return None
    if user is None:
        return None
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


async def admin_refusal(deps: Deps, client: AsyncWebClient, user_id: str) -> str | None:
    """Why the person may not connect snowbot (`NOT_ADMIN`, or `ADMIN_UNKNOWN` when Slack did not say);
    None for an admin."""
    allowed = await is_admin(deps, client, user_id)
    if not allowed:
        return ADMIN_UNKNOWN if allowed is None else NOT_ADMIN
    return None


async def open_modal(
    client: AsyncWebClient, context: AsyncBoltContext, trigger_id: str, view: View
) -> tuple[str, str]:
    """views.open; returns (view_id, hash) and remembers the modal for the error handler."""
    response = await client.views_open(trigger_id=trigger_id, view=view)
    opened = response["view"]
    context[OPEN_VIEW] = opened["id"]
    return opened["id"], opened["hash"]


async def update_modal(
    client: AsyncWebClient, context: AsyncBoltContext, view_id: str, view: View, view_hash: str | None = None
) -> None:
    """views.update (with the hash when the caller holds the current one). A modal the person closed
    meanwhile is not an error: there is nothing left to update."""
    context[OPEN_VIEW] = view_id
    kwargs: dict[str, Any] = {"view_id": view_id, "view": view}
    if view_hash:
        kwargs["hash"] = view_hash
    try:
        await client.views_update(**kwargs)
    except SlackApiError as err:
        if err.response.get("error") != "not_found":
            raise
        log.info("modal %s was closed before it could be updated", view_id)
        context[OPEN_VIEW] = None


async def ack_only(deps: Deps, ack: AsyncAck) -> None:
    """Buttons that open a URL in the browser: Slack still expects an acknowledgement."""
    await ack()


def progress(title: str, text: str) -> View:
    return blocks.loading_modal(title, ViewId.MESSAGE, text)


async def show_progress(
    ack: AsyncAck, context: AsyncBoltContext, form: ViewState, title: str, text: str
) -> None:
    """Answer a submission by swapping its modal for a progress view; a failure from here on is shown in
    that modal (the error handler's `OPEN_VIEW`)."""
    await ack(response_action="update", view=progress(title, text))
    context[OPEN_VIEW] = form.id


def result_modal(title: str, message: blocks.Message) -> View:
    return blocks.modal(title, message["blocks"], callback_id=ViewId.MESSAGE, close="Close")


async def field_error(ack: AsyncAck, err: InvalidInput, form: ViewState) -> None:
    """Answer a submission with `err` on its field, or on top of the form when it has no such field."""
    block_id = forms.block_for(err)
    if block_id is not None and form.has_input(block_id):
        await ack(response_action="errors", errors={block_id: err.message})
    else:
        await ack(response_action="update", view=blocks.refilled_modal(form.view, err.message))


def anomaly_of(metadata: ModalMetadata) -> int:
    if metadata.anomaly_id is None:
        raise InvalidInput("This form lost its anomaly; open it again from the message.")
    return metadata.anomaly_id


def button_anomaly(action: Mapping[str, Any]) -> int:
    found = blocks.anomaly_from_value(action.get("value"))
    if found is None:
        raise InvalidInput("This button does not name an anomaly; use `/snow` with the anomaly's id instead.")
    return found


def instance_of(action: Mapping[str, Any]) -> int:
    """The integration id an instance select chose (`blocks.instance_input`)."""
    value = (action.get("selected_option") or {}).get("value")
    if not (isinstance(value, str) and value.isdigit()):
        raise InvalidInput("This form lost its instance; open it again.")
    return int(value)


def suggestion_instance(payload: Mapping[str, Any]) -> int | None:
    """The instance a modal's search-as-you-type searches: the one its metadata names (its instance
    select), None for the default one."""
    return ModalMetadata.decode((payload.get("view") or {}).get("private_metadata")).integration_id


def per_instance(kind: str, integration_id: int | None) -> str:
    """A suggestion kind per instance ("incidents:2"), so one instance's answers are never another's."""
    return kind if integration_id is None else f"{kind}:{integration_id}"


def slack_context(metadata: ModalMetadata) -> SlackContext | None:
    return SlackContext(metadata.channel, metadata.thread_ts) if metadata.channel else None


async def quiet_update(client: AsyncWebClient, form: ViewState, updated: View) -> None:
    """views.update guarded by the view's hash; a conflict means a newer update is on its way."""
    try:
        await client.views_update(view_id=form.id, hash=form.hash, view=updated)
    except SlackApiError as err:
        if err.response.get("error") != "hash_conflict":
            raise
        log.info("skipped a stale modal update (hash_conflict)")


@dataclass(frozen=True)
class Announced:
    ts: str | None = None
    """The posted message's ts; None when nothing was posted."""
    error: str | None = None
    """Slack's error when it refused (e.g. `not_in_channel`, `ratelimited`)."""


async def announce(client: AsyncWebClient, metadata: ModalMetadata, message: blocks.Message) -> Announced:
    """Post in the alert's thread (or the channel); Slack's refusal is logged and returned, not raised."""
    if not metadata.channel:
        return Announced()
    kwargs: dict[str, Any] = {"channel": metadata.channel, **message}
    if metadata.thread_ts:
        kwargs["thread_ts"] = metadata.thread_ts
    try:
        posted = await client.chat_postMessage(**kwargs)
    except SlackApiError as err:
        error = str(err.response.get("error"))
        log.warning("could not post in %s: %s", metadata.channel, error)
        return Announced(error=error)
    return Announced(ts=posted.get("ts"))


SUGGESTIONS_LIMIT = 20
Load = Callable[[str], Awaitable[list[dict[str, Any]]]]


async def suggest(deps: Deps, ack: AsyncAck, payload: Mapping[str, Any], *, kind: str, load: Load) -> None:
    """Answer a search-as-you-type select (block_suggestion) with the options in the ack itself. Slack
    shows nothing after 3 seconds, so the answer is bounded by `bot.slack.suggest.Suggestions` (about
    2 s, then cached or empty)."""
    text = str(payload.get("value") or "")[:100]
    options = await deps.suggestions.options(kind, text, lambda: load(text))
    await ack(**blocks.options_response(options))


@dataclass(frozen=True)
class Invocation:
    """One `/snow` call: the command payload, the words after the subcommand, and Bolt's tools."""

    command: dict[str, Any]
    args: list[str]
    respond: AsyncRespond
    client: AsyncWebClient
    context: AsyncBoltContext

    @property
    def channel(self) -> str | None:
        return self.command.get("channel_id") or None

    async def reply(self, message: blocks.Message) -> None:
        await self.respond(response_type="ephemeral", replace_original=False, **message)

    async def usage(self, sub: Subcommand) -> None:
        await self.reply(blocks.error_message(f"Usage: {blocks.usage(sub)}"))


Subcommands = Mapping[str, Callable[[Deps, Invocation], Awaitable[None]]]
"""A feature's `/snow` subcommands, by their first word (`bot.slack.handlers.commands` dispatches)."""
