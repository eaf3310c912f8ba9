"""Recurring anomalies: a new anomaly with the same `fingerprint` as an earlier one, or the same quality
check on the same container, detected within a window of it while the earlier one's ticket is still open,
is the same problem again. A rule links it to that ticket with a "Recurred: ..." work note instead of
making a new ticket (`recur`); a person creating by hand is offered the link (`suggestion`). Cards count
the occurrences (`occurrences`).

What is compared is remembered per anomaly (`storage.rules.remember`); an earlier anomaly snowbot never
saw is read from Qualytics once. Never decides whether a rule applies (`bot.usecases.autocreate` does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Runtime, Storage
from bot.usecases.errors import UseCaseError
from qualytics_api import Anomaly
from storage import rules as store
from storage.links import Link

if TYPE_CHECKING:
    from bot.usecases.tickets import Tickets
    from bot.usecases.values import SlackContext, TicketLinked

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenTicket:
    """The open ticket of an earlier anomaly the new one recurs, and why."""

    link: Link
    first_anomaly_id: int
    reason: str  # "the same fingerprint", "the same check on the same container"


def _facts(anomaly: Anomaly) -> dict[str, Any]:
    return {
        "anomaly_id": anomaly.id,
        "fingerprint": anomaly.fingerprint,
        "container_id": anomaly.container.id if anomaly.container else None,
        "check_ids": [c.quality_check.id for c in anomaly.failed_checks if c.quality_check.id is not None],
        "created": anomaly.created,
    }


class Recurrence:
    def __init__(self, *, storage: Storage, anomalies: Anomalies, runtime: Runtime, window: int) -> None:
        self.storage = storage
        self.anomalies = anomalies
        self.runtime = runtime
        self.window = window
        """Seconds (SNOWBOT_RECURRENCE_WINDOW): the window of the suggestion made to a person."""

    async def remember(self, anomaly: Anomaly) -> None:
        await self.storage.run(store.remember, **_facts(anomaly))

    async def open_ticket_for(self, anomaly: Anomaly, *, window: int) -> OpenTicket | None:
        """The open ticket this anomaly recurs (the newest earlier occurrence within `window` seconds)."""
        candidates = [
            link for link in await self.storage.run(store.open_links) if link.anomaly_id != anomaly.id
        ]
        if not candidates or window <= 0:
            return None
        known: dict[int, dict[str, Any] | None] = dict(
            await self.storage.run(store.facts, sorted({link.anomaly_id for link in candidates}))
        )
        for link in candidates:
            if link.anomaly_id not in known:
                known[link.anomaly_id] = await self._read_facts(link.anomaly_id)
        new = _facts(anomaly)
        checks = set(new["check_ids"])
        best: tuple[datetime, OpenTicket] | None = None
        for link in candidates:
            earlier = known.get(link.anomaly_id)
            if earlier is None or abs(anomaly.created - _created(earlier)) > timedelta(seconds=window):
                continue
            if new["fingerprint"] and earlier["fingerprint"] == new["fingerprint"]:
                reason = "the same fingerprint"
            elif (
                new["container_id"] is not None
                and earlier["container_id"] == new["container_id"]
                and checks & set(earlier["check_ids"])
            ):
                reason = "the same check on the same container"
            else:
                continue
            first = await self.storage.run(store.first_of, link.anomaly_id)
            found = OpenTicket(link=link, first_anomaly_id=first, reason=reason)
            if best is None or _created(earlier) > best[0]:
                best = (_created(earlier), found)
        return best[1] if best else None

    async def recur(
        self,
        tickets: Tickets,
        anomaly: Anomaly,
        earlier: OpenTicket,
        *,
        actor: str,
        slack: SlackContext | None,
    ) -> TicketLinked:
        """Link the anomaly to the earlier one's open ticket (the existing link path, with its intent) with
        a "Recurred" work note, and record the recurrence (the cards count it)."""
        url = self.anomalies.url(anomaly)
        count = len(await self.storage.run(store.occurrences, earlier.first_anomaly_id)) + 1
        note = (
            f"Recurred: anomaly {anomaly.id} ({earlier.reason} as anomaly {earlier.link.anomaly_id}, "
            f"occurrence {count}) {url}"
        )
        linked = await tickets.link(
            anomaly_id=anomaly.id,
            ticket_id=earlier.link.ticket_sys_id,
            actor=actor,
            slack=slack,
            note=note,
            integration_id=earlier.link.integration_id,  # the earlier ticket's instance, not the default
        )
        await self.storage.run(
            store.add_recurrence,
            anomaly_id=anomaly.id,
            first_anomaly_id=earlier.first_anomaly_id,
            link_id=linked.link.id,
            ticket_number=linked.link.ticket_number,
            now=self.runtime.clock(),
        )
        log.info(
            "anomaly %s recurs %s: linked to %s",
            anomaly.id,
            earlier.link.anomaly_id,
            linked.link.ticket_number,
        )
        return linked

    async def suggestion(self, anomaly: Anomaly) -> str | None:
        """For the create form: "Anomaly 812 with the same check has INC0010001 open — link instead?"."""
        try:
            earlier = await self.open_ticket_for(anomaly, window=self.window)
        except UseCaseError as err:
            log.info("no recurrence suggestion for anomaly %s: %s", anomaly.id, err.message)
            return None
        if earlier is None:
            return None
        what = "fingerprint" if earlier.reason == "the same fingerprint" else "check"
        return (
            f"Anomaly {earlier.link.anomaly_id} with the same {what} has {earlier.link.ticket_number} open — "
            "link instead?"
        )

    async def occurrences(self, anomaly_id: int) -> list[int]:
        return await self.storage.run(store.occurrences, anomaly_id)

    async def _read_facts(self, anomaly_id: int) -> dict[str, Any] | None:
        try:
            anomaly = await self.anomalies.get(anomaly_id)
        except UseCaseError as err:
            log.info("anomaly %s not compared for recurrence: %s", anomaly_id, err.message)
            return None
        await self.remember(anomaly)
        facts = _facts(anomaly)
        return {**facts, "check_ids": set(facts["check_ids"])}


def _created(facts: dict[str, Any]) -> datetime:
    value = facts["created"]
    return datetime.fromisoformat(value) if isinstance(value, str) else value
