"""Linking existing incidents to an anomaly: `/snow link`, the message shortcut, the card's button, the
link modal's incident search and its submission (see `bot.slack.handlers.create` for how a submission
is answered)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, forms, render
from bot.slack.anomaly_ref import find_anomaly_id, parse_anomaly_arg
from bot.slack.blocks import ModalMetadata, ViewState
from bot.slack.flags import split_flags
from bot.slack.handlers.common import (
    SUGGESTIONS_LIMIT,
    Deps,
    Invocation,
    Subcommands,
    actor,
    announce,
    button_anomaly,
    field_error,
    instance_of,
    open_modal,
    per_instance,
    quiet_update,
    result_modal,
    show_progress,
    slack_context,
    suggest,
    suggestion_instance,
    update_modal,
)
from bot.slack.handlers.create import INSTANCE_FLAG, chosen_instance
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, BlockId, Shortcut, Subcommand, ViewId
from bot.usecases import AlreadyLinked, InvalidInput, SlackContext, UseCaseError

LINK_TITLE = "Link incident"


async def open_link(
    deps: Deps,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    trigger_id: str,
    anomaly_id: int | None,
    metadata: ModalMetadata,
) -> None:
    """The link modal needs only the instances to open (one storage read): its incident search is
    answered as the person types."""
    offered = await deps.snowbot.instances()
    await open_modal(client, context, trigger_id, render.link_modal(anomaly_id, metadata, offered))


async def link_each(
    deps: Deps,
    anomaly_id: int,
    tickets: Iterable[tuple[str, str, int | None]],
    by: str,
    where: SlackContext | None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """Link each ticket (its sys_id or number, the name a problem with it is told under, and its instance:
    None for the default one) to the anomaly, one after the other: the (number, url) of those linked, and
    what went wrong with the others."""
    linked: list[tuple[str, str]] = []
    problems: list[str] = []
    for ticket, name, integration_id in tickets:
        try:
            done = await deps.snowbot.link_existing_ticket(
                anomaly_id, ticket, by, where, integration_id=integration_id
            )
        except AlreadyLinked as err:
            problems.append(err.message)
        except UseCaseError as err:
            problems.append(f"{name}: {err.message}")
        else:
            linked.append((done.incident.number, done.incident.url))
    return linked, problems


async def snow_link(deps: Deps, call: Invocation) -> None:
    """`/snow link <anomaly> [--instance <name>]` opens the modal; with numbers it links them at once."""
    words, flags = split_flags(call.args, INSTANCE_FLAG)
    anomaly_id = parse_anomaly_arg(words[0], deps.qualytics_host) if words else None
    if anomaly_id is None:
        await call.usage(Subcommand.LINK)
        return
    integration_id = await chosen_instance(deps, flags)
    if len(words) == 1:  # no numbers: search for them in the modal
        await open_link(
            deps,
            call.client,
            call.context,
            trigger_id=call.command["trigger_id"],
            anomaly_id=anomaly_id,
            metadata=ModalMetadata(channel=call.channel, integration_id=integration_id),
        )
        return
    where = SlackContext(channel_id=call.channel) if call.channel else None
    tickets = ((ticket, ticket[:40], integration_id) for ticket in dict.fromkeys(words[1:]))
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
        deps,
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
        deps,
        client,
        context,
        trigger_id=body["trigger_id"],
        anomaly_id=button_anomaly(action),
        metadata=blocks.message_metadata(body),
    )


async def on_incidents(deps: Deps, ack: AsyncAck, payload: dict[str, Any]) -> None:
    """The incident search of the link modal, in the instance its metadata names (its instance select)."""
    integration_id = suggestion_instance(payload)

    async def load(text: str) -> list[dict[str, Any]]:
        page = await deps.snowbot.search_tickets(text, size=SUGGESTIONS_LIMIT, integration_id=integration_id)
        return [
            blocks.incident_option(
                i.number, i.short_description, blocks.ticket_value(integration_id, i.sys_id)
            )
            for i in page.items
        ]

    await suggest(deps, ack, payload, kind=per_instance("incidents", integration_id), load=load)


async def on_instance_changed(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
) -> None:
    """The link modal's instance changed: its metadata names the new one, so the search searches it;
    incidents chosen already keep their own instance (their values name it)."""
    await ack()
    form = ViewState.of(body["view"])
    metadata = replace(form.metadata, integration_id=instance_of(action))
    await quiet_update(client, form, blocks.with_metadata(blocks.view_for_update(form.view), metadata))


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
    tickets = (
        (sys_id, forms.incident_number(label), integration_id or metadata.integration_id)
        for integration_id, sys_id, label in (
            (*blocks.parse_ticket_value(value), label) for value, label in chosen
        )
    )
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
    Route("action", ActionId.LINK_INSTANCE, on_instance_changed),
    Route("view", ViewId.LINK_INCIDENT, on_link_submit),
)
