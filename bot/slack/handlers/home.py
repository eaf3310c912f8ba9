"""The App Home tab and `/snow status`: integration status, recent links and sync health; the Home is
published when it is opened and on Refresh, and its Help button opens the help."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.doctor import admin_status
from bot.slack import blocks, render
from bot.slack.handlers.common import Deps, Invocation, Subcommands, is_admin, open_modal
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, Subcommand


async def publish_home(deps: Deps, client: AsyncWebClient, user_id: str) -> None:
    admin = bool(await is_admin(deps, client, user_id))
    overview = await deps.snowbot.overview()
    view = render.home_view(
        overview,
        deps.now(),
        is_admin=admin,
        watched_channels=await deps.cards.watched(),
        rules=await deps.snowbot.list_rules(),
    )
    await client.views_publish(user_id=user_id, view=view)


async def snow_status(deps: Deps, call: Invocation) -> None:
    """The status; for admins, with `snowbot doctor`'s report below it."""
    if await is_admin(deps, call.client, call.command.get("user_id", "")):
        overview, report = await admin_status(deps.snowbot, slack=call.client)
        await call.reply(render.status_message(overview, deps.now(), report))
        return
    await call.reply(render.status_message(await deps.snowbot.overview(), deps.now()))


async def on_home_opened(deps: Deps, event: dict[str, Any], client: AsyncWebClient) -> None:
    if event.get("tab", "home") != "home":
        return
    await publish_home(deps, client, event["user"])


async def on_refresh_home(deps: Deps, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    await publish_home(deps, client, body["user"]["id"])


async def on_help(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    await open_modal(client, context, body["trigger_id"], blocks.help_modal())


SUBCOMMANDS: Subcommands = {Subcommand.STATUS: snow_status}
ROUTES = (
    Route("event", "app_home_opened", on_home_opened),
    Route("action", ActionId.REFRESH_HOME, on_refresh_home),
    Route("action", ActionId.HELP, on_help),
)
