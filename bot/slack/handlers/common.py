"""What every Slack listener shares: its dependencies, task tracking, and small Slack helpers.

A listener acknowledges first, then calls one use case and renders the result with `bot.slack.blocks`;
the helpers here only make Slack Web API calls (no HTTP of their own, no SQL).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack.blocks import ModalMetadata, View
from bot.slack.cards import AnomalyCards
from bot.slack.handlers.errors import OPEN_VIEW, on_error
from bot.slack.suggest import Suggestions
from bot.slack.tasks import TaskTracker
from bot.usecases import Snowbot

log = logging.getLogger(__name__)

NOT_ADMIN = (
    "Only workspace admins and owners, or people listed in SNOWBOT_ADMINS, can connect snowbot to "
    "ServiceNow. Ask one of them to run `/snow connect`."
)
ADMIN_UNKNOWN = "Slack did not say in time whether you are a workspace admin; please try again."

Listener = Callable[..., Awaitable[Any]]


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

    def listener(self, func: Listener) -> Listener:
        """`func` as a Bolt listener: counted by the task tracker while it runs, and a failure after its
        ack goes to the error handler here (see `bot.slack.handlers.errors`), not back to Bolt."""
        wanted = inspect.getfullargspec(func).args

        async def listener(
            ack: Any,
            body: dict[str, Any],
            context: AsyncBoltContext,
            client: AsyncWebClient,
            respond: Any,
            command: Any,
            shortcut: Any,
            action: Any,
            view: Any,
            event: Any,
            options: Any,
            payload: Any,
        ) -> Any:
            given = locals()
            self.tasks.track_current()
            try:
                return await func(**{name: given[name] for name in wanted})
            except Exception as error:
                if ack.response is None:
                    raise  # not acknowledged: Bolt answers 500 and calls the error handler
                await on_error(error, body, context, client, respond)

        listener.__name__ = listener.__qualname__ = func.__name__
        listener.__doc__ = func.__doc__
        return listener


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


def message_metadata(body: Mapping[str, Any]) -> ModalMetadata:
    """Where a message shortcut or a message button was used: the channel, the message, and its thread
    (the message's own ts unless it is a reply)."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message_ts = message.get("ts") or container.get("message_ts") or body.get("message_ts")
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
    return ModalMetadata(channel=channel, thread_ts=thread_ts, message_ts=message_ts)


def anomaly_from_value(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and int(value) > 0 else None
