"""Linking existing incidents to an anomaly: `/snow link`, the message shortcut, the card's button, the
link modal's incident search and its submission (see `bot.slack.handlers.create` for how a submission
is answered)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, forms
from bot.slack.anomaly_ref import find_anomaly_id, parse_anomaly_arg
from bot.slack.blocks import ModalMetadata, ViewState
from bot.slack.handlers.common import (
    SUGGESTIONS_LIMIT,
    Deps,
    Invocation,
    Subcommands,
    actor,
    announce,
    button_anomaly,
    field_error,
    open_modal,
    result_modal,
    show_progress,
    slack_context,
    suggest,
    update_modal,
)
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, BlockId, Shortcut, Subcommand, ViewId
from bot.usecases import AlreadyLinked, InvalidInput, SlackContext, UseCaseError

LINK_TITLE = "Link incident"


async def open_link(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    trigger_id: str,
    anomaly_id: int | None,
    metadata: ModalMetadata,
) -> None:
    """The link modal needs no data to open: its incident search is answered as the person types."""
    await open_modal(client, context, trigger_id, blocks.link_incident_modal(anomaly_id, metadata))


async def link_each(
    deps: Deps, anomaly_id: int, tickets: Iterable[tuple[str, str]], by: str, where: SlackContext | None
) -> tuple[list[tuple[str, str]], list[str]]:
    """Link each ticket (its sys_id or number, and the name a problem with it is told under) to the
    anomaly, one after the other: the (number, url) of those linked, and what went wrong with the others."""
    linked: list[tuple[str, str]] = []
    problems: list[str] = []
    for ticket, name in tickets:
        try:
            done = await deps.snowbot.link_existing_ticket(anomaly_id, ticket, by, where)
        except AlreadyLinked as err:
            problems.append(err.message)
        except UseCaseError as err:
            problems.append(f"{name}: {err.message}")
        else:
            linked.append((done.incident.number, done.incident.url))
    return linked, problems


async def snow_link(deps: Deps, call: Invocation) -> None:
    """`/snow link <anomaly>` opens the modal; with numbers it links them at once."""
    anomaly_id = parse_anomaly_arg(call.args[0], deps.qualytics_host) if call.args else None
    if anomaly_id is None:
        await call.usage(Subcommand.LINK)
        return
    if len(call.args) == 1:  # no numbers: search for them in the modal
        await open_link(
            call.client,
            call.context,
            trigger_id=call.command["trigger_id"],
            anomaly_id=anomaly_id,
            metadata=ModalMetadata(channel=call.channel),
        )
        return
    where = SlackContext(channel_id=call.channel) if call.channel else None
    tickets = ((ticket, ticket[:40]) for ticket in dict.fromkeys(call.args[1:]))
    linked, problems = await link_each(deps, anomaly_id, tickets, actor(call.command), where)
    await call.reply(blocks.link_results_message(anomaly_id, linked, problems))
    if linked:  # the anomaly's cards list the new incidents
        await deps.cards.refresh(anomaly_id)


async def on_link_shortcut(
    deps: Deps, ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    anomaly_id = find_anomaly_id(shortcut.get("message"), deps.qualytics_host)
    await open_link(
        client,
        context,
        trigger_id=shortcut["trigger_id"],
        anomaly_id=anomaly_id,
        metadata=blocks.message_metadata(shortcut),
    )


async def on_open_link(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """The anomaly card's Link incident button."""
    await ack()
    await open_link(
        client,
        context,
        trigger_id=body["trigger_id"],
        anomaly_id=button_anomaly(action),
        metadata=blocks.message_metadata(body),
    )


async def on_incidents(deps: Deps, ack: AsyncAck, payload: dict[str, Any]) -> None:
    """The incident search of the link modal."""

    async def load(text: str) -> list[dict[str, Any]]:
        page = await deps.snowbot.search_tickets(text, size=SUGGESTIONS_LIMIT)
        return [blocks.incident_option(i.number, i.short_description, i.sys_id) for i in page.items]

    await suggest(deps, ack, payload, kind="incidents", load=load)


async def on_link_submit(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    form = ViewState.of(view)
    metadata = form.metadata
    chosen = form.selected(BlockId.INCIDENTS, ActionId.INCIDENTS)
    try:
        anomaly_id = forms.anomaly_id(form, deps.qualytics_host)
        if not chosen:
            raise InvalidInput("Choose at least one incident.", field="incidents")
    except InvalidInput as err:
        await field_error(ack, err, form)
        return
    await show_progress(ack, context, form, LINK_TITLE, "Linking in ServiceNow…")
    tickets = ((sys_id, forms.incident_number(label)) for sys_id, label in chosen)
    linked, problems = await link_each(
        deps, anomaly_id, tickets, actor(body["user"]), slack_context(metadata)
    )
    announced = None
    if linked and metadata.channel and metadata.thread_ts:
        announced = await announce(client, metadata, blocks.tickets_linked_message(linked, anomaly_id))
    outcome = blocks.link_results_message(anomaly_id, linked, problems)
    await update_modal(client, context, form.id, result_modal(LINK_TITLE, outcome))
    if announced is not None and announced.ts and metadata.channel and metadata.thread_ts:
        await deps.cards.ensure(
            channel_id=metadata.channel, thread_ts=metadata.thread_ts, anomaly_id=anomaly_id
        )


SUBCOMMANDS: Subcommands = {Subcommand.LINK: snow_link}
ROUTES = (
    Route("shortcut", {"callback_id": Shortcut.LINK_INCIDENT, "type": "message_action"}, on_link_shortcut),
    Route("action", ActionId.OPEN_LINK_MODAL, on_open_link),
    Route("options", ActionId.INCIDENTS, on_incidents),
    Route("view", ViewId.LINK_INCIDENT, on_link_submit),
)
