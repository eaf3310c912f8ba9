"""Anomaly cards in watched channels: `/snow watch` and `/snow unwatch`, the App Home's channel picker
and Unwatch buttons, and the message events (`message.channels`, `message.groups`) that give a Qualytics
alert in a watched channel snowbot's anomaly card as a thread reply (`bot.slack.cards`).

Bolt acknowledges events by itself before the listener runs and skips snowbot's own messages
(its IgnoringSelfEvents middleware); the use case ignores everything that is not a new top-level app
message, and posts at most one card per alert even when Slack retries the event (X-Slack-Retry-Num).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.handlers.common import Deps, Invocation, Subcommands, actor
from bot.slack.handlers.home import publish_home
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, Subcommand

CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9_]{2,30})(?:\|[^>]*)?>")
CHANNEL_ID = re.compile(r"[CG][A-Z0-9_]{2,30}")
CHANNEL_HELP = (
    "Name the channel by picking it from Slack's #-autocomplete (it becomes a link), or run the command "
    "in the channel itself."
)


def channel_arg(args: list[str], here: str | None) -> str | None:
    """The channel of `/snow watch [#channel]`: a channel link as Slack sends it (`<#C0123|alerts>`), a
    channel id, or the channel the command was run in; None for a bare name Slack did not turn into a
    link (its id cannot be looked up without another scope)."""
    if not args:
        return here if here and CHANNEL_ID.fullmatch(here) else None
    word = args[0]
    mention = CHANNEL_MENTION.fullmatch(word)
    if mention:
        return mention.group(1)
    return word if CHANNEL_ID.fullmatch(word) else None


async def channel_or_usage(call: Invocation, sub: Subcommand) -> str | None:
    """The channel `sub` names (`channel_arg`), or None once the person has been told how to name one."""
    channel = channel_arg(call.args, call.channel)
    if channel is None:
        await call.reply(blocks.error_message(f"{CHANNEL_HELP} Usage: {blocks.usage(sub)}"))
    return channel


async def snow_watch(deps: Deps, call: Invocation) -> None:
    channel = await channel_or_usage(call, Subcommand.WATCH)
    if channel is None:
        return
    added = await deps.cards.watch(channel, actor(call.command))
    await call.reply(blocks.watch_message(channel, watching=True, changed=added))


async def snow_unwatch(deps: Deps, call: Invocation) -> None:
    channel = await channel_or_usage(call, Subcommand.UNWATCH)
    if channel is None:
        return
    removed = await deps.cards.unwatch(channel, actor(call.command))
    await call.reply(blocks.watch_message(channel, watching=False, changed=removed))


async def on_watch_channel(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
) -> None:
    """A channel picked on the App Home: snowbot posts cards under its Qualytics alerts."""
    await ack()
    channel = action.get("selected_conversation")
    if isinstance(channel, str) and channel:
        await deps.cards.watch(channel, actor(body["user"]))
    await publish_home(deps, client, body["user"]["id"])


async def on_unwatch_channel(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
) -> None:
    await ack()
    channel = action.get("value")
    if isinstance(channel, str) and channel:
        await deps.cards.unwatch(channel, actor(body["user"]))
    await publish_home(deps, client, body["user"]["id"])


async def on_message(deps: Deps, event: dict[str, Any], context: AsyncBoltContext) -> None:
    await deps.cards.alert_posted(event, own_bot_id=context.bot_id)


SUBCOMMANDS: Subcommands = {Subcommand.WATCH: snow_watch, Subcommand.UNWATCH: snow_unwatch}
ROUTES = (
    Route("action", ActionId.WATCH_CHANNEL, on_watch_channel),
    Route("action", ActionId.UNWATCH_CHANNEL, on_unwatch_channel),
    Route("event", "message", on_message),
)
