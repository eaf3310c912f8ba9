"""An anomaly's tickets: `/snow tickets` (with Unlink buttons), `/snow search`, Unlink, and the View
link button on ticket lists and announcements. Replies are ephemeral."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack import blocks
from bot.slack.anomaly_ref import parse_anomaly_arg
from bot.slack.flags import split_flags
from bot.slack.handlers.common import Deps, Invocation, Subcommands, ack_only, actor
from bot.slack.handlers.create import INSTANCE_FLAG, chosen_instance
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, Subcommand
from bot.usecases import InvalidInput, LinkNotFound

SEARCH_SIZE = 10


async def snow_tickets(deps: Deps, call: Invocation) -> None:
    anomaly_id = parse_anomaly_arg(" ".join(call.args), deps.qualytics_host)
    if anomaly_id is None:
        await call.usage(Subcommand.TICKETS)
        return
    found = await deps.snowbot.anomaly_tickets(anomaly_id)
    await call.reply(
        blocks.tickets_message(
            anomaly_id, found.links, now=deps.now(), unlink=blocks.unlink_value, instances=found.instances
        )
    )


async def snow_search(deps: Deps, call: Invocation) -> None:
    words, flags = split_flags(call.args, INSTANCE_FLAG)
    text = " ".join(words).strip()
    if not text:
        await call.usage(Subcommand.SEARCH)
        return
    integration_id = await chosen_instance(deps, flags)
    page = await deps.snowbot.search_tickets(text, size=SEARCH_SIZE, integration_id=integration_id)
    await call.reply(blocks.search_results_message(text, page.items, page.total))


async def on_unlink(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
) -> None:
    """Unlink, then replace the list with the anomaly's remaining links."""
    await ack()
    parsed = blocks.parse_unlink_value(action.get("value"))
    if parsed is None:
        raise InvalidInput("This list is out of date; run `/snow tickets <anomaly>` again.")
    anomaly_id, link_id = parsed
    try:
        await deps.snowbot.unlink(anomaly_id, link_id, actor(body["user"]))
    except LinkNotFound:
        pass  # unlinked already (another click, another person): the fresh list shows it
    remaining = await deps.snowbot.anomaly_tickets(anomaly_id)
    message = blocks.tickets_message(
        anomaly_id,
        remaining.links,
        now=deps.now(),
        unlink=blocks.unlink_value,
        instances=remaining.instances,
    )
    await respond(replace_original=True, **message)
    await deps.cards.refresh(anomaly_id)  # its cards no longer list the incident


SUBCOMMANDS: Subcommands = {Subcommand.TICKETS: snow_tickets, Subcommand.SEARCH: snow_search}
ROUTES = (
    Route("action", ActionId.UNLINK_TICKET, on_unlink),
    Route("action", ActionId.VIEW_TICKET, ack_only),
)
