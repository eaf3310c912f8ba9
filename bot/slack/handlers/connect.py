"""Connecting snowbot to ServiceNow (admins): `/snow connect`, the App Home's Connect button, and the
connect modal's submission, which tests the connection before saving it."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, forms, render
from bot.slack.blocks import ViewState
from bot.slack.handlers.common import (
    Deps,
    Invocation,
    Subcommands,
    actor,
    admin_refusal,
    field_error,
    open_modal,
    show_progress,
    update_modal,
)
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, Subcommand, ViewId
from bot.usecases import InvalidInput, UseCaseError

CONNECT_TITLE = "Connect ServiceNow"


async def open_connect(
    deps: Deps, client: AsyncWebClient, context: AsyncBoltContext, *, trigger_id: str, user_id: str
) -> str | None:
    """The connect modal for an admin; otherwise the explanation to show the person (the caller decides
    where: ephemeral in a channel, a notice modal on the App Home)."""
    refused = await admin_refusal(deps, client, user_id)
    if refused:
        return refused
    await open_modal(client, context, trigger_id, blocks.connect_modal())
    return None


async def snow_connect(deps: Deps, call: Invocation) -> None:
    refused = await open_connect(
        deps,
        call.client,
        call.context,
        trigger_id=call.command["trigger_id"],
        user_id=call.command["user_id"],
    )
    if refused:
        await call.reply(blocks.error_message(refused))


async def on_open_connect(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    refused = await open_connect(
        deps, client, context, trigger_id=body["trigger_id"], user_id=body["user"]["id"]
    )
    if refused:  # the App Home has no channel to answer in: say it in a modal
        await open_modal(client, context, body["trigger_id"], blocks.notice_modal(CONNECT_TITLE, refused))


async def on_connect_submit(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    form = ViewState.of(view)
    try:
        entered = forms.connect_form(
            form,
            allow_insecure=deps.settings.allow_insecure_instance,
            allow_private=deps.settings.allow_private_instance,
        )
    except InvalidInput as err:
        await field_error(ack, err, form)
        return
    await show_progress(ack, context, form, CONNECT_TITLE, "Testing the connection…")
    refused = await admin_refusal(deps, client, body["user"]["id"])
    if refused:
        await update_modal(client, context, form.id, blocks.notice_modal(CONNECT_TITLE, refused))
        return
    try:
        connected = await deps.snowbot.connect(
            entered.instance_url,
            entered.credentials,
            actor(body["user"]),
            auth=entered.auth,
            client_id=entered.client_id,
            client_secret=entered.client_secret,
            sync_back=entered.sync_back,
        )
    except UseCaseError as err:
        retry = blocks.connect_modal(
            instance_url=entered.instance_url,
            error=err.message,
            advice=render.CONNECT_ADVICE,
            auth=entered.auth,
            client_id=entered.client_id,
            sync_back=entered.sync_back,
        )
        await update_modal(client, context, form.id, retry)
        return
    text = f"{connected.message} snowbot now files incidents in {connected.integration.instance_url}."
    await update_modal(client, context, form.id, blocks.notice_modal("ServiceNow connected", text))


SUBCOMMANDS: Subcommands = {Subcommand.CONNECT: snow_connect}
ROUTES = (
    Route("action", ActionId.OPEN_CONNECT_MODAL, on_open_connect),
    Route("view", ViewId.CONNECT, on_connect_submit),
)
