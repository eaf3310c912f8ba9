"""`/snow <subcommand>`: the one slash command, dispatched to the features' subcommands (each feature
module's `SUBCOMMANDS`). Replies are ephemeral; only a new ticket is announced in the channel."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.handlers import connect, create, home, link, rules, tickets, watch
from bot.slack.handlers.common import Deps, Invocation, Subcommands
from bot.slack.handlers.routes import Route
from bot.slack.ids import Command, Subcommand

SUBCOMMANDS: Subcommands = {
    **create.SUBCOMMANDS,
    **link.SUBCOMMANDS,
    **tickets.SUBCOMMANDS,
    **connect.SUBCOMMANDS,
    **home.SUBCOMMANDS,
    **watch.SUBCOMMANDS,
    **rules.SUBCOMMANDS,
}


def split(text: str) -> tuple[str, list[str]]:
    """ "link 824 INC0010006" -> ("link", ["824", "INC0010006"])."""
    words = text.split()
    return (words[0].lower(), words[1:]) if words else ("", [])


async def on_snow(
    deps: Deps,
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
        await SUBCOMMANDS[sub](deps, call)


ROUTES = (Route("command", Command.SNOW, on_snow),)
