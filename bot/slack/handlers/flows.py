"""Steps several entry points share: open a modal at once, then fill it (`views.update` with the hash);
publish the App Home."""

from __future__ import annotations

import logging

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, render
from bot.slack.handlers.common import (
    ADMIN_UNKNOWN,
    NOT_ADMIN,
    OPEN_VIEW,
    Deps,
    email_of,
    is_admin,
    open_modal,
    update_modal,
)
from bot.slack.ids import ViewId

log = logging.getLogger(__name__)

CREATE_TITLE = "Create incident"


async def open_create(
    deps: Deps,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    trigger_id: str,
    user_id: str,
    anomaly_id: int,
    metadata: blocks.ModalMetadata,
) -> None:
    """The create modal: a loading view at once (the trigger_id lives 3 s), then the form."""
    view_id, view_hash = await open_modal(
        client,
        context,
        trigger_id,
        blocks.loading_modal(CREATE_TITLE, ViewId.MESSAGE, f"Loading anomaly {anomaly_id}…"),
    )
    await fill_create(deps, client, context, view_id, view_hash, anomaly_id, metadata, user_id)


async def fill_create(
    deps: Deps,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    view_id: str,
    view_hash: str | None,
    anomaly_id: int,
    metadata: blocks.ModalMetadata,
    user_id: str,
) -> None:
    """Replace the loading view with the form: the anomaly's data, the instance's choices, and the
    person as the caller when their Slack e-mail is a ServiceNow user's."""
    context[OPEN_VIEW] = view_id  # a failure below is shown in this modal
    email = email_of(await deps.users.get(client, user_id))
    draft = await deps.snowbot.ticket_draft(anomaly_id, caller_email=email)
    await update_modal(client, context, view_id, render.create_modal(draft, metadata), view_hash)


async def open_link(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    trigger_id: str,
    anomaly_id: int | None,
    metadata: blocks.ModalMetadata,
) -> None:
    """The link modal needs no data to open: its incident search is answered as the person types."""
    await open_modal(client, context, trigger_id, blocks.link_incident_modal(anomaly_id, metadata))


async def open_connect(
    deps: Deps, client: AsyncWebClient, context: AsyncBoltContext, *, trigger_id: str, user_id: str
) -> str | None:
    """The connect modal for an admin; otherwise the explanation to show the person (the caller decides
    where: ephemeral in a channel, a notice modal on the App Home)."""
    allowed = await is_admin(deps, client, user_id)
    if not allowed:
        return ADMIN_UNKNOWN if allowed is None else NOT_ADMIN
    await open_modal(client, context, trigger_id, blocks.connect_modal())
    return None


async def publish_home(deps: Deps, client: AsyncWebClient, user_id: str) -> None:
    admin = bool(await is_admin(deps, client, user_id))
    overview = await deps.snowbot.overview()
    view = render.home_view(overview, deps.now(), is_admin=admin, watched_channels=await deps.cards.watched())
    await client.views_publish(user_id=user_id, view=view)
