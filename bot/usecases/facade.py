"""`Snowbot`: the thin facade the surfaces (Slack, the REST API, the CLI) call, one method per use case,
each handing over to the service of its domain (connections, tickets, the form, chat-ops, status,
reconcile). Built by the composition root (`bot.composition`), never by a surface.

Holds no logic of its own; its tunings (`clock`, `sleep`, `intent_settle`, ...) are the shared
`Runtime`'s, so a test that drives time sets them once for every service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import SecretStr

from bot.models import FormSpecification
from bot.settings import Settings
from bot.usecases import status as status_
from bot.usecases.anomalies import Anomalies
from bot.usecases.autocreate import AutoCreate
from bot.usecases.base import Runtime, Storage
from bot.usecases.chatops import AnomalyCard, AnomalyChanged, ChatOps
from bot.usecases.connections import Connected, Connections
from bot.usecases.form import TicketDraft, TicketForm, TicketForms
from bot.usecases.instance_facade import InstanceUseCases
from bot.usecases.reconcile import Reconciler
from bot.usecases.recurrence import Recurrence
from bot.usecases.rule_facade import RuleUseCases
from bot.usecases.rules import Rules
from bot.usecases.status import Overview, Status
from bot.usecases.sync_back import set_sync_back
from bot.usecases.ticket_search import TicketSearch
from bot.usecases.tickets import Tickets
from bot.usecases.unfurls import Preview, Unfurls
from bot.usecases.values import SlackContext, TicketCreated, TicketLinked, TicketPage
from qualytics_api import Anomaly, QualyticsClient
from servicenow import Group, Incident, ServiceNowClient, User
from storage.db import Database
from storage.integrations import Integration
from storage.links import Link
from storage.store import Store

T = TypeVar("T")


class _Tuning(Generic[T]):
    """A `Runtime` attribute seen through the facade (read and set)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, bot: Snowbot, owner: type | None = None) -> T:
        value: T = getattr(bot.runtime, self.name)
        return value

    def __set__(self, bot: Snowbot, value: T) -> None:
        setattr(bot.runtime, self.name, value)


