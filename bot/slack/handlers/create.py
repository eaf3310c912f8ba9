"""Creating a ticket for an anomaly: `/snow create <anomaly> [--kind problem]`, the message shortcut,
the card's button, the which-anomaly modal, the form's live parts (the ticket type, priority hint,
subcategories, group and user search) and its submission.

A submission is checked first without any I/O; a wrong field is answered on the field itself
(`response_action="errors"`). Otherwise the modal is swapped at once for a progress view
(`response_action="update"`), the use case runs, and the modal is updated with the outcome, or with the
form again (what the person entered kept) and the reason at the top.
"""

from __future__ import annotations

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
    OPEN_VIEW,
    SUGGESTIONS_LIMIT,
    Deps,
    Invocation,
    Subcommands,
    actor,
    announce,
    anomaly_of,
    button_anomaly,
    email_of,
    field_error,
    instance_of,
    open_modal,
    per_instance,
    progress,
    quiet_update,
    result_modal,
    show_progress,
    slack_context,
    suggest,
    suggestion_instance,
    update_modal,
)
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, BlockId, Shortcut, Subcommand, ViewId
from bot.usecases import InvalidInput, UseCaseError
from servicenow.kinds import INCIDENT, TICKET_TYPES, kind_of_type

CREATE_TITLE = "Create ticket"
INSTANCE_FLAG = ("instance",)
"""The options `/snow link` and `/snow search` take (`bot.slack.flags`)."""
CREATE_FLAGS = (*INSTANCE_FLAG, "kind")
"""The options `/snow create` takes."""
LOWEST_LEVEL = INCIDENT.levels[-1][0]
"""The urgency and impact a new incident starts with ("3", Low)."""


async def open_create(
    deps: Deps,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    trigger_id: str,
    user_id: str,
    anomaly_id: int,
    metadata: ModalMetadata,
) -> None:
    """The create modal: a loading view at once (the trigger_id lives 3 s), then the form (of the kind
    `metadata.ticket_type`, default incident)."""
    view_id, view_hash = await open_modal(
        client,
        context,
        trigger_id,
        blocks.loading_modal(CREATE_TITLE, ViewId.MESSAGE, f"Loading anomaly {anomaly_id}…"),
    )
    await fill_create(
        deps,
        client,
        context,
        view_id=view_id,
        view_hash=view_hash,
        anomaly_id=anomaly_id,
        metadata=metadata,
        user_id=user_id,
    )


async def fill_create(
    deps: Deps,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    view_id: str,
    view_hash: str | None,
    anomaly_id: int,
    metadata: ModalMetadata,
    user_id: str,
) -> None:
    """Replace the loading view with the form: the anomaly's data, the instance's choices, and the
    person as the caller when their Slack e-mail is a ServiceNow user's."""
    context[OPEN_VIEW] = view_id  # a failure below is shown in this modal
    email = email_of(await deps.users.get(client, user_id))
    draft = await deps.snowbot.ticket_draft(
        anomaly_id,
        caller_email=email,
        integration_id=metadata.integration_id,
        ticket_type=metadata.ticket_type,
    )
    await update_modal(client, context, view_id, render.create_modal(draft, metadata), view_hash)


async def chosen_instance(deps: Deps, flags: dict[str, str]) -> int | None:
    """The integration `--instance <name>` names (None: not given, the default one); an unknown name is
    answered with the connected ones (`InvalidInput`)."""
    name = flags.get("instance")
    return (await deps.snowbot.instance_named(name)).id if name else None


# ------------------------------------------------------------------------------------ entry points


async def snow_create(deps: Deps, call: Invocation) -> None:
    words, flags = split_flags(call.args, CREATE_FLAGS)
    anomaly_id = parse_anomaly_arg(" ".join(words), deps.qualytics_host)
    ticket_type = flags["kind"].strip().lower() if "kind" in flags else None
    if anomaly_id is None or (ticket_type is not None and ticket_type not in TICKET_TYPES):
        await call.usage(Subcommand.CREATE)
        return
    integration_id = await chosen_instance(deps, flags)
    await open_create(
        deps,
        call.client,
        call.context,
        trigger_id=call.command["trigger_id"],
        user_id=call.command["user_id"],
        anomaly_id=anomaly_id,
        metadata=ModalMetadata(channel=call.channel, integration_id=integration_id, ticket_type=ticket_type),
    )


