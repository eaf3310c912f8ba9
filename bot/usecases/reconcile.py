"""Reconciling: what an interrupted create or link left (kill -9, a cancelled task, a write refused
after the POST) is looked for in ServiceNow on the next request for the anomaly and by `keep_reconciled`
(from start-up on): found, it is linked and announced once in Slack (through the `announcer` the
composition root gives); provably not done and settled, it is retired. Each replica looks only at intents
it could claim (`storage.intents.claim`: a request claims its own intent when it records it, for
SNOWBOT_OUTBOX_LEASE), so two replicas never reconcile, link or announce the same intent at once.

Never talks to Slack itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from bot.usecases.base import Runtime, Storage
from bot.usecases.connections import Connections
from bot.usecases.description import mentions_url
from bot.usecases.errors import Upstream, UseCaseError
from bot.usecases.incidents import find_incident
from bot.usecases.intents import Intents
from bot.usecases.values import SlackContext, TicketCreated
from servicenow import Incident, ServiceNowClient
from servicenow.errors import NotFoundError, PermissionDeniedError, ServiceNowError
from servicenow.kinds import kind_named
from storage import intents, links
from storage.intents import Intent
from storage.links import Link

log = logging.getLogger(__name__)

LinkAnnouncer = Callable[[Link, str], Awaitable[str | None]]
"""Posts, in the link's Slack channel (and thread), that a link was made ("create" or "link") by a request
that could not say so itself (it was interrupted); returns the message's ts (None: not posted)."""

Outcome = Literal["linked", "retired", "undecided"]