class Snowbot(RuleUseCases, InstanceUseCases):
    """The use cases. One instance per process (and per event loop); `aclose()` releases the clients."""

    clock: _Tuning[Callable[[], datetime]] = _Tuning()
    sleep: _Tuning[Callable[[float], Awaitable[object]]] = _Tuning()
    create_attempts: _Tuning[int] = _Tuning()
    create_settle: _Tuning[tuple[float, ...]] = _Tuning()
    intent_settle: _Tuning[float] = _Tuning()

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        runtime: Runtime,
        connections: Connections,
        anomalies: Anomalies,
        forms: TicketForms,
        reconciler: Reconciler,
        tickets: Tickets,
        chatops: ChatOps,
        unfurls: Unfurls | None = None,
        rules: Rules | None = None,
        autocreate: AutoCreate | None = None,
        recurrence: Recurrence | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.runtime = runtime
        self.connections = connections
        self.anomalies = anomalies
        self.forms = forms
        self.reconciler = reconciler
        self.tickets = tickets
        self.ticket_search = TicketSearch(connections=connections, forms=forms)
        self.chatops = chatops
        self.unfurls = unfurls or Unfurls(
            storage=storage, anomalies=anomalies, connections=connections, settings=settings
        )
        self.rules = rules
        self.autocreate = autocreate
        self.recurrence = recurrence

    @property
    def db(self) -> Database:
        return self.storage.db

    @property
    def store(self) -> Store:
        """The database's thread: every storage call goes through it."""
        return self.storage.store

    @property
    def qualytics(self) -> QualyticsClient | None:
        return self.anomalies.qualytics

    def check_database(self) -> None:
        """`DatabaseGone` when the database file was deleted or replaced (one `stat`, no waiting)."""
        self.storage.check()

    async def aclose(self) -> None:
        await self.connections.aclose()
        await self.anomalies.aclose()

    # ---------------------------------------------------------------------------------- connections

    async def connect(
        self,
        instance_url: str,
        credentials: str | SecretStr | None,
        actor: str | None = None,
        *,
        auth: str = "basic",
        client_id: str | None = None,
        client_secret: str | SecretStr | None = None,
        sync_back: str | None = None,
    ) -> Connected:
        return await self.connections.connect(
            instance_url=instance_url,
            credentials=credentials,
            actor=actor,
            auth=auth,
            client_id=client_id,
            client_secret=client_secret,
            sync_back=sync_back,
        )

    def ensure_env_integration(self) -> Integration | None:
        return self.connections.ensure_env_integration()

    async def check_connection(self, integration_id: int | None = None) -> Integration:
        return await self.connections.check_connection(integration_id=integration_id)

    async def list_integrations(self) -> list[Integration]:
        return await self.connections.list_integrations()

    async def set_sync_back(self, integration_id: int, mode: str, actor: str | None = None) -> Integration:
        """What comes back from ServiceNow for this integration: off, comment or comment_and_archive."""
        return await set_sync_back(
            self.connections.storage, integration_id=integration_id, mode=mode, actor=actor
        )

    async def servicenow_client(self, integration_id: int) -> ServiceNowClient:
        """The cached ServiceNow client of an integration."""
        return await self.connections.servicenow_client(integration_id)

    # -------------------------------------------------------------------------------------- tickets

    async def create_ticket_for_anomaly(
        self,
        anomaly_id: int,
        form: TicketForm,
        actor: str | None,
        slack_context: SlackContext | None = None,
        *,
        integration_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> TicketCreated:
        return await self.tickets.create(
            anomaly_id=anomaly_id,
            form=form,
            actor=actor,
            slack=slack_context,
            integration_id=integration_id,
            idempotency_key=idempotency_key,
        )

    async def link_existing_ticket(
        self,
        anomaly_id: int,
        ticket_id: str,
        actor: str | None,
        slack_context: SlackContext | None = None,
        *,
        integration_id: int | None = None,
    ) -> TicketLinked:
        return await self.tickets.link(
            anomaly_id=anomaly_id,
            ticket_id=ticket_id,
            actor=actor,
            slack=slack_context,
            integration_id=integration_id,
        )

    async def list_links(self, anomaly_id: int) -> list[Link]:
        return await self.tickets.list_links(anomaly_id=anomaly_id)

    async def attach_thread(self, link_id: int, channel_id: str, thread_ts: str) -> None:
        await self.tickets.attach_thread(link_id=link_id, channel_id=channel_id, thread_ts=thread_ts)

    async def unlink(self, anomaly_id: int, link_id: int, actor: str | None = None) -> None:
        await self.tickets.unlink(anomaly_id=anomaly_id, link_id=link_id, actor=actor)

    async def search_tickets(
        self,
        query: str = "",
        page: int = 1,
        size: int = 20,
        ticket_type: str | None = None,
        *,
        integration_id: int | None = None,
    ) -> TicketPage:
        return await self.ticket_search.search(
            query=query, page=page, size=size, integration_id=integration_id, ticket_type=ticket_type
        )

    async def get_ticket(self, ticket_id: str) -> Incident:
        return await self.ticket_search.get(ticket_id=ticket_id)

    async def reconcile_intents(self) -> dict[str, int]:
        return await self.reconciler.reconcile_all()

    async def keep_reconciled(self) -> None:
        await self.reconciler.keep_reconciled()

    # --------------------------------------------------------------------------------------- the form

    async def form_specification(
        self, ticket_type: str | None = None, *, integration_id: int | None = None
    ) -> FormSpecification:
        kind = TicketForm(short_description="", ticket_type=ticket_type).kind
        return await self.forms.specification(kind, integration_id=integration_id)

    async def ticket_draft(
        self,
        anomaly_id: int,
        caller_email: str | None = None,
        ticket_type: str | None = None,
        *,
        integration_id: int | None = None,
    ) -> TicketDraft:
        """The draft, with the open ticket of an earlier occurrence offered (`recurrence_hint`)."""
        kind = TicketForm(short_description="", ticket_type=ticket_type).kind
        draft = await self.forms.draft(
            anomaly_id=anomaly_id, caller_email=caller_email, kind=kind, integration_id=integration_id
        )
        hint = await self.recurrence.suggestion(draft.anomaly) if self.recurrence else None
        return replace(draft, recurrence_hint=hint) if hint else draft

    async def search_groups(
        self, text: str, limit: int = 20, *, integration_id: int | None = None
    ) -> list[Group]:
        return await self.forms.search_groups(text=text, limit=limit, integration_id=integration_id)

    async def search_users(
        self, text: str, limit: int = 20, *, integration_id: int | None = None
    ) -> list[User]:
        return await self.forms.search_users(text=text, limit=limit, integration_id=integration_id)

    async def caller_for_email(self, email: str) -> User | None:
        return await self.forms.caller_for_email(email)

    # --------------------------------------------------------------------------------------- chat-ops

    async def acknowledge_anomaly(self, anomaly_id: int, actor: str | None = None) -> AnomalyChanged:
        return await self.chatops.acknowledge(anomaly_id=anomaly_id, actor=actor)

    async def archive_anomaly(
        self, anomaly_id: int, status: str = "Resolved", actor: str | None = None
    ) -> AnomalyChanged:
        return await self.chatops.archive(anomaly_id=anomaly_id, status=status, actor=actor)

    async def comment_on_anomaly(
        self, anomaly_id: int, text: str, author: str, via: str = "Slack"
    ) -> AnomalyChanged:
        return await self.chatops.comment(anomaly_id=anomaly_id, text=text, author=author, via=via)

    async def anomaly_card(self, anomaly_id: int, anomaly: Anomaly | None = None) -> AnomalyCard:
        return await self.chatops.card(anomaly_id=anomaly_id, anomaly=anomaly)

    async def link_previews(self, urls: Sequence[str]) -> dict[str, Preview]:
        """The previews of pasted links that name an anomaly or a ticket snowbot can read (Slack's unfurls)."""
        return await self.unfurls.previews(urls)

    # ----------------------------------------------------------------------------------------- status

    async def status(self) -> Status:
        return await status_.status(storage=self.storage, connections=self.connections)

    async def overview(self, recent: int = 10) -> Overview:
        """`status()` plus the `recent` newest links (Slack's App Home and `/snow status`)."""
        return await status_.overview(storage=self.storage, connections=self.connections, recent=recent)


__all__ = ["Snowbot"]
