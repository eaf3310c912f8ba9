"""snowbot's anomaly card: its own message about an anomaly, the one place its chat-ops buttons can be.

Slack sends an app the clicks on elements of its own messages only, and `chat.update` edits only the
app's own messages (`cant_update_message` otherwise), so no button can be added to a Qualytics alert.
snowbot posts a card instead (the anomaly, its linked incidents and their states, the buttons): in the
thread of every ticket it announces (create and link), and in the channels people asked it to watch
(`/snow watch`, App Home) as a thread reply under each Qualytics alert. A thread has one card
(`storage.cards`): a retried event, or a second link in the thread, never posts another. Cards are kept
current with chat.update of the cards snowbot posted (and only those), after a chat-ops change and when
a sync pass sees the anomaly or its incidents change (`SlackNotifier.anomaly_changed`).

Posting and refreshing a card is best effort: the ticket or the change it shows is made already, so a
failure is logged, never shown as the person's error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, render
from bot.slack.anomaly_ref import find_anomaly_id
from bot.usecases import Snowbot, UseCaseError
from qualytics_api import Anomaly
from storage import cards

log = logging.getLogger(__name__)
T = TypeVar("T")

ALERT_SUBTYPES = (None, "bot_message")
"""Message events that can be a Qualytics alert: a new message (apps post without a subtype since 2021)
or a classic bot message (an incoming webhook). Edits (message_changed), deletions, joins, broadcasts and
file shares are not new alerts (subtypes as bolt-python's message listener names them)."""
GONE = frozenset({"message_not_found", "cant_update_message", "channel_not_found", "is_archived"})
"""chat.update answers meaning the card can never be updated again: it is forgotten."""


def is_alert_candidate(event: Mapping[str, Any], own_bot_id: str | None) -> bool:
    """A new top-level message posted by an app other than snowbot (Qualytics' alerts are)."""
    if event.get("type") != "message" or event.get("subtype") not in ALERT_SUBTYPES:
        return False
    channel, ts, bot_id = event.get("channel"), event.get("ts"), event.get("bot_id")
    if not isinstance(channel, str) or not isinstance(ts, str) or not bot_id or bot_id == own_bot_id:
        return False
    thread_ts = event.get("thread_ts")
    return thread_ts is None or thread_ts == ts


class AnomalyCards:
    """The card's use cases on the Slack side, over the bot's Web API client and the `Snowbot`."""

    def __init__(self, snowbot: Snowbot, client: AsyncWebClient) -> None:
        self.snowbot = snowbot
        self.client = client

    # ------------------------------------------------------------------------------------ watched channels

    async def _db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """A `storage.cards` call on the database's thread (never on the event loop)."""
        return await self.snowbot.store.run(fn, self.snowbot.db, *args, **kwargs)

    async def watch(self, channel_id: str, actor: str) -> bool:
        """Post cards under the Qualytics alerts of a channel; False when it was watched already."""
        added = await self._db(cards.watch, channel_id, actor, now=self.snowbot.clock())
        if added:
            log.info("channel %s watched for Qualytics alerts by %s", channel_id, actor)
        return added

    async def unwatch(self, channel_id: str, actor: str) -> bool:
        removed = await self._db(cards.unwatch, channel_id)
        if removed:
            log.info("channel %s no longer watched, by %s", channel_id, actor)
        return removed

    async def watched(self) -> list[str]:
        return [row.channel_id for row in await self._db(cards.watched)]

    # ------------------------------------------------------------------------------------------ cards

    async def alert_posted(self, event: Mapping[str, Any], *, own_bot_id: str | None) -> bool:
        """A message event: a Qualytics alert in a watched channel gets its card, once (by channel and
        ts, so Slack's retries of the event post nothing more). True when a card was posted now."""
        if not is_alert_candidate(event, own_bot_id):
            return False
        channel, ts = str(event["channel"]), str(event["ts"])
        if (
            not await self._db(cards.is_watched, channel)
            or await self._db(cards.get, channel, ts) is not None
        ):
            return False
        anomaly_id = find_anomaly_id(event, self.snowbot.settings.qualytics_url)
        if anomaly_id is None:
            return False
        return await self._post(channel, ts, anomaly_id) is not None

    async def ensure(self, *, channel_id: str, thread_ts: str, anomaly_id: int) -> str | None:
        """The card in this thread (a ticket was just announced there): posted when the thread has
        none, else brought up to date. Its ts, or None when it could not be posted."""
        existing = await self._db(cards.get, channel_id, thread_ts)
        posted = await self._post(channel_id, thread_ts, anomaly_id) if existing is None else None
        await self.refresh(anomaly_id, skip=posted)  # the anomaly's other cards show the new ticket too
        return posted or (existing.ts if existing else None)

    async def refresh(
        self, anomaly_id: int, anomaly: Anomaly | None = None, *, skip: str | None = None
    ) -> int:
        """chat.update every card snowbot posted about the anomaly (but the one whose ts is `skip`); how
        many were updated. `anomaly` is the anomaly as just read (it is read from Qualytics otherwise)."""
        posted = [card for card in await self._db(cards.for_anomaly, anomaly_id) if card.ts != skip]
        if not posted:
            return 0
        message = await self._message(anomaly_id, anomaly)
        if message is None:
            return 0
        updated = 0
        for card in posted:
            assert card.ts is not None  # for_anomaly lists posted cards only
            try:
                await self.client.chat_update(channel=card.channel_id, ts=card.ts, **message)
            except SlackApiError as err:
                error = err.response.get("error")
                log.info(
                    "could not update the card of anomaly %s in %s: %s", anomaly_id, card.channel_id, error
                )
                if error in GONE:
                    await self._db(cards.forget, channel_id=card.channel_id, thread_ts=card.thread_ts)
            else:
                updated += 1
        return updated

    async def _message(self, anomaly_id: int, anomaly: Anomaly | None) -> blocks.Message | None:
        try:
            return render.anomaly_card(await self.snowbot.anomaly_card(anomaly_id, anomaly))
        except UseCaseError as err:
            log.info("no card for anomaly %s: %s", anomaly_id, err.message)
            return None

    async def _post(self, channel_id: str, thread_ts: str, anomaly_id: int) -> str | None:
        message = await self._message(anomaly_id, None)
        if message is None or not await self._db(
            cards.claim,
            channel_id=channel_id,
            thread_ts=thread_ts,
            anomaly_id=anomaly_id,
            now=self.snowbot.clock(),
        ):
            return None
        try:
            answer = await self.client.chat_postMessage(channel=channel_id, thread_ts=thread_ts, **message)
        except Exception as err:
            await self._db(cards.release, channel_id=channel_id, thread_ts=thread_ts)
            if not isinstance(err, SlackApiError):
                raise
            log.warning(
                "could not post the card of anomaly %s in %s: %s",
                anomaly_id,
                channel_id,
                err.response.get("error"),
            )
            return None
        ts = str(answer["ts"])
        await self._db(
            cards.posted, channel_id=channel_id, thread_ts=thread_ts, ts=ts, now=self.snowbot.clock()
        )
        log.info("posted the card of anomaly %s in %s (thread %s)", anomaly_id, channel_id, thread_ts)
        return ts