async def on_create_shortcut(
    deps: Deps, ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    metadata = blocks.message_metadata(shortcut)
    anomaly_id = find_anomaly_id(shortcut.get("message"), deps.qualytics_host)
    if anomaly_id is None:
        view = blocks.anomaly_id_modal(metadata, then="create")
        await client.views_open(trigger_id=shortcut["trigger_id"], view=view)
        return
    await open_create(
        deps,
        client,
        context,
        trigger_id=shortcut["trigger_id"],
        user_id=shortcut["user"]["id"],
        anomaly_id=anomaly_id,
        metadata=metadata,
    )


async def on_open_create(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """The anomaly card's Create incident button."""
    await ack()
    await open_create(
        deps,
        client,
        context,
        trigger_id=body["trigger_id"],
        user_id=body["user"]["id"],
        anomaly_id=button_anomaly(action),
        metadata=blocks.message_metadata(body),
    )


async def on_anomaly_id(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """The which-anomaly modal (a shortcut found none in the message): then the link or create form."""
    form = ViewState.of(view)
    try:
        anomaly_id = forms.anomaly_id(form, deps.qualytics_host)
    except InvalidInput as err:
        await field_error(ack, err, form)
        return
    if form.metadata.then == "link":
        offered = await deps.snowbot.instances()
        await ack(response_action="update", view=render.link_modal(anomaly_id, form.metadata, offered))
        return
    await ack(response_action="update", view=progress(CREATE_TITLE, f"Loading anomaly {anomaly_id}…"))
    await fill_create(
        deps,
        client,
        context,
        view_id=form.id,
        view_hash=None,
        anomaly_id=anomaly_id,
        metadata=form.metadata,
        user_id=body["user"]["id"],
    )


# ------------------------------------------------------------------------------------ the form


async def on_kind_changed(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The ticket type changed: the form again, for that kind (what it has: levels or a priority)."""
    await ack()
    form = ViewState.of(body["view"])
    chosen = form.text(BlockId.TICKET_KIND, ActionId.TICKET_KIND)
    await fill_create(
        deps,
        client,
        context,
        view_id=form.id,
        view_hash=form.view.get("hash"),
        anomaly_id=anomaly_of(form.metadata),
        metadata=replace(form.metadata, ticket_type=chosen),
        user_id=body["user"]["id"],
    )


async def on_levels_changed(deps: Deps, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    """Urgency or impact changed: show the priority ServiceNow will compute."""
    await ack()
    form = ViewState.of(body["view"])
    urgency = form.text(BlockId.URGENCY, ActionId.URGENCY) or LOWEST_LEVEL
    impact = form.text(BlockId.IMPACT, ActionId.IMPACT) or LOWEST_LEVEL
    await quiet_update(client, form, blocks.replace_block(form.view, blocks.priority_hint(urgency, impact)))


async def on_category_changed(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Category changed: offer that category's subcategories."""
    await ack()
    form = ViewState.of(body["view"])
    category = form.text(BlockId.CATEGORY, ActionId.CATEGORY)
    spec = await deps.snowbot.form_specification(form.metadata.ticket_type)
    subcategories = render.choices(spec, "subcategory", category)
    await quiet_update(client, form, blocks.replace_block(form.view, blocks.subcategory_input(subcategories)))


async def on_instance_changed(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
) -> None:
    """The create modal's instance changed: the form again for that instance (its categories, the person
    as its caller); its group and user searches search it (the modal's metadata names it)."""
    await ack()
    form = ViewState.of(body["view"])
    integration_id = instance_of(action)
    email = email_of(await deps.users.get(client, body["user"]["id"]))
    draft = await deps.snowbot.ticket_draft(
        anomaly_of(form.metadata), caller_email=email, integration_id=integration_id
    )
    await quiet_update(client, form, render.create_modal(draft, form.metadata))


async def on_groups(deps: Deps, ack: AsyncAck, payload: dict[str, Any]) -> None:
    integration_id = suggestion_instance(payload)

    async def load(text: str) -> list[dict[str, Any]]:
        found = await deps.snowbot.search_groups(text, SUGGESTIONS_LIMIT, integration_id=integration_id)
        return [
            blocks.option(g.name or g.sys_id, blocks.ticket_value(integration_id, g.sys_id)) for g in found
        ]

    await suggest(deps, ack, payload, kind=per_instance("groups", integration_id), load=load)


async def on_users(deps: Deps, ack: AsyncAck, payload: dict[str, Any]) -> None:
    integration_id = suggestion_instance(payload)

    async def load(text: str) -> list[dict[str, Any]]:
        found = await deps.snowbot.search_users(text, SUGGESTIONS_LIMIT, integration_id=integration_id)
        return [
            blocks.option(
                u.name or u.user_name or u.sys_id,
                blocks.ticket_value(integration_id, u.sys_id),
                u.email or None,
            )
            for u in found
        ]

    await suggest(deps, ack, payload, kind=per_instance("users", integration_id), load=load)


async def on_create_submit(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    form = ViewState.of(view)
    metadata = form.metadata
    try:
        ticket = forms.ticket_form(form)
    except InvalidInput as err:
        await field_error(ack, err, form)
        return
    label = kind_of_type(ticket.ticket_type).label
    await show_progress(ack, context, form, CREATE_TITLE, f"Creating the {label.lower()} in ServiceNow…")
    anomaly_id = anomaly_of(metadata)
    try:
        created = await deps.snowbot.create_ticket_for_anomaly(
            anomaly_id,
            ticket,
            actor(body["user"]),
            slack_context(metadata),
            integration_id=metadata.integration_id,
        )
    except UseCaseError as err:
        await update_modal(client, context, form.id, blocks.refilled_modal(form.view, err.message))
        return
    message = blocks.ticket_created_message(created.incident.number, created.incident.url, anomaly_id)
    # an incident an interrupted request made may have been announced when snowbot restarted
    announced = None if created.announced else await announce(client, metadata, message)
    posted = announced.ts if announced is not None else None
    # from the command: the announcement starts the thread
    if posted and metadata.channel and not metadata.thread_ts:
        await deps.snowbot.attach_thread(created.link.id, metadata.channel, posted)
    outcome = {**message, "blocks": list(message["blocks"])}
    if announced is not None and not posted:
        failed = announced_failed(metadata, error=announced.error, number=created.incident.number)
        outcome["blocks"].append(blocks.context(failed))
    await update_modal(client, context, form.id, result_modal(f"{label} created", outcome))
    if posted and metadata.channel:  # the anomaly's card, with its buttons, in the ticket's thread
        thread = metadata.thread_ts or posted
        await deps.cards.ensure(channel_id=metadata.channel, thread_ts=thread, anomaly_id=anomaly_id)


NOT_INVITED = ("not_in_channel", "channel_not_found")
"""chat.postMessage's answers for a channel snowbot is not a member of (a private one it cannot see)."""


def announced_failed(metadata: ModalMetadata, *, error: str | None, number: str) -> str:
    """Why the thread got no announcement, and what (if anything) to do; the incident exists either way."""
    if not metadata.channel:
        return "snowbot did not know which channel to announce it in."
    if error in NOT_INVITED:
        return (
            "snowbot could not post in that channel: invite it with `/invite @snowbot` to get thread updates."
        )
    if error == "ratelimited":
        return f"Slack is busy and took no announcement in the channel; {number} exists and is linked all the same."
    return f"Slack did not take the announcement in the channel ({error}); {number} exists and is linked."


SUBCOMMANDS: Subcommands = {Subcommand.CREATE: snow_create}
ROUTES = (
    Route(
        "shortcut", {"callback_id": Shortcut.CREATE_INCIDENT, "type": "message_action"}, on_create_shortcut
    ),
    Route("action", ActionId.OPEN_CREATE_MODAL, on_open_create),
    Route("view", ViewId.ANOMALY_ID, on_anomaly_id),
    Route("action", ActionId.URGENCY, on_levels_changed),
    Route("action", ActionId.IMPACT, on_levels_changed),
    Route("action", ActionId.CATEGORY, on_category_changed),
    Route("action", ActionId.CREATE_INSTANCE, on_instance_changed),
    Route("options", ActionId.ASSIGNMENT_GROUP, on_groups),
    Route("options", ActionId.ASSIGNED_TO, on_users),
    Route("view", ViewId.CREATE_INCIDENT, on_create_submit),
    Route("action", ActionId.TICKET_KIND, on_kind_changed),
)
