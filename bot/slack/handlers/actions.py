"""Buttons: on snowbot's anomaly cards (chat-ops), on ticket lists (Unlink), on the App Home."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.handlers import flows
from bot.slack.handlers.common import (
    Deps,
    actor,
    anomaly_from_value,
    message_metadata,
    open_modal,
)
from bot.slack.ids import ActionId
from bot.usecases import InvalidInput, LinkNotFound

Body = dict[str, Any]


def anomaly_of(action: dict[str, Any]) -> int:
    found = anomaly_from_value(action.get("value"))
    if found is None:
        raise InvalidInput("This button does not name an anomaly; use `/snow` with the anomaly's id instead.")
    return found


def register(app: AsyncApp, deps: Deps) -> None:
    listen = deps.listener

    # ------------------------------------------------------------------------ chat-ops on snowbot's anomaly card

    async def on_acknowledge(ack: AsyncAck, body: Body, action: dict[str, Any]) -> None:
        await ack()
        changed = await deps.snowbot.acknowledge_anomaly(anomaly_of(action), actor(body["user"]))
        await deps.cards.refresh(changed.anomaly.id, changed.anomaly)

    async def on_archive(
        ack: AsyncAck, body: Body, action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        view = blocks.archive_modal(anomaly_of(action), message_metadata(body))
        await open_modal(client, context, body["trigger_id"], view)

    async def on_comment(
        ack: AsyncAck, body: Body, action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        view = blocks.comment_modal(anomaly_of(action), message_metadata(body))
        await open_modal(client, context, body["trigger_id"], view)

    async def on_open_create(
        ack: AsyncAck, body: Body, action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        await flows.open_create(
            deps,
            client,
            context,
            trigger_id=body["trigger_id"],
            user_id=body["user"]["id"],
            anomaly_id=anomaly_of(action),
            metadata=message_metadata(body),
        )

    async def on_open_link(
        ack: AsyncAck, body: Body, action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        await flows.open_link(
            client,
            context,
            trigger_id=body["trigger_id"],
            anomaly_id=anomaly_of(action),
            metadata=message_metadata(body),
        )

    async def on_link_button(ack: AsyncAck) -> None:
        """View buttons open a URL in the browser; Slack still expects an acknowledgement."""
        await ack()

    # ------------------------------------------------------------------------ ticket lists

    async def on_unlink(ack: AsyncAck, body: Body, action: dict[str, Any], respond: AsyncRespond) -> None:
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
        remaining = await deps.snowbot.list_links(anomaly_id)
        message = blocks.tickets_message(anomaly_id, remaining, now=deps.now(), unlink=blocks.unlink_value)
        await respond(replace_original=True, **message)
        await deps.cards.refresh(anomaly_id)  # its cards no longer list the incident

    # ------------------------------------------------------------------------ App Home

    async def on_refresh_home(ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await ack()
        await flows.publish_home(deps, client, body["user"]["id"])

    async def on_open_connect(
        ack: AsyncAck, body: Body, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        refused = await flows.open_connect(
            deps, client, context, trigger_id=body["trigger_id"], user_id=body["user"]["id"]
        )
        if refused:  # the App Home has no channel to answer in: say it in a modal
            await open_modal(
                client, context, body["trigger_id"], blocks.notice_modal("Connect ServiceNow", refused)
            )

    async def on_watch_channel(
        ack: AsyncAck, body: Body, action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """A channel picked on the App Home: snowbot posts cards under its Qualytics alerts."""
        await ack()
        channel = action.get("selected_conversation")
        if isinstance(channel, str) and channel:
            await deps.cards.watch(channel, actor(body["user"]))
        await flows.publish_home(deps, client, body["user"]["id"])

    async def on_unwatch_channel(
        ack: AsyncAck, body: Body, action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        channel = action.get("value")
        if isinstance(channel, str) and channel:
            await deps.cards.unwatch(channel, actor(body["user"]))
        await flows.publish_home(deps, client, body["user"]["id"])

    async def on_help(ack: AsyncAck, body: Body, client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await ack()
        await open_modal(client, context, body["trigger_id"], blocks.help_modal())

    app.action(ActionId.ACKNOWLEDGE)(listen(on_acknowledge))
    app.action(ActionId.ARCHIVE)(listen(on_archive))
    app.action(ActionId.COMMENT)(listen(on_comment))
    app.action(ActionId.OPEN_CREATE_MODAL)(listen(on_open_create))
    app.action(ActionId.OPEN_LINK_MODAL)(listen(on_open_link))
    app.action(ActionId.VIEW_TICKET)(listen(on_link_button))
    app.action(ActionId.VIEW_ANOMALY)(listen(on_link_button))
    app.action(ActionId.UNLINK_TICKET)(listen(on_unlink))
    app.action(ActionId.REFRESH_HOME)(listen(on_refresh_home))
    app.action(ActionId.OPEN_CONNECT_MODAL)(listen(on_open_connect))
    app.action(ActionId.HELP)(listen(on_help))
    app.action(ActionId.WATCH_CHANNEL)(listen(on_watch_channel))
    app.action(ActionId.UNWATCH_CHANNEL)(listen(on_unwatch_channel))
