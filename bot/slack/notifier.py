"""The sync's notifier: one note in the anomaly's Slack thread when a linked incident is closed, and
snowbot's anomaly cards kept current.

`bot.sync.engine.SyncEngine` calls `incident_closed(link, incident)` once per incident that becomes
Resolved, Closed or Canceled, for links made in Slack (they carry the alert's channel and thread), and
`ticket_note(link, payload)` for each work note or comment a person wrote on the ticket in ServiceNow
(`bot.sync.back`), and `anomaly_changed(anomaly)` when a pass saw the anomaly or one of its incidents change: its cards
(`bot.slack.cards`) are updated then.
`ticket_linked(link, kind)` is the use cases' `announcer` (given by `bot.composition`): the announcement
a create or link made from Slack would have posted, for one an interrupted request left and snowbot
finished (`bot.usecases.intents`).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack import blocks
from bot.slack.cards import AnomalyCards
from bot.slack.client import web_client
from qualytics_api import Anomaly
from servicenow import Incident
from storage.links import Link
from storage.rules import Rule

log = logging.getLogger(__name__)


class SlackNotifier:
    """Implements `bot.sync.engine.Notifier` with the bot's Web API client."""

    def __init__(self, client: AsyncWebClient, cards: AnomalyCards | None = None) -> None:
        self.client = client
        self.cards = cards

    async def incident_closed(self, link: Link, incident: Incident) -> None:
        if not link.channel_id or not link.thread_ts:
            return
        state = link.kind.state_label(incident.state, incident.state_label)
        message = blocks.incident_closed_message(
            incident.number, incident.url or link.url, state, link.anomaly_id, incident.close_notes or None
        )
        await self.client.chat_postMessage(channel=link.channel_id, thread_ts=link.thread_ts, **message)
        log.info("told %s that %s is %s", link.channel_id, incident.number, state)

    async def ticket_note(self, link: Link, payload: dict[str, Any]) -> None:
        """A work note or comment written in ServiceNow on the link's ticket, in the anomaly's thread
        (`bot.sync.back`: once per entry)."""
        if not link.channel_id or not link.thread_ts:
            return
        message = blocks.ticket_note_message(
            link.ticket_number, link.url, payload["label"], payload["who"], payload["text"], link.anomaly_id
        )
        await self.client.chat_postMessage(channel=link.channel_id, thread_ts=link.thread_ts, **message)
        log.info(
            "told %s of a ServiceNow %s on %s", link.channel_id, payload["label"].lower(), link.ticket_number
        )

    async def anomaly_changed(self, anomaly: Anomaly) -> None:
        if self.cards is not None:
            await self.cards.refresh(anomaly.id, anomaly)

    async def ticket_linked(self, link: Link, kind: str) -> str | None:
        """Post "INC... created and linked" (or "linked") where the request came from; the message's ts."""
        if not link.channel_id:
            return None
        if kind == "create":
            message = blocks.ticket_created_message(link.ticket_number, link.url, link.anomaly_id)
        else:
            message = blocks.tickets_linked_message([(link.ticket_number, link.url)], link.anomaly_id)
        thread: dict[str, Any] = {"thread_ts": link.thread_ts} if link.thread_ts else {}
        posted = await self.client.chat_postMessage(channel=link.channel_id, **thread, **message)
        log.info("announced %s (finished after an interruption) in %s", link.ticket_number, link.channel_id)
        ts = posted.get("ts")
        thread_ts = link.thread_ts or ts
        if self.cards is not None and thread_ts:  # the thread gets its anomaly card, as a create from Slack
            await self.cards.ensure(
                channel_id=link.channel_id, thread_ts=thread_ts, anomaly_id=link.anomaly_id
            )
        return ts

    async def recurred(self, earlier: Link, link: Link) -> None:
        """A creation rule linked a recurrence: a note in the earlier link's thread, the cards recounted."""
        if earlier.channel_id and earlier.thread_ts:
            note = blocks.recurred_message(link.ticket_number, link.url, link.anomaly_id, earlier.anomaly_id)
            await self.client.chat_postMessage(
                channel=earlier.channel_id, thread_ts=earlier.thread_ts, **note
            )
        if self.cards is not None:
            await self.cards.refresh(earlier.anomaly_id)

    async def rule_paused(self, rule: Rule) -> None:
        """The rate guard paused a rule: say so in its channel (App Home shows it too)."""
        if rule.channel_id:
            await self.client.chat_postMessage(channel=rule.channel_id, **blocks.rule_paused_message(rule))


def slack_notifier(settings: Settings) -> SlackNotifier | None:
    """A notifier of its own client, e.g. for `bot.sync.wiring.build_engine(..., notifier=...)`; None without
    SLACK_BOT_TOKEN."""
    if settings.slack_bot_token is None:
        return None
    return SlackNotifier(web_client(settings))
