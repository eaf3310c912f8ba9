"""`ServiceNowClient`: the incident operations snowbot needs, over the ServiceNow Table API.

Reads ask for `sysparm_display_value=all` (value and label of every field) without reference links and
are retried on transient failures. Writes are retried only when the caller says repeating them is
harmless (`retry_safe=True`); `create_incident` never is, so a lost answer surfaces as
`ServiceNowTimeoutError` / `ServiceNowConnectionError` (or a 502/504 `ServerError`) whose `may_be_applied`
tells the caller whether to look the incident up by its correlation_id rather than send it again. Every
failure is a `servicenow.errors.ServiceNowError`; queries are built with `servicenow.query.Query`, so text
typed by a person never reaches `sysparm_query` raw.

The client is the one face of the parts behind it: `servicenow.transport` (the request and retry core,
`PublicHostCheck`), `servicenow.responses` (answers and the typed error of each status),
`servicenow.incidents`, `servicenow.journal` and `servicenow.lookups` (the operations). It holds no
logic of its own beyond building the http client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import httpx

from servicenow import changes, incidents, journal, lookups
from servicenow.auth import build_auth
from servicenow.changes import JournalItem, TicketChange
from servicenow.config import Credentials, Resolver, system_resolver, validate_instance_url
from servicenow.kinds import INCIDENT, TicketKind
from servicenow.models import (
    NOTE_FIELDS,
    Choice,
    Group,
    Incident,
    IncidentPage,
    JournalEntry,
    User,
    incident_url,
)
from servicenow.retry import RetryPolicy
from servicenow.transport import PublicHostCheck, TableAPI, clean_sys_id

__all__ = ["ServiceNowClient"]


class ServiceNowClient:
    """Talks to one instance through an injected `httpx.AsyncClient` (which carries auth and timeouts).

    Use `ServiceNowClient.connect(...)` to build both; `aclose()` (or `async with`) closes the http client.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        instance_url: str,
        *,
        retry: RetryPolicy | None = None,
        allow_insecure: bool = False,
        allow_private: bool = False,
    ) -> None:
        self.instance_url = validate_instance_url(
            instance_url, allow_insecure=allow_insecure, allow_private=allow_private
        )
        self._http = http
        self._api = TableAPI(http, self.instance_url, retry=retry or RetryPolicy())

    @property
    def refused_reads(self) -> dict[str, str]:
        """Table -> what the instance said and what grants the read, for each table whose last read was
        refused (403, or a journal that answered no rows while the incident had notes). `/snow status`."""
        return dict(self._api.refused_reads)

    @classmethod
    def connect(
        cls,
        instance_url: str,
        credentials: Credentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        allow_insecure: bool = False,
        allow_private: bool = False,
        resolve: Resolver = system_resolver,
        check_host: bool | None = None,
        clock: Callable[[], float] | None = None,
    ) -> ServiceNowClient:
        """A client with its own `httpx.AsyncClient`: the credentials' auth (Basic or an OAuth flow,
        `servicenow.auth`), JSON headers, `timeout` seconds.

        Every request first checks that the host does not resolve to a private, loopback or link-local
        address (`PublicHostCheck`, through `resolve`); `check_host` defaults to doing so only without an
        injected `transport` (tests and emulators bring theirs, and need no DNS). `clock` (monotonic seconds)
        times OAuth tokens; tests drive it.
        """
        url = validate_instance_url(instance_url, allow_insecure=allow_insecure, allow_private=allow_private)
        checked = transport is None if check_host is None else check_host
        check = PublicHostCheck(allow_insecure=allow_insecure, allow_private=allow_private, resolve=resolve)
        http = httpx.AsyncClient(
            auth=build_auth(url, credentials, clock=clock),
            headers={"Accept": "application/json", "User-Agent": "snowbot"},
            timeout=timeout,
            transport=transport,
            event_hooks={"request": [check]} if checked else None,
        )
        return cls(http, url, retry=retry, allow_insecure=allow_insecure, allow_private=allow_private)

    def __repr__(self) -> str:
        return f"ServiceNowClient({self.instance_url!r})"

    async def __aenter__(self) -> ServiceNowClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- incidents (servicenow.incidents) -------------------------------------------------------------

    async def check_connection(self) -> None:
        """Read one incident id: proves the URL, the credentials and the read rights in one request."""
        await incidents.check_connection(self._api)

    async def has_table(self, kind: TicketKind) -> bool:
        """Whether the instance has the kind's table (False: 400 "Invalid table", e.g. no Agile plugin)."""
        return await incidents.has_table(self._api, kind)

    async def create_incident(self, fields: Mapping[str, object], *, kind: TicketKind = INCIDENT) -> Incident:
        """Create a ticket of `kind` from field values (sent as strings). Never retried: see the module doc."""
        return await incidents.create_incident(self._api, fields, kind=kind)

    async def get_incident(self, sys_id: str, *, kind: TicketKind = INCIDENT) -> Incident:
        """The ticket with this sys_id; `NotFoundError` if it does not exist (or cannot be read)."""
        return await incidents.get_incident(self._api, sys_id, kind=kind)

    async def get_incident_by_number(self, number: str, *, kind: TicketKind = INCIDENT) -> Incident | None:
        """The ticket numbered e.g. `INC0010001` (any case), or None."""
        return await incidents.get_incident_by_number(self._api, number, kind=kind)

    async def find_incident_by_correlation_id(
        self, correlation_id: str, *, kind: TicketKind = INCIDENT
    ) -> Incident | None:
        """The newest ticket of `kind` carrying this correlation_id, or None."""
        return await incidents.find_incident_by_correlation_id(self._api, correlation_id, kind=kind)

    async def search_incidents(
        self, text: str, page: int = 1, size: int = 20, *, kind: TicketKind = INCIDENT
    ) -> IncidentPage:
        """Newest first: a number prefix (`INC001`) matches numbers, other text the short description or
        the number; blank text lists all tickets of `kind`. `page` is 1-based."""
        return await incidents.search_incidents(self._api, text, page=page, size=size, kind=kind)

    async def get_incidents(self, sys_ids: Sequence[str], *, kind: TicketKind = INCIDENT) -> list[Incident]:
        """The tickets that exist among `sys_ids`, in the order asked (duplicates once), 100 per request."""
        return await incidents.get_incidents(self._api, sys_ids, kind=kind)

    async def add_work_note(
        self, sys_id: str, text: str, *, retry_safe: bool = False, kind: TicketKind = INCIDENT
    ) -> Incident:
        """Append a work note. Not retried unless `retry_safe`: a repeated PATCH adds the note twice. The
        answer has only the ticket's sys_id, number and state (`NOTE_FIELDS`)."""
        return await incidents.update_incident(
            self._api, sys_id, {"work_notes": text}, retry_safe=retry_safe, fields=NOTE_FIELDS, kind=kind
        )

    async def append_to_description(
        self,
        sys_id: str,
        text: str,
        work_note: str | None = None,
        *,
        retry_safe: bool = False,
        kind: TicketKind = INCIDENT,
    ) -> Incident:
        """Add `text` as a new paragraph of the description (a GET, then one PATCH), with an optional note."""
        return await incidents.append_to_description(
            self._api, sys_id, text, work_note=work_note, retry_safe=retry_safe, kind=kind
        )

    async def resolve(
        self,
        sys_id: str,
        close_code: str,
        close_notes: str,
        work_note: str | None = None,
        *,
        retry_safe: bool = False,
        kind: TicketKind = INCIDENT,
    ) -> Incident:
        """Resolve by the kind's rule (an incident: state 6 with its mandatory resolution code and notes);
        the answer has only the ticket's sys_id, number and state (`NOTE_FIELDS`).

        Without a work note this is idempotent, so callers may pass `retry_safe=True`.
        """
        return await incidents.resolve_incident(
            self._api,
            sys_id,
            close_code=close_code,
            close_notes=close_notes,
            work_note=work_note,
            retry_safe=retry_safe,
            kind=kind,
        )

    def incident_url(self, sys_id: str) -> str:
        """The link a person opens to see the incident."""
        return incident_url(self.instance_url, clean_sys_id(sys_id))

    # -- the journal (servicenow.journal) -------------------------------------------------------------

    async def list_work_notes(
        self, sys_id: str, limit: int = 100, *, kind: TicketKind = INCIDENT
    ) -> list[JournalEntry]:
        """The ticket's work notes, newest first (rows of sys_journal_field)."""
        return await journal.list_work_notes(self._api, sys_id, limit=limit, kind=kind)

    async def get_work_notes_text(self, sys_id: str, *, kind: TicketKind = INCIDENT) -> str:
        """The ticket's work notes as one text, newest first (the record's `work_notes` display value)."""
        return await journal.get_work_notes_text(self._api, sys_id, kind=kind)

    async def has_work_note(
        self, sys_id: str, marker: str, *, lookback: int = 100, kind: TicketKind = INCIDENT
    ) -> bool:
        """Whether a work note holding `marker` is on the ticket: sys_journal_field, else the record's
        work_notes when the journal refuses (403) or answers no rows."""
        return await journal.has_work_note(self._api, sys_id, marker, lookback=lookback, kind=kind)

    # -- drop-downs (servicenow.lookups) --------------------------------------------------------------

    async def list_choices(
        self, table: str, element: str, dependent_value: str | None = None
    ) -> list[Choice]:
        """Active English choices of `table.element` in display order; subcategories of one category when
        `dependent_value` is that category's value."""
        return await lookups.list_choices(self._api, table, element, dependent_value=dependent_value)

    async def search_groups(self, text: str, limit: int = 20) -> list[Group]:
        """Active assignment groups whose name contains `text` (all when blank), by name."""
        return await lookups.search_groups(self._api, text, limit=limit)

    async def search_users(self, text: str, limit: int = 20) -> list[User]:
        """Active users whose name, user name or email contains `text` (all when blank), by name."""
        return await lookups.search_users(self._api, text, limit=limit)

    async def find_user_by_email(self, email: str) -> User | None:
        """The active user with this email address, or None."""
        return await lookups.find_user_by_email(self._api, email)

    # -- read-only probes of the account's rights (`snowbot doctor`) ----------------------------------

    async def account_roles(self, user_name: str) -> list[str] | None:
        """The roles `user_name` holds (sys_user_has_role), or None when its sys_user row is not visible."""
        return await lookups.account_roles(self._api, user_name)

    async def sample_journal(self) -> int:
        """Work-note rows one small sys_journal_field read sees (0 or 1; 0 may mean a read ACL hides them)."""
        return await lookups.sample_journal(self._api)

    # -- changes back from ServiceNow (servicenow.changes) --------------------------------------------

    async def changed_since(
        self, kind: TicketKind, sys_ids: Sequence[str], since: str | None
    ) -> list[TicketChange]:
        """The tickets of `kind` among `sys_ids` updated after `since` (`sys_updated_on`, UTC
        `YYYY-MM-DD HH:MM:SS`; None: all of them), one query per 100."""
        return await changes.changed_since(self._api, kind, sys_ids, since)

    async def journal_since(self, kind: TicketKind, sys_ids: Sequence[str], since: str) -> list[JournalItem]:
        """Work notes and comments on up to 100 tickets created at or after `since`, oldest first
        (sys_journal_field, else the tickets' journal fields)."""
        return await changes.journal_since(self._api, kind, sys_ids, since)
