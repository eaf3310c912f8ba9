"""Chat-ops on snowbot's anomaly card: Acknowledge, Archive (its modal), Comment (its modal), and the
View in Qualytics link button. Slack sends an app the clicks on its own messages only."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import ViewState
from bot.slack.handlers.common import (
    Deps,
    ack_only,
    actor,
    anomaly_of,
    button_anomaly,
    field_error,
    open_modal,
    real_name,
    show_progress,
    update_modal,
)
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, BlockId, ViewId
from bot.usecases import InvalidInput

DEFAULT_ARCHIVE_STATUS = "Resolved"


async def on_acknowledge(deps: Deps, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
    await ack()
    changed = await deps.snowbot.acknowledge_anomaly(button_anomaly(action), actor(body["user"]))
    await deps.cards.refresh(changed.anomaly.id, changed.anomaly)


CARD_MODALS = {ActionId.ARCHIVE: blocks.archive_modal, ActionId.COMMENT: blocks.comment_modal}
"""The card's buttons that open a modal for its anomaly, and that modal."""


async def on_card_modal(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """Archive or Comment: its modal, remembering the card's message."""
    await ack()
    build = CARD_MODALS[action["action_id"]]
    view = build(button_anomaly(action), blocks.message_metadata(body))
    await open_modal(client, context, body["trigger_id"], view)


async def on_archive_submit(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    form = ViewState.of(view)
    status = form.text(BlockId.ARCHIVE_STATUS, ActionId.ARCHIVE_STATUS) or DEFAULT_ARCHIVE_STATUS
    await show_progress(ack, context, form, "Archive anomaly", "Archiving in Qualytics…")
    changed = await deps.snowbot.archive_anomaly(anomaly_of(form.metadata), status, actor(body["user"]))
    await deps.cards.refresh(changed.anomaly.id, changed.anomaly)
    await update_modal(client, context, form.id, blocks.notice_modal("Archive anomaly", changed.message))


async def on_comment_submit(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    form = ViewState.of(view)
    text = (form.text(BlockId.COMMENT, ActionId.COMMENT_TEXT) or "").strip()
    if not text:
        await field_error(ack, InvalidInput("A comment needs some text.", field="comment"), form)
        return
    await show_progress(ack, context, form, "Comment on anomaly", "Adding the comment in Qualytics…")
    user = body["user"]
    author = real_name(await deps.users.get(client, user["id"]), user.get("name") or user["id"])
    changed = await deps.snowbot.comment_on_anomaly(anomaly_of(form.metadata), text, author)
    await update_modal(client, context, form.id, blocks.notice_modal("Comment on anomaly", changed.message))


ROUTES = (
    Route("action", ActionId.ACKNOWLEDGE, on_acknowledge),
    Route("action", ActionId.ARCHIVE, on_card_modal),
    Route("action", ActionId.COMMENT, on_card_modal),
    Route("action", ActionId.VIEW_ANOMALY, ack_only),
    Route("view", ViewId.ARCHIVE, on_archive_submit),
    Route("view", ViewId.COMMENT, on_comment_submit),
)
