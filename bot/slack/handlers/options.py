"""Search-as-you-type selects (block_suggestion): incidents, assignment groups, users.

Slack shows nothing after 3 seconds, so each answer is bounded by `bot.slack.suggest.Suggestions`
(about 2 s, then cached or empty) and acknowledged with the options in the same call.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.slack import blocks
from bot.slack.handlers.common import Deps
from bot.slack.ids import ActionId

LIMIT = 20


def register(app: AsyncApp, deps: Deps) -> None:
    listen = deps.listener
    snowbot = deps.snowbot

    async def incidents(text: str) -> list[dict[str, Any]]:
        page = await snowbot.search_tickets(text, size=LIMIT)
        return [blocks.incident_option(i.number, i.short_description, i.sys_id) for i in page.items]

    async def groups(text: str) -> list[dict[str, Any]]:
        return [blocks.option(g.name or g.sys_id, g.sys_id) for g in await snowbot.search_groups(text, LIMIT)]

    async def users(text: str) -> list[dict[str, Any]]:
        found = await snowbot.search_users(text, LIMIT)
        return [blocks.option(u.name or u.user_name or u.sys_id, u.sys_id, u.email or None) for u in found]

    def answer(kind: str, load: Any) -> Any:
        async def on_suggestion(ack: AsyncAck, payload: dict[str, Any]) -> None:
            text = str(payload.get("value") or "")[:100]
            options = await deps.suggestions.options(kind, text, lambda: load(text))
            await ack(**blocks.options_response(options))

        on_suggestion.__name__ = f"suggest_{kind}"
        return listen(on_suggestion)

    app.options(ActionId.INCIDENTS)(answer("incidents", incidents))
    app.options(ActionId.ASSIGNMENT_GROUP)(answer("groups", groups))
    app.options(ActionId.ASSIGNED_TO)(answer("users", users))
