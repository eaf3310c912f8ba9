"""`/snow <subcommand>`: replies are ephemeral; only a new ticket is announced in the channel."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, render
from bot.slack.anomaly_ref import parse_anomaly_arg
from bot.slack.handlers import flows
from bot.slack.handlers.common import Deps, actor
from bot.slack.ids import Command, Subcommand
from bot.usecases import AlreadyLinked, SlackContext, UseCaseError

SEARCH_SIZE = 10


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


def split(text: str) -> tuple[str, list[str]]:
    """ "link 824 INC0010006" -> ("link", ["824", "INC0010006"])."""
    words = text.split()
    return (words[0].lower(), words[1:]) if words else ("", [])


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


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_snow(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        sub, args = split(command.get("text") or "")
        call = Invocation(command, args, respond, client, context)
        if sub in ("", Subcommand.HELP):
            await call.reply(blocks.help_message())
        elif sub not in SUBCOMMANDS:
            await call.reply(blocks.help_message(f"I don't know `{blocks.escape(sub[:40])}`."))
        else:
            await SUBCOMMANDS[sub](call)

    async def create(call: Invocation) -> None:
        anomaly_id = parse_anomaly_arg(" ".join(call.args), deps.qualytics_host)
        if anomaly_id is None:
            await call.usage(Subcommand.CREATE)
            return
        await flows.open_create(
            deps,
            call.client,
            call.context,
            trigger_id=call.command["trigger_id"],
            user_id=call.command["user_id"],
            anomaly_id=anomaly_id,
            metadata=blocks.ModalMetadata(channel=call.channel),
        )

    async def link(call: Invocation) -> None:
        anomaly_id = parse_anomaly_arg(call.args[0], deps.qualytics_host) if call.args else None
        if anomaly_id is None:
            await call.usage(Subcommand.LINK)
            return
        if len(call.args) == 1:  # no numbers: search for them in the modal
            await flows.open_link(
                call.client,
                call.context,
                trigger_id=call.command["trigger_id"],
                anomaly_id=anomaly_id,
                metadata=blocks.ModalMetadata(channel=call.channel),
            )
            return
        linked: list[tuple[str, str]] = []
        problems: list[str] = []
        where = SlackContext(channel_id=call.channel) if call.channel else None
        for ticket in dict.fromkeys(call.args[1:]):
            try:
                done = await deps.snowbot.link_existing_ticket(anomaly_id, ticket, actor(call.command), where)
            except AlreadyLinked as err:
                problems.append(err.message)
            except UseCaseError as err:
                problems.append(f"{ticket[:40]}: {err.message}")
            else:
                linked.append((done.incident.number, done.incident.url))
        await call.reply(blocks.link_results_message(anomaly_id, linked, problems))
        if linked:  # the anomaly's cards list the new incidents
            await deps.cards.refresh(anomaly_id)

    async def tickets(call: Invocation) -> None:
        anomaly_id = parse_anomaly_arg(" ".join(call.args), deps.qualytics_host)
        if anomaly_id is None:
            await call.usage(Subcommand.TICKETS)
            return
        found = await deps.snowbot.list_links(anomaly_id)
        await call.reply(
            blocks.tickets_message(anomaly_id, found, now=deps.now(), unlink=blocks.unlink_value)
        )

    async def search(call: Invocation) -> None:
        text = " ".join(call.args).strip()
        if not text:
            await call.usage(Subcommand.SEARCH)
            return
        page = await deps.snowbot.search_tickets(text, size=SEARCH_SIZE)
        await call.reply(blocks.search_results_message(text, page.items, page.total))

    async def connect(call: Invocation) -> None:
        refused = await flows.open_connect(
            deps,
            call.client,
            call.context,
            trigger_id=call.command["trigger_id"],
            user_id=call.command["user_id"],
        )
        if refused:
            await call.reply(blocks.error_message(refused))

    async def status(call: Invocation) -> None:
        await call.reply(render.status_message(await deps.snowbot.overview(), deps.now()))

    async def watch(call: Invocation) -> None:
        channel = channel_arg(call.args, call.channel)
        if channel is None:
            await call.reply(blocks.error_message(f"{CHANNEL_HELP} Usage: {blocks.usage(Subcommand.WATCH)}"))
            return
        added = await deps.cards.watch(channel, actor(call.command))
        await call.reply(blocks.watch_message(channel, watching=True, changed=added))

    async def unwatch(call: Invocation) -> None:
        channel = channel_arg(call.args, call.channel)
        if channel is None:
            await call.reply(
                blocks.error_message(f"{CHANNEL_HELP} Usage: {blocks.usage(Subcommand.UNWATCH)}")
            )
            return
        removed = await deps.cards.unwatch(channel, actor(call.command))
        await call.reply(blocks.watch_message(channel, watching=False, changed=removed))

    SUBCOMMANDS: dict[str, Callable[[Invocation], Awaitable[None]]] = {
        Subcommand.CREATE: create,
        Subcommand.LINK: link,
        Subcommand.TICKETS: tickets,
        Subcommand.SEARCH: search,
        Subcommand.CONNECT: connect,
        Subcommand.STATUS: status,
        Subcommand.WATCH: watch,
        Subcommand.UNWATCH: unwatch,
    }
    app.command(Command.SNOW)(deps.listener(on_snow))
