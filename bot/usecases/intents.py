"""Intents: the durable record of a create or a link before its ServiceNow write.

A create or a link is recorded as an intent (`storage.intents`) before its write; the link and the
intent's removal commit together. What an interrupted request left is reconciled by
`bot.usecases.reconcile`.

Never decides what to write (`bot.usecases.tickets` does); never calls ServiceNow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from weakref import WeakValueDictionary

from bot.shutdown import background
from bot.usecases.base import Runtime, Storage
from bot.usecases.errors import DatabaseBusy, DatabaseGone, InvalidInput, StorageUnavailable, Upstream
from bot.usecases.values import SlackContext
from qualytics_api import Anomaly
from servicenow import Incident
from servicenow.kinds import INCIDENT, TicketKind, kind_named
from storage import atomic, create_keys, intents, links, sync
from storage.integrations import Integration
from storage.intents import Intent
from storage.links import Link

log = logging.getLogger(__name__)


class Intents:
    """Recording and finishing intents; one per process (its locks are per event loop)."""

    def __init__(
        self,
        *,
        storage: Storage,
        runtime: Runtime,
        kind: TicketKind = INCIDENT,
    ) -> None:
        self.storage = storage
        self.runtime = runtime
        self.kind = kind
        self._anomaly_locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()
        self.reconcile_soon = asyncio.Event()
        """Set when a request leaves an intent behind: `Reconciler.keep_reconciled` runs a round at once."""

    def anomaly_lock(self, anomaly_id: int) -> asyncio.Lock:
        """Held from an anomaly's intent to its link (and while reconciling it): one at a time here."""
        lock = self._anomaly_locks.get(anomaly_id)
        if lock is None:
            lock = self._anomaly_locks[anomaly_id] = asyncio.Lock()
        return lock

    async def record(
        self,
        *,
        kind: intents.Kind,
        integration: Integration,
        anomaly: Anomaly,
        actor: str | None,
        slack: SlackContext | None,
        fields: dict[str, str],
        correlation_id: str | None = None,
        incident: Incident | None = None,
        ticket: TicketKind | None = None,
        idempotency_key: str | None = None,
    ) -> Intent:
        """The intent, durable before the ServiceNow write; refused: nothing was sent (`DatabaseBusy`/`DatabaseGone`)."""
        try:
            return await self.storage.run(
                intents.record,
                kind=kind,
                anomaly_id=anomaly.id,
                integration_id=integration.id,
                fields=fields,
                baseline={
                    "status": anomaly.status,
                    "archived": anomaly.archived,
                    "comment_ids": [c.id for c in anomaly.comments],
                },
                actor=actor or "snowbot",
                correlation_id=correlation_id,
                ticket_sys_id=incident.sys_id if incident else None,
                ticket_number=incident.number if incident else None,
                channel_id=slack.channel_id if slack else None,
                thread_ts=slack.thread_ts if slack else None,
                now=self.runtime.clock(),
                ticket_kind=(ticket or self.kind).name,
                claimed_by=self.runtime.replica,  # this request carries it out: no other replica reconciles it
                lease=timedelta(seconds=self.runtime.lease),
                idempotency_key=idempotency_key,
            )
        except sqlite3.IntegrityError:
            if kind != "create":
                raise
            # intents_one_open_create: another request (on another replica: in this process the anomaly's
            # lock orders them) is creating for this anomaly right now, between its check and ours
            raise Upstream(
                f"Another request is creating a ticket for anomaly {anomaly.id} right now; nothing was sent. "
                "Try again in a moment: snowbot links what that request makes and only then allows a new one.",
                system="servicenow",
                kind="unavailable",
            ) from None
        except DatabaseBusy as err:
            what = "nothing was created" if kind == "create" else "nothing was changed in ServiceNow"
            raise DatabaseBusy(
                f"The database is busy (another program holds its write lock), {what}: try again in a moment."
            ) from err

    @contextlib.asynccontextmanager
    async def held(self, intent: Intent) -> AsyncIterator[None]:
        """Keep this replica's claim of `intent` for as long as its request runs (renewed every third of
        the lease), so no other replica reconciles or retires it while its write may still be sent; once
        the process dies the claim runs out and any replica may reconcile it."""
        lease = timedelta(seconds=self.runtime.lease)

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.runtime.lease / 3)
                try:
                    await self.storage.run(
                        intents.claim,
                        intent.id,
                        by=self.runtime.replica,
                        now=self.runtime.clock(),
                        lease=lease,
                    )
                except StorageUnavailable as err:
                    log.warning("intent %s: its claim could not be renewed now: %s", intent.id, err.message)

        # stopped with its request: not work of its own left over at shutdown (`bot.shutdown`)
        task = background(asyncio.create_task(renew(), name=f"intent-{intent.id}-claim"))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def retire(self, intent: Intent) -> None:
        """Forget an intent whose write provably did not happen (best effort: reconciling retires it too)."""
        try:
            await self.storage.run(intents.finish, intent.id)
        except StorageUnavailable as err:
            log.warning("intent %s could not be retired now: %s", intent.id, err.message)

    async def link_from(self, intent: Intent, incident: Incident) -> Link:
        """Store the link and delete the intent in one transaction. Refused (the database busy or gone)
        after ServiceNow did the work: the intent stays, reconciling finishes it, and the person is told."""
        try:
            return await self.storage.call(self.store_link, intent, incident, finish=True)
        except DatabaseBusy as err:
            self.reconcile_soon.set()
            done = "created" if intent.kind == "create" else "updated"
            raise DatabaseBusy(
                f"{incident.number} was {done} in ServiceNow, but the database is busy (another program holds its "
                "write lock), so the link is not stored yet: snowbot stores it by itself as soon as it can. Do not "
                "create or link it again."
            ) from err
        except DatabaseGone as err:
            raise DatabaseGone(
                f"{incident.number} is in ServiceNow but is not linked: {err.message}"
            ) from err

    async def keyed(self, key: str, anomaly_id: int) -> Link | None:
        """The link an earlier create with this Idempotency-Key made (None: none yet); `InvalidInput`
        when the key was used for another anomaly."""
        found = await self.storage.run(create_keys.find, key)
        if found is None:
            return None
        if found[0] != anomaly_id:
            raise InvalidInput(
                f"This Idempotency-Key was used to create a ticket for anomaly {found[0]}: use a new key.",
                field="Idempotency-Key",
            )
        return await self.storage.run(links.get, found[1])

    def store_link(self, intent: Intent, incident: Incident, *, finish: bool) -> Link:
        """On the database thread, one transaction: the link with its sync baseline (the anomaly as it was
        when asked), then the intent deleted (`finish`) or marked linked (reconciled). A link another
        reconciliation stored already is used as it is."""
        db = self.storage.db
        with atomic(db):
            current = intents.get(db, intent.id)
            link = links.get(db, current.link_id) if current and current.link_id else None
            link = link or next(
                (
                    known
                    for known in links.for_anomaly(db, intent.anomaly_id)
                    if known.integration_id == intent.integration_id
                    and known.ticket_sys_id == incident.sys_id
                ),
                None,
            )
            if link is None:
                kind = kind_named(intent.ticket_kind)
                link = links.add(
                    db,
                    anomaly_id=intent.anomaly_id,
                    integration_id=intent.integration_id,
                    ticket_sys_id=incident.sys_id,
                    ticket_number=incident.number,
                    ticket_kind=kind.name,
                    status=kind.state_label(incident.state, incident.state_label),
                    url=incident.url,
                    created_by=intent.actor,
                    channel_id=intent.channel_id,
                    thread_ts=intent.thread_ts,
                    ticket_updated_at=incident.updated_on,
                )
                baseline = intent.baseline
                sync.init_state(
                    db, link.id, baseline["status"], baseline["archived"], baseline["comment_ids"]
                )
            if intent.idempotency_key:
                create_keys.remember(
                    db, intent.idempotency_key, anomaly_id=intent.anomaly_id, link_id=link.id
                )
            if current is not None:
                if finish:
                    intents.finish(db, intent.id)
                else:
                    intents.mark_linked(db, intent.id, link.id)
        return link
