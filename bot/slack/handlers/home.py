"""The App Home tab: integration status, recent links and sync health, published when it is opened."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.handlers import flows
from bot.slack.handlers.common import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        await flows.publish_home(deps, client, event["user"])

    app.event("app_home_opened")(deps.listener(on_home_opened))
