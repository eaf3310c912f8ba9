"""Message events (`message.channels`, `message.groups`): a Qualytics alert in a watched channel gets
snowbot's anomaly card as a thread reply (`bot.slack.cards`).

Bolt acknowledges events by itself before the listener runs and skips snowbot's own messages
(its IgnoringSelfEvents middleware); the use case ignores everything that is not a new top-level app
message, and posts at most one card per alert even when Slack retries the event (X-Slack-Retry-Num).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.handlers.common import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_message(event: dict[str, Any], context: AsyncBoltContext) -> None:
        await deps.cards.alert_posted(event, own_bot_id=context.bot_id)

    app.event("message")(deps.listener(on_message))
