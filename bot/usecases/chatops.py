"""Chat-ops: acknowledge, archive and comment on an anomaly in Qualytics (as snowbot's token), then tell
the sync (`anomaly_changed`, given by the composition root) so the change reaches ServiceNow at once;
and what an anomaly card shows (the anomaly and its links).

Never writes to ServiceNow (the sync does).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.usecases import instances
from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Storage
from bot.usecases.errors import InvalidInput, qualytics_change
from qualytics_api import ARCHIVE_STATUSES, Anomaly, Comment
from storage import integrations, links
from storage import rules as rule_store
from storage.links import Link

log = logging.getLogger(__name__)

AnomalyChangedHook = Callable[[int], Awaitable[None]]
"""Told the id of an anomaly snowbot just changed in Qualytics, so the sync can push it at once."""


@dataclass(frozen=True)
class AnomalyChanged:
    """A chat-ops change made in Qualytics: the anomaly as it is now and what to tell the person."""

    anomaly: Anomaly
    url: str
    message: str


@dataclass(frozen=True)
class AnomalyCard:
    """What snowbot's anomaly card in Slack shows: the anomaly as it is now and its linked tickets."""

    anomaly: Anomaly
    url: str
    links: list[Link]
    instances: dict[int, str] = field(default_factory=dict)
    """Each instance's name by integration id when there are several ({}: one, nothing to tell apart)."""
    occurrences: list[int] = field(default_factory=list)
    """The anomalies of its recurrence group, the first first (more than one: it recurred)."""


class ChatOps:
    def __init__(
        self, *, storage: Storage, anomalies: Anomalies, anomaly_changed: AnomalyChangedHook | None = None
    ) -> None:
        self.storage = storage
        self.anomalies = anomalies
        self.anomaly_changed = anomaly_changed

    async def acknowledge(self, *, anomaly_id: int, actor: str | None = None) -> AnomalyChanged:
        """Set the anomaly to Acknowledged in Qualytics, then tell the sync."""
        qualytics = self.anomalies.client()
        with qualytics_change(anomaly_id, f"acknowledging anomaly {anomaly_id}"):
            anomaly = await qualytics.acknowledge(anomaly_id)
        log.info("anomaly %s acknowledged by %s", anomaly_id, actor or "unknown")
        return await self._changed(anomaly, f"Anomaly {anomaly_id} acknowledged.")

    async def archive(
        self, *, anomaly_id: int, status: str = "Resolved", actor: str | None = None
    ) -> AnomalyChanged:
        """Archive the anomaly as Resolved, Duplicate, Invalid or Discarded, then tell the sync."""
        if status not in ARCHIVE_STATUSES:
            raise InvalidInput(
                f"An anomaly is archived as one of: {', '.join(ARCHIVE_STATUSES)}.", field="status"
            )
        qualytics = self.anomalies.client()
        with qualytics_change(anomaly_id, f"archiving anomaly {anomaly_id}"):
            await qualytics.archive(anomaly_id, status)
            anomaly = await qualytics.get_anomaly(anomaly_id)
        log.info("anomaly %s archived as %s by %s", anomaly_id, status, actor or "unknown")
        return await self._changed(anomaly, f"Anomaly {anomaly_id} archived as {status}.")

    async def comment(self, *, anomaly_id: int, text: str, author: str, via: str = "Slack") -> AnomalyChanged:
        """Comment in Qualytics as `<author> via <via>: <text>` (the token's user posts it), then tell the sync."""
        text = text.strip()
        if not text:
            raise InvalidInput("A comment needs some text.", field="comment")
        qualytics = self.anomalies.client()
        with qualytics_change(anomaly_id, f"commenting on anomaly {anomaly_id}"):
            comment: Comment = await qualytics.add_comment(anomaly_id, f"{author} via {via}: {text}")
            anomaly = await qualytics.get_anomaly(anomaly_id)
        log.info("comment %s added to anomaly %s by %s", comment.id, anomaly_id, author)
        return await self._changed(anomaly, f"Comment added to anomaly {anomaly_id}.")

    async def card(self, *, anomaly_id: int, anomaly: Anomaly | None = None) -> AnomalyCard:
        """The anomaly (read from Qualytics unless given, e.g. just changed) and its links, for its card."""
        anomaly = anomaly or await self.anomalies.get(anomaly_id)
        return AnomalyCard(
            anomaly,
            self.anomalies.url(anomaly),
            await self.storage.run(links.for_anomaly, anomaly_id),
            instances.names(await self.storage.run(integrations.list_all)),
            occurrences=await self.storage.run(rule_store.occurrences, anomaly_id),
        )

    async def _changed(self, anomaly: Anomaly, message: str) -> AnomalyChanged:
        """Tell the `anomaly_changed` hook; the change is made already, so a failing hook is only logged
        (the next scheduled sync pass still pushes it)."""
        if self.anomaly_changed is not None:
            try:
                await self.anomaly_changed(anomaly.id)
            except Exception:
                log.exception("the anomaly_changed hook failed for anomaly %s", anomaly.id)
        return AnomalyChanged(anomaly, self.anomalies.url(anomaly), message)
