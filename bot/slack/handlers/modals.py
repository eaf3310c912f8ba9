"""Message shortcuts and the modals: create, link, which-anomaly, connect, archive, comment.

A submission is checked first without any I/O; a wrong field is answered on the field itself
(`response_action="errors"`). Otherwise the modal is swapped at once for a progress view
(`response_action="update"`), the use case runs, and the modal is updated with the outcome, or with the
form again (what the person entered kept) and the reason at the top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, forms, render
from bot.slack.anomaly_ref import find_anomaly_id
from bot.slack.handlers import flows
from bot.slack.handlers.common import (
    ADMIN_UNKNOWN,
    NOT_ADMIN,
    OPEN_VIEW,
    Deps,
    actor,
    is_admin,
    message_metadata,
    real_name,
    update_modal,
)
from bot.slack.ids import ActionId, BlockId, Shortcut, ViewId
from bot.usecases import AlreadyLinked, InvalidInput, SlackContext, UseCaseError

log = logging.getLogger(__name__)

View = dict[str, Any]


def progress(title: str, text: str) -> View:
    return blocks.loading_modal(title, ViewId.MESSAGE, text)


def result_modal(title: str, message: blocks.Message) -> View:
    return blocks.modal(title, message["blocks"], callback_id=ViewId.MESSAGE, close="Close")


async def field_error(ack: AsyncAck, err: InvalidInput, view: View) -> None:
    """Answer a submission with `err` on its field, or on top of the form when it has no such field."""
    block_id = forms.block_for(err, view)
    if block_id is not None:
        await ack(response_action="errors", errors={block_id: err.message})
    else:
        await ack(response_action="update", view=blocks.refilled_modal(view, err.message))


def anomaly_of(metadata: blocks.ModalMetadata) -> int:
    if metadata.anomaly_id is None:
        raise InvalidInput("This form lost its anomaly; open it again from the message.")
    return metadata.anomaly_id


def slack_context(metadata: blocks.ModalMetadata) -> SlackContext | None:
    return SlackContext(metadata.channel, metadata.thread_ts) if metadata.channel else None


def register(app: AsyncApp, deps: Deps) -> None:
    listen = deps.listener

    # -------------------------------------------------------------------------------- message shortcuts

    async def on_create_shortcut(
        ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        metadata = message_metadata(shortcut)
        anomaly_id = find_anomaly_id(shortcut.get("message"), deps.qualytics_host)
        if anomaly_id is None:
            view = blocks.anomaly_id_modal(metadata, then="create")
            await client.views_open(trigger_id=shortcut["trigger_id"], view=view)
            return
        await flows.open_create(
            deps,
            client,
            context,
            trigger_id=shortcut["trigger_id"],
            user_id=shortcut["user"]["id"],
            anomaly_id=anomaly_id,
            metadata=metadata,
        )

    async def on_link_shortcut(
        ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        anomaly_id = find_anomaly_id(shortcut.get("message"), deps.qualytics_host)
        await flows.open_link(
            client,
            context,
            trigger_id=shortcut["trigger_id"],
            anomaly_id=anomaly_id,
            metadata=message_metadata(shortcut),
        )

    # -------------------------------------------------------------------------------- which anomaly?

    async def on_anomaly_id(
        ack: AsyncAck, body: dict[str, Any], view: View, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        metadata = blocks.ModalMetadata.decode(view.get("private_metadata"))
        try:
            anomaly_id = forms.anomaly_id(forms.state(view), None, deps.qualytics_host)
        except InvalidInput as err:
            await field_error(ack, err, view)
            return
        if metadata.then == "link":
            await ack(response_action="update", view=blocks.link_incident_modal(anomaly_id, metadata))
            return
        await ack(
            response_action="update", view=progress(flows.CREATE_TITLE, f"Loading anomaly {anomaly_id}…")
        )
        await flows.fill_create(
            deps, client, context, view["id"], None, anomaly_id, metadata, body["user"]["id"]
        )

    # -------------------------------------------------------------------------------- create

    async def on_levels_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Urgency or impact changed: show the priority ServiceNow will compute."""
        await ack()
        view = body["view"]
        values = forms.state(view)
        urgency = forms.text(values, BlockId.URGENCY, ActionId.URGENCY) or "3"
        impact = forms.text(values, BlockId.IMPACT, ActionId.IMPACT) or "3"
        await quiet_update(client, view, blocks.replace_block(view, blocks.priority_hint(urgency, impact)))

    async def on_category_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Category changed: offer that category's subcategories."""
        await ack()
        view = body["view"]
        category = forms.text(forms.state(view), BlockId.CATEGORY, ActionId.CATEGORY)
        form = await deps.snowbot.form_specification()
        subcategories = render.choices(form, "subcategory", category)
        await quiet_update(client, view, blocks.replace_block(view, blocks.subcategory_input(subcategories)))

    async def on_create_submit(
        ack: AsyncAck, body: dict[str, Any], view: View, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        metadata = blocks.ModalMetadata.decode(view.get("private_metadata"))
        try:
            form = forms.ticket_form(forms.state(view), metadata.caller)
        except InvalidInput as err:
            await field_error(ack, err, view)
            return
        await ack(
            response_action="update",
            view=progress(flows.CREATE_TITLE, "Creating the incident in ServiceNow…"),
        )
        context[OPEN_VIEW] = view["id"]
        anomaly_id = anomaly_of(metadata)
        try:
            created = await deps.snowbot.create_ticket_for_anomaly(
                anomaly_id, form, actor(body["user"]), slack_context(metadata)
            )
        except UseCaseError as err:
            await update_modal(client, context, view["id"], blocks.refilled_modal(view, err.message))
            return
        message = blocks.ticket_created_message(created.incident.number, created.incident.url, anomaly_id)
        # an incident an interrupted request made may have been announced when snowbot restarted
        announced = None if created.announced else await announce(client, metadata, message)
        posted = announced.ts if announced is not None else None
        if posted and not metadata.thread_ts:  # from the command: the announcement starts the thread
            await deps.snowbot.attach_thread(created.link.id, metadata.channel, posted)
        outcome = {**message, "blocks": list(message["blocks"])}
        if announced is not None and not posted:
            failed = announced_failed(metadata, error=announced.error, number=created.incident.number)
            outcome["blocks"].append(blocks.context(failed))
        await update_modal(client, context, view["id"], result_modal("Incident created", outcome))
        if posted and metadata.channel:  # the anomaly's card, with its buttons, in the ticket's thread
            thread = metadata.thread_ts or posted
            await deps.cards.ensure(channel_id=metadata.channel, thread_ts=thread, anomaly_id=anomaly_id)

    # -------------------------------------------------------------------------------- link

    async def on_link_submit(
        ack: AsyncAck, body: dict[str, Any], view: View, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        metadata = blocks.ModalMetadata.decode(view.get("private_metadata"))
        values = forms.state(view)
        chosen = forms.selected(values, BlockId.INCIDENTS, ActionId.INCIDENTS)
        try:
            anomaly_id = forms.anomaly_id(values, metadata.anomaly_id, deps.qualytics_host)
            if not chosen:
                raise InvalidInput("Choose at least one incident.", field="incidents")
        except InvalidInput as err:
            await field_error(ack, err, view)
            return
        await ack(response_action="update", view=progress("Link incident", "Linking in ServiceNow…"))
        context[OPEN_VIEW] = view["id"]
        linked: list[tuple[str, str]] = []
        problems: list[str] = []
        for sys_id, label in chosen:
            try:
                done = await deps.snowbot.link_existing_ticket(
                    anomaly_id, sys_id, actor(body["user"]), slack_context(metadata)
                )
            except AlreadyLinked as err:
                problems.append(err.message)
            except UseCaseError as err:
                problems.append(f"{forms.incident_number(label)}: {err.message}")
            else:
                linked.append((done.incident.number, done.incident.url))
        announced = None
        if linked and metadata.channel and metadata.thread_ts:
            announced = await announce(client, metadata, blocks.tickets_linked_message(linked, anomaly_id))
        outcome = blocks.link_results_message(anomaly_id, linked, problems)
        await update_modal(client, context, view["id"], result_modal("Link incident", outcome))
        if announced is not None and announced.ts and metadata.channel and metadata.thread_ts:
            await deps.cards.ensure(
                channel_id=metadata.channel, thread_ts=metadata.thread_ts, anomaly_id=anomaly_id
            )

    # -------------------------------------------------------------------------------- connect

    async def on_connect_submit(
        ack: AsyncAck, body: dict[str, Any], view: View, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        try:
            form = forms.connect_form(
                forms.state(view),
                allow_insecure=deps.settings.allow_insecure_instance,
                allow_private=deps.settings.allow_private_instance,
            )
        except InvalidInput as err:
            await field_error(ack, err, view)
            return
        await ack(response_action="update", view=progress("Connect ServiceNow", "Testing the connection…"))
        context[OPEN_VIEW] = view["id"]
        allowed = await is_admin(deps, client, body["user"]["id"])
        if not allowed:
            refusal = ADMIN_UNKNOWN if allowed is None else NOT_ADMIN
            await update_modal(
                client, context, view["id"], blocks.notice_modal("Connect ServiceNow", refusal)
            )
            return
        try:
            connected = await deps.snowbot.connect(form.instance_url, form.credentials, actor(body["user"]))
        except UseCaseError as err:
            retry = blocks.connect_modal(
                instance_url=form.instance_url, error=err.message, advice=render.CONNECT_ADVICE
            )
            await update_modal(client, context, view["id"], retry)
            return
        text = f"{connected.message} snowbot now files incidents in {connected.integration.instance_url}."
        await update_modal(client, context, view["id"], blocks.notice_modal("ServiceNow connected", text))

    # -------------------------------------------------------------------------------- archive, comment

    async def on_archive_submit(
        ack: AsyncAck, body: dict[str, Any], view: View, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        metadata = blocks.ModalMetadata.decode(view.get("private_metadata"))
        status = forms.text(forms.state(view), BlockId.ARCHIVE_STATUS, ActionId.ARCHIVE_STATUS) or "Resolved"
        await ack(response_action="update", view=progress("Archive anomaly", "Archiving in Qualytics…"))
        context[OPEN_VIEW] = view["id"]
        changed = await deps.snowbot.archive_anomaly(anomaly_of(metadata), status, actor(body["user"]))
        await deps.cards.refresh(changed.anomaly.id, changed.anomaly)
        await update_modal(
            client, context, view["id"], blocks.notice_modal("Archive anomaly", changed.message)
        )

    async def on_comment_submit(
        ack: AsyncAck, body: dict[str, Any], view: View, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        metadata = blocks.ModalMetadata.decode(view.get("private_metadata"))
        text = (forms.text(forms.state(view), BlockId.COMMENT, ActionId.COMMENT_TEXT) or "").strip()
        if not text:
            await field_error(ack, InvalidInput("A comment needs some text.", field="comment"), view)
            return
        await ack(
            response_action="update", view=progress("Comment on anomaly", "Adding the comment in Qualytics…")
        )
        context[OPEN_VIEW] = view["id"]
        user = body["user"]
        author = real_name(await deps.users.get(client, user["id"]), user.get("name") or user["id"])
        changed = await deps.snowbot.comment_on_anomaly(anomaly_of(metadata), text, author)
        await update_modal(
            client, context, view["id"], blocks.notice_modal("Comment on anomaly", changed.message)
        )

    app.shortcut({"callback_id": Shortcut.CREATE_INCIDENT, "type": "message_action"})(
        listen(on_create_shortcut)
    )
    app.shortcut({"callback_id": Shortcut.LINK_INCIDENT, "type": "message_action"})(listen(on_link_shortcut))
    app.view(ViewId.ANOMALY_ID)(listen(on_anomaly_id))
    app.action(ActionId.URGENCY)(listen(on_levels_changed))
    app.action(ActionId.IMPACT)(listen(on_levels_changed))
    app.action(ActionId.CATEGORY)(listen(on_category_changed))
    app.view(ViewId.CREATE_INCIDENT)(listen(on_create_submit))
    app.view(ViewId.LINK_INCIDENT)(listen(on_link_submit))
    app.view(ViewId.CONNECT)(listen(on_connect_submit))
    app.view(ViewId.ARCHIVE)(listen(on_archive_submit))
    app.view(ViewId.COMMENT)(listen(on_comment_submit))


async def quiet_update(client: AsyncWebClient, view: View, updated: View) -> None:
    """views.update guarded by the view's hash; a conflict means a newer update is on its way."""
    try:
        await client.views_update(view_id=view["id"], hash=view["hash"], view=updated)
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


async def announce(
    client: AsyncWebClient, metadata: blocks.ModalMetadata, message: blocks.Message
) -> Announced:
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


NOT_INVITED = ("not_in_channel", "channel_not_found")
"""chat.postMessage's answers for a channel snowbot is not a member of (a private one it cannot see)."""


def announced_failed(metadata: blocks.ModalMetadata, *, error: str | None, number: str) -> str:
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