class Reconciler:
    """Finishes or retires the intents requests left; one per process (its lock is per event loop)."""

    def __init__(
        self,
        *,
        storage: Storage,
        connections: Connections,
        intents: Intents,
        runtime: Runtime,
        announcer: LinkAnnouncer | None = None,
    ) -> None:
        self.storage = storage
        self.connections = connections
        self.intents = intents
        self.runtime = runtime
        self.announcer = announcer
        self._reconciling = asyncio.Lock()
        """One reconcile round at a time: a second caller waits for the round under way, then runs its own."""

    async def _claim(self, intent: Intent) -> bool:
        """Claim the intent for this replica (`storage.intents.claim`); False: another replica's request or
        reconciler holds it, so it is not looked at here now."""
        return await self.storage.run(
            intents.claim,
            intent.id,
            by=self.runtime.replica,
            now=self.runtime.clock(),
            lease=timedelta(seconds=self.runtime.lease),
        )

    def _settled(self, intent: Intent) -> bool:
        """Old enough that its ServiceNow write has surely ended (see `Runtime.intent_settle`)."""
        return self.runtime.clock() - intent.created_at >= timedelta(seconds=self.runtime.intent_settle)

    async def _reconcile(self, intent: Intent) -> Outcome:
        """Find what an interrupted intent's write did: linked (the incident exists, or the description or
        journal shows the anomaly), retired (provably not done, and too old to be still in flight), or
        undecided (not found yet, or ServiceNow could not be asked)."""
        client = await self.connections.servicenow_client(intent.integration_id)
        kind = kind_named(intent.ticket_kind)  # looked up in its own kind's table
        incident: Incident | None
        try:
            if intent.kind == "create":
                assert intent.correlation_id is not None
                incident = await client.find_incident_by_correlation_id(intent.correlation_id, kind=kind)
            else:
                assert intent.ticket_sys_id is not None
                incident = await client.get_incident(intent.ticket_sys_id, kind=kind)
                if not await _shows_link(client, incident, intent):
                    incident = None
        except NotFoundError:
            incident = None  # the incident to link was deleted: nothing can have been appended
        except ServiceNowError as err:
            log.info("intent %s not reconciled now: %s", intent.id, type(err).__name__)
            return "undecided"
        what = f"intent {intent.id} ({intent.kind} of anomaly {intent.anomaly_id})"
        if incident is not None:
            await self.storage.call(self.intents.store_link, intent, incident, finish=False)
            log.info("%s reconciled: %s", what, incident.number)
            return "linked"
        if not self._settled(intent):
            return "undecided"
        await self.storage.run(intents.finish, intent.id)
        log.info("%s retired: its write never happened", what)
        return "retired"

    async def earlier_create(
        self,
        client: ServiceNowClient,
        *,
        anomaly_id: int,
        slack: SlackContext | None,
        integration_id: int | None = None,
    ) -> TicketCreated | None:
        """The incident an interrupted create of this anomaly made (reconciled now, or at start-up within
        `recovered_window`), claimed for this request; None when there is none. An earlier create that may
        still be in flight refuses this one (`Upstream`) rather than risk a second incident. Each intent is
        looked for in its own instance; only a create in `integration_id`'s instance (`client`'s) is claimed."""
        for intent in await self.storage.run(intents.open_intents, anomaly_id, "create"):
            if not await self._claim(intent) or await self._reconcile(intent) == "undecided":
                raise Upstream(
                    f"An earlier request to create an incident for anomaly {anomaly_id} was interrupted and "
                    f"ServiceNow does not show it yet (correlation id {intent.correlation_id}); try again in a few "
                    "minutes: snowbot links it if it appears and only then allows a new one.",
                    system="servicenow",
                    kind="unavailable",
                )
        since = self.runtime.clock() - timedelta(seconds=self.runtime.recovered_window)
        recovered = await self.storage.run(intents.linked_create, anomaly_id, since, integration_id)
        if recovered is None or recovered.link_id is None:
            return None
        if not await self.storage.run(intents.finish, recovered.id):
            return None  # another request claimed it
        link = await self.storage.run(links.get, recovered.link_id)
        if link is None:
            return None
        incident = await find_incident(client, by="sys_id", value=link.ticket_sys_id, kind=link.kind)
        announced = recovered.announced_at is not None
        if not announced and slack is None and recovered.channel_id:
            announced = await self._announce(recovered, link)
        return TicketCreated(
            incident=incident,
            link=link,
            anomaly_id=anomaly_id,
            integration_id=link.integration_id,
            message=f"Ticket {incident.number} created and linked to anomaly {anomaly_id} (by an earlier request "
            "that was interrupted; no second incident was made)",
            announced=announced,
        )

    async def earlier_link(self, *, anomaly_id: int, sys_id: str) -> Link | None:
        """An interrupted link of this anomaly to this incident: its link once reconciled; `Upstream` while
        its PATCH may still be in flight; None when there is none (or it was retired)."""
        for intent in await self.storage.run(intents.open_intents, anomaly_id, "link"):
            if intent.ticket_sys_id != sys_id:
                continue
            outcome = await self._reconcile(intent) if await self._claim(intent) else "undecided"
            if outcome == "undecided":
                raise Upstream(
                    f"An earlier request to link {intent.ticket_number} to anomaly {anomaly_id} was interrupted and "
                    "ServiceNow does not show it yet; try again in a few minutes.",
                    system="servicenow",
                    kind="unavailable",
                )
            if outcome == "linked":
                linked = await self.storage.run(intents.get, intent.id)
                await self.storage.run(intents.finish, intent.id)
                return (
                    await self.storage.run(links.get, linked.link_id) if linked and linked.link_id else None
                )
        return None

    async def reconcile_all(self) -> dict[str, int]:
        """One round: every open intent not held by a request of this process is reconciled, then the
        reconciled ones made from Slack are announced (through `announcer`, at most once each). Returns
        how many were linked, retired, left undecided and announced."""
        async with self._reconciling:
            counts = {"linked": 0, "retired": 0, "undecided": 0, "announced": 0}
            since = self.runtime.clock() - timedelta(seconds=self.runtime.recovered_window)
            await self.storage.run(intents.purge_linked, since)
            for intent in await self.storage.run(intents.open_intents):
                outcome = await self._reconcile_one(intent)
                if outcome is not None:
                    counts[outcome] += 1
            if self.announcer is not None:
                for intent in await self.storage.run(intents.to_announce):
                    link = await self.storage.run(links.get, intent.link_id) if intent.link_id else None
                    if link is not None and await self._announce(intent, link):
                        counts["announced"] += 1
            return counts

    async def _reconcile_one(self, intent: Intent) -> Outcome | None:
        """One open intent, unless a request of this process holds its anomaly or another replica holds the
        intent (undecided), or it was finished meanwhile (None)."""
        lock = self.intents.anomaly_lock(intent.anomaly_id)
        if lock.locked():
            return "undecided"
        async with lock:
            current = await self.storage.run(intents.get, intent.id)
            if current is None or not current.open:
                return None
            if not await self._claim(current):
                return "undecided"  # another replica's request or reconciler holds it
            try:
                return await self._reconcile(current)
            except UseCaseError as err:
                log.warning("intent %s not reconciled now: %s", intent.id, err.message)
                return "undecided"

    async def _announce(self, intent: Intent, link: Link) -> bool:
        """Announce a reconciled link in its Slack place, at most once (claimed first); a message posted
        outside a thread becomes the link's thread."""
        if self.announcer is None or not await self.storage.run(
            intents.claim_announcement, intent.id, now=self.runtime.clock()
        ):
            return False
        try:
            posted = await self.announcer(link, intent.kind)
        except Exception:
            log.exception("announcing %s in Slack failed", link.ticket_number)
            return False
        if posted and link.channel_id and not link.thread_ts:
            await self.storage.run(links.set_thread, link.id, link.channel_id, posted)
        return posted is not None

    async def keep_reconciled(self) -> None:
        """Reconcile at once (what an earlier process left), then every `reconcile_interval` or as soon as
        a request leaves an intent behind, until cancelled. Failures are logged and tried again."""
        while True:
            self.intents.reconcile_soon.clear()
            try:
                counts = await self.reconcile_all()
            except UseCaseError as err:
                log.warning("reconciling interrupted creates and links failed: %s", err.message)
            else:
                if any(counts.values()):
                    log.info("reconciled interrupted creates and links: %s", counts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.intents.reconcile_soon.wait(), self.runtime.reconcile_interval)


async def _shows_link(client: ServiceNowClient, incident: Incident, intent: Intent) -> bool:
    """Whether a link's PATCH was applied: the description links to the anomaly, or the journal holds
    its work note (the same PATCH wrote both; sys_journal_field may be closed: then the incident's
    work_notes text)."""
    if mentions_url(incident.description, intent.fields["url"]):
        return True
    note = intent.fields["work_note"]
    try:
        entries = await client.list_work_notes(incident.sys_id, kind=kind_named(intent.ticket_kind))
        return any(note in entry.text for entry in entries)
    except PermissionDeniedError:
        return note in incident.work_notes
