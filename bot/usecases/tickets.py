"""Tickets: create a ticket of any kind (`servicenow.kinds`) from an anomaly (exactly once), link an
existing one, unlink, list an anomaly's links, search and read tickets across kinds. Every value is
validated before any call; every write is recorded as an intent first (`bot.usecases.intents`).

Never knows about Slack or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from weakref import WeakValueDictionary

from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Runtime, Storage
from bot.usecases.connections import Connections
from bot.usecases.description import (
    anomaly_block,
    link_note,
    mentions_url,
    new_correlation_id,
    with_anomaly_block,
)
from bot.usecases.errors import (
    AlreadyLinked,
    LinkNotFound,
    UseCaseError,
    servicenow_errors,
    servicenow_failure,
)
from bot.usecases.exactly_once import create_exactly_once
from bot.usecases.form import TicketForm, TicketForms
from bot.usecases.incidents import find_incident, parse_ticket_id
from bot.usecases.intents import Intents
from bot.usecases.reconcile import Reconciler
from bot.usecases.values import SlackContext, TicketCreated, TicketLinked
from qualytics_api import Anomaly
from servicenow import Incident, ServiceNowClient
from servicenow.errors import ServiceNowError
from servicenow.kinds import KINDS
from storage import links
from storage.integrations import Integration
from storage.links import Link

log = logging.getLogger(__name__)


class Tickets:
    def __init__(
        self,
        *,
        storage: Storage,
        connections: Connections,
        anomalies: Anomalies,
        forms: TicketForms,
        intents: Intents,
        reconciler: Reconciler,
        runtime: Runtime,
    ) -> None:
        self.storage = storage
        self.connections = connections
        self.anomalies = anomalies
        self.forms = forms
        self.intents = intents
        self.reconciler = reconciler
        self.runtime = runtime
        self._link_locks: WeakValueDictionary[tuple[int, str], asyncio.Lock] = WeakValueDictionary()

    async def create(
        self,
        *,
        anomaly_id: int,
        form: TicketForm,
        actor: str | None,
        slack: SlackContext | None = None,
        integration_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> TicketCreated:
        """Create an incident from an anomaly and link them, once: the intent is recorded before the POST
        (`DatabaseBusy` "nothing was created" when it cannot be), and an earlier request for the anomaly
        that was interrupted is reconciled first: the incident it made is returned, never a second.
        `integration_id`: the instance (None: the default one)."""
        form = form.validated()
        kind = form.kind
        integration = await self.connections.chosen(integration_id)
        anomaly = await self.anomalies.get(anomaly_id)
        client = await self.connections.client(integration)
        await self.forms.check_kind(kind, integration_id=integration.id)
        await self.forms.check_choices(form, integration_id=integration.id)
        async with self.intents.anomaly_lock(anomaly_id):
            if idempotency_key and (done := await self.intents.keyed(idempotency_key, anomaly_id)):
                return TicketCreated(
                    incident=await find_incident(
                        client, by="sys_id", value=done.ticket_sys_id, kind=done.kind
                    ),
                    link=done,
                    anomaly_id=anomaly_id,
                    integration_id=done.integration_id,
                    message=f"Ticket {done.ticket_number} was created for anomaly {anomaly_id} by an earlier "
                    "request with this Idempotency-Key; no second ticket was made",
                    announced=True,
                )
            earlier = await self.reconciler.earlier_create(
                client, anomaly_id=anomaly_id, slack=slack, integration_id=integration.id
            )
            if earlier is not None:
                return earlier
            url = self.anomalies.url(anomaly)
            block = anomaly_block(anomaly, url, self.runtime.clock())
            correlation_id = new_correlation_id(anomaly_id)
            fields = form.incident_fields(with_anomaly_block(form.description, block, url), correlation_id)
            intent = await self.intents.record(
                kind="create",
                integration=integration,
                anomaly=anomaly,
                actor=actor,
                slack=slack,
                fields=fields,
                correlation_id=correlation_id,
                ticket=kind,
                idempotency_key=idempotency_key,
            )
            async with self.intents.held(intent):  # no other replica reconciles it while this request runs
                incident = await create_exactly_once(
                    client,
                    fields=fields,
                    runtime=self.runtime,
                    refused=partial(self.intents.retire, intent),
                    kind=kind,
                )
                link = await self.intents.link_from(intent, incident)
        log.info(
            "%s %s created for anomaly %s by %s", kind.name, incident.number, anomaly_id, actor or "unknown"
        )
        return TicketCreated(
            incident=incident,
            link=link,
            anomaly_id=anomaly_id,
            integration_id=integration.id,
            message=f"Ticket {incident.number} created and linked to anomaly {anomaly_id}",
        )

    async def link(
        self,
        *,
        anomaly_id: int,
        ticket_id: str,
        actor: str | None,
        slack: SlackContext | None = None,
        integration_id: int | None = None,
        note: str | None = None,
    ) -> TicketLinked:
        """Link an incident (sys_id or INC number) of an instance (None: the default one): append the
        anomaly to its description, add a work note (`note`, e.g. a recurrence's, instead of the usual one
        when given)."""
        by, value = parse_ticket_id(ticket_id)
        integration = await self.connections.chosen(integration_id)
        anomaly = await self.anomalies.get(anomaly_id)
        await self._refuse_duplicate(
            anomaly_id, integration.id, sys_id=value if by == "sys_id" else None, number=value
        )
        client = await self.connections.client(integration)
        incident = await find_incident(client, by=by, value=value)
        # One description edit per incident at a time: two links to it at once (the same anomaly twice, or
        # two anomalies) must not both read the description and each write back only their own block.
        async with self._link_lock(integration.id, incident.sys_id), self.intents.anomaly_lock(anomaly_id):
            await self._refuse_duplicate(
                anomaly_id, integration.id, sys_id=incident.sys_id, number=incident.number
            )
            link = await self.reconciler.earlier_link(anomaly_id=anomaly_id, sys_id=incident.sys_id)
            if link is None:
                incident, link = await self._link_once(
                    integration, client, incident, anomaly, actor, slack, note=note
                )
        return TicketLinked(
            incident=incident, link=link, message=f"Ticket {incident.number} linked to anomaly {anomaly_id}"
        )

    async def _link_once(
        self,
        integration: Integration,
        client: ServiceNowClient,
        incident: Incident,
        anomaly: Anomaly,
        actor: str | None,
        slack: SlackContext | None,
        *,
        note: str | None = None,
    ) -> tuple[Incident, Link]:
        url = self.anomalies.url(anomaly)
        note = note or link_note(anomaly.id, url, actor)
        intent = await self.intents.record(
            kind="link",
            integration=integration,
            anomaly=anomaly,
            actor=actor,
            slack=slack,
            fields={"url": url, "work_note": note},
            incident=incident,
            ticket=KINDS[incident.ticket_kind],
        )
        async with self.intents.held(intent):  # no other replica reconciles it while this request runs
            try:
                incident = await self._append_anomaly(client, incident, anomaly, note)
            except UseCaseError as err:
                cause = err.__cause__
                if not (isinstance(cause, ServiceNowError) and cause.may_be_applied):
                    await self.intents.retire(intent)  # the PATCH provably did not apply
                raise
            return incident, await self.intents.link_from(intent, incident)

    async def _append_anomaly(
        self, client: ServiceNowClient, incident: Incident, anomaly: Anomaly, note: str
    ) -> Incident:
        """Append the anomaly block and a work note (one PATCH) at most once.

        The description is read again first: when it already links to the anomaly (an earlier attempt was
        applied but its answer lost, so no link was stored) nothing is appended. When the PATCH fails in a
        way that may have been applied anyway (a timeout, a lost answer, a 502/504), one more read decides.
        """
        url = self.anomalies.url(anomaly)
        kind = KINDS[incident.ticket_kind]
        action = f"appending anomaly {anomaly.id} to {incident.number}"
        with servicenow_errors(f"reading {kind.label.lower()} {incident.number}"):
            current = await client.get_incident(incident.sys_id, kind=kind)
        if mentions_url(current.description, url):
            log.info("%s already links to anomaly %s: nothing appended", incident.number, anomaly.id)
            return current
        block = anomaly_block(anomaly, url, self.runtime.clock())
        try:
            return await client.append_to_description(incident.sys_id, block, work_note=note, kind=kind)
        except ServiceNowError as err:
            if not err.may_be_applied:
                raise servicenow_failure(err, action) from err
            lost = err
        try:
            current = await client.get_incident(incident.sys_id, kind=kind)
        except ServiceNowError:
            raise servicenow_failure(lost, action) from lost
        if not mentions_url(current.description, url):
            raise servicenow_failure(lost, action) from lost
        log.warning("%s: applied although the answer was lost (%s)", action, type(lost).__name__)
        return current

    async def list_links(self, *, anomaly_id: int) -> list[Link]:
        """The anomaly's links (number, state, last sync, URL). With none stored, an unknown anomaly is 404."""
        found = await self.storage.run(links.for_anomaly, anomaly_id)
        if not found:
            await self.anomalies.get(anomaly_id)
        return found

    async def attach_thread(self, *, link_id: int, channel_id: str, thread_ts: str) -> None:
        """The message announcing a link made outside any thread becomes its thread: when the incident
        is resolved, the sync answers there."""
        await self.storage.run(links.set_thread, link_id, channel_id, thread_ts)

    async def unlink(self, *, anomaly_id: int, link_id: int, actor: str | None = None) -> None:
        link = await self.storage.run(links.get, link_id)
        if link is None or link.anomaly_id != anomaly_id:
            raise LinkNotFound(f"Anomaly {anomaly_id} has no ticket link {link_id}.")
        await self.storage.run(links.delete, link_id)
        log.info(
            "link %s (%s, anomaly %s) removed by %s",
            link_id,
            link.ticket_number,
            anomaly_id,
            actor or "unknown",
        )

    def _link_lock(self, integration_id: int, sys_id: str) -> asyncio.Lock:
        """The lock of one incident's description (held while a link appends to it)."""
        key = (integration_id, sys_id)
        lock = self._link_locks.get(key)
        if lock is None:
            lock = self._link_locks[key] = asyncio.Lock()
        return lock

    async def _refuse_duplicate(
        self, anomaly_id: int, integration_id: int, *, sys_id: str | None, number: str
    ) -> None:
        """`AlreadyLinked` for a ticket of this instance already linked (another instance's INC0010001 is
        another ticket)."""
        for link in await self.storage.run(links.for_anomaly, anomaly_id):
            if link.integration_id != integration_id:
                continue
            if link.ticket_sys_id == sys_id or link.ticket_number.upper() == number.upper():
                raise AlreadyLinked(anomaly_id, link.ticket_number)
