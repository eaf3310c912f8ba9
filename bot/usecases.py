"""snowbot's use cases: the operations Slack, the REST API and the sync job share.

`Snowbot` holds its dependencies (the database, the SecretBox, the settings, a Qualytics client and a
factory that builds a `ServiceNowClient` for an integration) and nothing global. Every failure it lets
out is a `UseCaseError` whose `message` a person can act on:

    UseCaseError
    ├── InvalidInput        a value the caller sent is wrong (`field` names it)
    ├── NotConfigured       snowbot itself lacks a setting (SNOWBOT_SECRET_KEY, QUALYTICS_URL, ...)
    ├── NotConnected        no ServiceNow integration has been connected yet
    ├── AnomalyNotFound     Qualytics has no such anomaly
    ├── TicketNotFound      ServiceNow has no such incident
    ├── LinkNotFound        no such link on that anomaly
    ├── AlreadyLinked       the incident is already linked to the anomaly
    ├── Upstream            ServiceNow or Qualytics failed: `system`, `kind` (timeout | unavailable | bad_gateway)
    └── StorageUnavailable  snowbot's database: DatabaseBusy (another writer holds it), DatabaseGone
                            (the file was deleted or replaced while running: restart)

Storage runs on the database's own thread (`storage.store`), never on the event loop. A create or a link
is recorded as an intent (`storage.intents`) before its ServiceNow write; what an interrupted request
left is reconciled on the next request for the anomaly and by `keep_reconciled` (from start-up on).

Callers never see a `ServiceNowError` or a `QualyticsError`: they are translated here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from math import ceil
from typing import Literal, Protocol, TypeVar
from weakref import WeakValueDictionary

from pydantic import SecretStr
from sqlite_utils import Database

from bot.models import (
    SHORT_DESCRIPTION_MAX,
    FormField,
    FormOption,
    FormSpecification,
    state_label,
)
from bot.settings import Settings
from qualytics_api import (
    ARCHIVE_STATUSES,
    Anomaly,
    Comment,
    QualyticsBadRequestError,
    QualyticsClient,
    QualyticsConfigError,
    QualyticsError,
    QualyticsNotFoundError,
    QualyticsTimeoutError,
    QualyticsUnavailableError,
)
from servicenow import (
    Choice,
    Credentials,
    Group,
    Incident,
    RetryPolicy,
    ServiceNowClient,
    User,
    parse_credentials,
    validate_instance_url,
)
from servicenow.errors import (
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    RateLimitError,
    ServerError,
    ServiceNowConnectionError,
    ServiceNowError,
    ServiceNowTimeoutError,
)
from storage import SecretBox, atomic, integrations, intents, links, sync
from storage.crypto import SecretKeyMismatchError
from storage.db import DatabaseFileGoneError
from storage.integrations import Integration
from storage.intents import Intent
from storage.links import Link
from storage.store import DatabaseBusyError, Store, store_for

log = logging.getLogger(__name__)

T = TypeVar("T")

System = Literal["servicenow", "qualytics"]
FailureKind = Literal["timeout", "unavailable", "bad_gateway"]

SYS_ID = re.compile(r"^[0-9a-fA-F]{32}$")
INCIDENT_NUMBER = re.compile(r"^INC\d{7,12}$", re.IGNORECASE)
LEVELS = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
PRIORITIES = {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"}
CONNECTED_MESSAGE = "The Integration has been successfully created."


# -------------------------------------------------------------------------------------------------- errors


class UseCaseError(Exception):
    """Base class: `message` says what a person should do next."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(UseCaseError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotConfigured(UseCaseError):
    """snowbot is missing a setting; only an operator can fix it."""


class NotConnected(UseCaseError):
    pass


class AnomalyNotFound(UseCaseError):
    def __init__(self, anomaly_id: int) -> None:
        super().__init__(f"Qualytics has no anomaly {anomaly_id} (or snowbot's token may not read it).")
        self.anomaly_id = anomaly_id


class TicketNotFound(UseCaseError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"ServiceNow has no incident {ticket_id} (or the service account may not read it).")
        self.ticket_id = ticket_id


class LinkNotFound(UseCaseError):
    pass


class AlreadyLinked(UseCaseError):
    def __init__(self, anomaly_id: int, ticket_number: str) -> None:
        super().__init__(f"{ticket_number} is already linked to anomaly {anomaly_id}.")
        self.anomaly_id = anomaly_id
        self.ticket_number = ticket_number


class Upstream(UseCaseError):
    """ServiceNow or Qualytics failed. `kind` maps to 504 (timeout), 503 (unavailable), 502 (bad_gateway)."""

    def __init__(
        self,
        message: str,
        *,
        system: System,
        kind: FailureKind,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.kind = kind
        self.status_code = status_code
        self.retry_after = retry_after


class StorageUnavailable(UseCaseError):
    """snowbot's database cannot be used now (503)."""


class DatabaseBusy(StorageUnavailable):
    """Another program held the database's write lock past the busy timeout."""


class DatabaseGone(StorageUnavailable):
    """The database file (SNOWBOT_DB) was deleted or replaced while snowbot ran: only a restart helps."""


DATABASE_BUSY = "The database is busy (another program holds its write lock): try again in a moment."


def database_gone(err: DatabaseFileGoneError) -> DatabaseGone:
    return DatabaseGone(
        f"snowbot's database file {err.path} (SNOWBOT_DB) was {err.what} while snowbot was running, so "
        "nothing can be saved: restart snowbot (restore the file first if it was not meant to go)."
    )


# -------------------------------------------------------------------------------- translating client errors


def servicenow_failure(err: ServiceNowError, action: str) -> UseCaseError:
    """One ServiceNow error -> the `UseCaseError` to show. The client's messages already carry the spec's
    troubleshooting advice (401: credentials format, locked account, basic auth restriction; 403: what was
    refused, in ServiceNow's words; timeout: the firewall; hibernating instance); this adds what snowbot
    was doing and how the API should answer."""
    if isinstance(err, ConfigurationError):
        return InvalidInput(err.message)
    if isinstance(err, QueryError):
        return InvalidInput(err.message, field="query")
    message = f"{action[:1].upper()}{action[1:]} failed: {err.message}"
    kind: FailureKind = "bad_gateway"
    retry_after = None
    if isinstance(err, ServiceNowTimeoutError):
        kind = "timeout"
    elif isinstance(err, ServiceNowConnectionError | InvalidResponseError):
        kind = "unavailable"
    elif isinstance(err, RateLimitError):
        kind, retry_after = "unavailable", err.retry_after
    elif isinstance(err, ServerError) and err.status_code in (503, 504):
        kind = "unavailable" if err.status_code == 503 else "timeout"
    return Upstream(
        message, system="servicenow", kind=kind, status_code=err.status_code, retry_after=retry_after
    )


def mentions_url(text: str, url: str) -> bool:
    """Whether `text` holds `url` itself, not merely a longer URL it starts (`...?id=824` in `...?id=8240`)."""
    return re.search(re.escape(url) + r"(?![\w\-~%=&/#+?@:]|\.\S)", text) is not None


def with_anomaly_block(text: str | None, block: str, url: str) -> str:
    """The incident description: the person's text, always with the link back to Qualytics (`url`).

    A text without the anomaly block gets the whole block after it. A text that holds the block (the
    prefilled Slack modal) is used as it is while it still links to the anomaly; when the link is gone (a
    long description truncated from the end, or the line deleted), `**View in Qualytics:** <url>` is added.
    """
    text = (text or "").strip()
    if not text:
        return block
    if mentions_url(text, url):
        return text + "\n"
    if BLOCK_HEADING in text:
        return f"{text}\n\n**View in Qualytics:** {url}\n"
    return f"{text}\n\n{block}"


def qualytics_failure(err: QualyticsError, action: str) -> UseCaseError:
    """One Qualytics error -> the `UseCaseError` to show (the client's message already says what to do)."""
    if isinstance(err, QualyticsConfigError):
        return NotConfigured(f"Qualytics is misconfigured: {err.message}")
    if isinstance(err, QualyticsUnavailableError):
        timed_out = isinstance(err, QualyticsTimeoutError)
        return Upstream(
            f"Qualytics failed while {action}: {err.message}",
            system="qualytics",
            kind="timeout" if timed_out else "unavailable",
            status_code=err.status_code,
            retry_after=getattr(err, "retry_after", None),
        )
    return Upstream(
        f"Qualytics failed while {action}: {err.message}",
        system="qualytics",
        kind="bad_gateway",
        status_code=err.status_code,
    )


@contextmanager
def _servicenow(action: str) -> Iterator[None]:
    try:
        yield
    except ServiceNowError as err:
        raise servicenow_failure(err, action) from err


@contextmanager
def _qualytics(anomaly_id: int, action: str) -> Iterator[None]:
    """A Qualytics change: unknown anomaly -> `AnomalyNotFound`, a refusal (e.g. commenting on an archived
    anomaly) -> `InvalidInput` with Qualytics' reason, anything else -> `qualytics_failure`."""
    try:
        yield
    except QualyticsNotFoundError:
        raise AnomalyNotFound(anomaly_id) from None
    except QualyticsBadRequestError as err:
        raise InvalidInput(f"{err.message[:1].upper()}{err.message[1:]}.") from err
    except QualyticsError as err:
        raise qualytics_failure(err, action) from err


# ------------------------------------------------------------------------------------------ values in, out


@dataclass(frozen=True)
class SlackContext:
    """Where in Slack a link was made, so the sync job can answer in the same thread."""

    channel_id: str
    thread_ts: str | None = None


@dataclass
class TicketForm:
    """What a person filled in to create an incident (the REST body's `title` is `short_description`)."""

    short_description: str
    description: str | None = None
    urgency: str | None = None
    impact: str | None = None
    category: str | None = None
    subcategory: str | None = None
    assignment_group: str | None = None
    assigned_to: str | None = None
    caller_id: str | None = None

    def validated(self) -> TicketForm:
        """The form with blanks made None; raises `InvalidInput` naming the first bad field."""
        clean = TicketForm(
            **{k: (v.strip() or None) if isinstance(v, str) else v for k, v in vars(self).items()}
        )
        if not clean.short_description:
            raise InvalidInput("A short description is required.", field="short_description")
        if len(clean.short_description) > SHORT_DESCRIPTION_MAX:
            raise InvalidInput(
                f"The short description has {len(clean.short_description)} characters; ServiceNow allows at most "
                f"{SHORT_DESCRIPTION_MAX}.",
                field="short_description",
            )
        for name in ("urgency", "impact"):
            value = getattr(clean, name)
            if value is not None and value not in LEVELS:
                raise InvalidInput(
                    f"{name.capitalize()} must be 1, 2 or 3 (1 - High ... 3 - Low).", field=name
                )
        for name, what in (
            ("assignment_group", "group (User Administration → Groups → Copy sys_id)"),
            ("assigned_to", "user"),
            ("caller_id", "user"),
        ):
            value = getattr(clean, name)
            if value is not None:
                if not SYS_ID.match(value):
                    raise InvalidInput(
                        f"{name.replace('_', ' ').capitalize()} must be the sys_id (32 hex characters) of the {what}, "
                        "not its name.",
                        field=name,
                    )
                setattr(clean, name, value.lower())
        return clean

    def incident_fields(self, description: str, correlation_id: str) -> dict[str, str]:
        fields = {
            "short_description": self.short_description,
            "description": description,
            "correlation_id": correlation_id,
        }
        for name in (
            "urgency",
            "impact",
            "category",
            "subcategory",
            "assignment_group",
            "assigned_to",
            "caller_id",
        ):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields


@dataclass(frozen=True)
class TicketCreated:
    incident: Incident
    link: Link
    anomaly_id: int
    integration_id: int
    message: str
    announced: bool = False
    """Made by an earlier, interrupted request and announced in Slack already: do not announce it again."""


@dataclass(frozen=True)
class TicketLinked:
    incident: Incident
    link: Link
    message: str


@dataclass(frozen=True)
class TicketPage:
    items: list[Incident]
    total: int
    page: int
    size: int
    pages: int


@dataclass(frozen=True)
class Connected:
    integration: Integration
    message: str = CONNECTED_MESSAGE


@dataclass(frozen=True)
class SyncHealth:
    """The outbox's counts and the last sync pass (`storage.sync`)."""

    pending: int
    failed: int
    done: int
    last_run_at: datetime | None
    last_run_summary: dict[str, object] = field(default_factory=dict)
    recent_failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Status:
    integrations: list[Integration]
    sync: SyncHealth
    refused_reads: list[str] = field(default_factory=list)
    """Reads the instance refused the service account (sys_choice, sys_journal_field), each with what
    ServiceNow said and the ACL that grants it (`ServiceNowClient.refused_reads`)."""


@dataclass(frozen=True)
class Overview:
    """What a status screen shows: the integrations, the sync's health and the newest links."""

    status: Status
    recent_links: list[Link]


@dataclass(frozen=True)
class TicketDraft:
    """What the create form starts from: the anomaly, its details block (the prefilled description), the
    form's fields and choices, and the ServiceNow user matching the person's e-mail (None: the service
    account files the incident)."""

    anomaly: Anomaly
    url: str
    description: str
    form: FormSpecification
    caller: User | None
    choices_hint: str | None = None
    """Why category and subcategory are free text (None: the instance's lists were read)."""


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


AnomalyChangedHook = Callable[[int], Awaitable[None]]
"""Told the id of an anomaly snowbot just changed in Qualytics, so the sync can push it at once."""

LinkAnnouncer = Callable[[Link, str], Awaitable[str | None]]
"""Posts, in the link's Slack channel (and thread), that a link was made ("create" or "link") by a request
that could not say so itself (it was interrupted); returns the message's ts (None: not posted)."""

Outcome = Literal["linked", "retired", "undecided"]


class ServiceNowFactory(Protocol):
    """Builds a client for an instance; tests and the demo inject in-process transports through it."""

    def __call__(self, instance_url: str, credentials: Credentials) -> ServiceNowClient: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


BLOCK_HEADING = "## Qualytics Anomaly Linked"


def anomaly_block(anomaly: Anomaly, url: str, now: datetime) -> str:
    """The anomaly details put into an incident's description, exactly as the spec's sample shows them."""
    created = anomaly.created if anomaly.created.tzinfo else anomaly.created.replace(tzinfo=UTC)
    checks = [f"- {check.message}" for check in anomaly.failed_checks] or ["- (none reported)"]
    lines = [
        f"{BLOCK_HEADING} [{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC]",
        "",
        f"**Anomaly ID:** {anomaly.id}",
        f"**Status:** {anomaly.status}",
        f"**Type:** {anomaly.type}",
        f"**Detected:** {created.astimezone(UTC)}",
        "",
        "**Failed Checks:**",
        *checks,
        "",
        f"**View in Qualytics:** {url}",
    ]
    return "\n".join(lines) + "\n"


def new_correlation_id(anomaly_id: int) -> str:
    return f"snowbot:{anomaly_id}:{uuid.uuid4().hex}"


def parse_ticket_id(ticket_id: str) -> tuple[Literal["sys_id", "number"], str]:
    """A sys_id (lower-cased) or an INC number (upper-cased); anything else is `InvalidInput`."""
    value = ticket_id.strip()
    if SYS_ID.match(value):
        return "sys_id", value.lower()
    if INCIDENT_NUMBER.match(value):
        return "number", value.upper()
    raise InvalidInput(
        "A ticket is identified by its sys_id (32 hex characters) or its number (e.g. INC0010006).",
        field="ticket_id",
    )


def _options(values: dict[str, str]) -> list[FormOption]:
    return [FormOption(value=value, label=label) for value, label in values.items()]


FORM_FIELDS_BEFORE_CHOICES = (
    FormField(
        name="title",
        servicenow_field="short_description",
        label="Short Description",
        type="string",
        required=True,
        max_length=SHORT_DESCRIPTION_MAX,
        help="Brief summary of the data quality issue.",
    ),
    FormField(
        name="description",
        servicenow_field="description",
        label="Description",
        type="text",
        help="Left empty, it is filled with the anomaly's details and a link back to Qualytics.",
    ),
    FormField(
        name="priority",
        servicenow_field="priority",
        label="Priority",
        type="choice",
        read_only=True,
        options=_options(PRIORITIES),
        help="Computed by ServiceNow from Impact x Urgency; a value sent is ignored.",
    ),
    FormField(
        name="urgency",
        servicenow_field="urgency",
        label="Urgency",
        type="choice",
        default="3",
        options=_options(LEVELS),
    ),
    FormField(
        name="impact",
        servicenow_field="impact",
        label="Impact",
        type="choice",
        default="3",
        options=_options(LEVELS),
    ),
)
FORM_FIELDS_AFTER_CHOICES = (
    FormField(
        name="assignment_group",
        servicenow_field="assignment_group",
        label="Assignment Group",
        type="reference",
        reference_table="sys_user_group",
        help="The group's sys_id, not its name (User Administration → Groups → Copy sys_id).",
    ),
    FormField(
        name="assigned_to",
        servicenow_field="assigned_to",
        label="Assigned To",
        type="reference",
        reference_table="sys_user",
        help="The assignee's sys_id.",
    ),
)


def _choice_field(
    name: str, label: str, choices: list[Choice] | None, depends_on: str | None = None
) -> FormField:
    """A drop-down of the instance's values, or free text when they could not be read."""
    if choices is None:
        return FormField(
            name=name,
            servicenow_field=name,
            label=label,
            type="string",
            max_length=100,
            depends_on=depends_on,
            help=f"The {label.lower()} value exactly as in ServiceNow (case-sensitive); the instance's choice "
            "list could not be read.",
        )
    options = [FormOption(value=c.value, label=c.label, dependent_value=c.dependent_value) for c in choices]
    return FormField(
        name=name, servicenow_field=name, label=label, type="choice", options=options, depends_on=depends_on
    )


# ------------------------------------------------------------------------------------------------- Snowbot


@dataclass
class _ChoiceCache:
    expires: float
    categories: list[Choice] | None
    subcategories: list[Choice] | None
    hint: str | None = None


CHOICES_REFUSED_HINT = (
    "Category and subcategory are free text: ServiceNow refused snowbot's read of its choice lists "
    "(sys_choice). An admin can grant read on sys_choice's label, value, element and dependent_value to the "
    "service account's role; `/snow status` shows the refusal."
)
CHOICES_UNAVAILABLE_HINT = (
    "Category and subcategory are free text: ServiceNow's choice lists (sys_choice) could not be read just "
    "now. Type the values exactly as ServiceNow stores them."
)


@dataclass
class Snowbot:
    """The use cases. One instance per process (and per event loop); `aclose()` releases the clients."""

    db: Database
    settings: Settings
    box: SecretBox | None
    qualytics: QualyticsClient | None
    servicenow_factory: ServiceNowFactory
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic
    choices_ttl: float = 300.0
    create_attempts: int = 3
    """POSTs of one incident while each provably never left (connect error or timeout, no free connection)."""
    create_settle: tuple[float, ...] = (0.5, 1.0, 2.0)
    """Waits between the look-ups of a create that may have been applied (a timeout, a lost answer, a
    502/504): ServiceNow may still be processing it. It is looked up once at once, then after each wait."""
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    anomaly_changed: AnomalyChangedHook | None = None
    """Called (best effort) after a chat-ops change; the Slack surface points it at the sync engine."""
    announcer: LinkAnnouncer | None = None
    """Announces in Slack what reconciling an interrupted request linked; the Slack surface sets it."""
    intent_settle: float = 300.0
    """Seconds after which an intent's write has surely ended (a POST held by the instance or a proxy
    included): found nothing by then, the write never happened and the intent is retired."""
    recovered_window: float = 3600.0
    """Seconds during which a create of the anomaly returns the incident an interrupted request made."""
    reconcile_interval: float = 60.0
    """Seconds between `keep_reconciled` rounds (sooner when a request leaves an intent behind)."""
    store: Store = field(init=False, repr=False)
    """The database's thread: every storage call goes through it (`_db`)."""
    _anomaly_locks: WeakValueDictionary[int, asyncio.Lock] = field(
        default_factory=WeakValueDictionary, init=False, repr=False
    )
    _reconcile_soon: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _reconciling: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    """One reconcile round at a time: a second caller waits for the round under way, then runs its own."""
    _clients: dict[int, tuple[str, ServiceNowClient]] = field(default_factory=dict, init=False, repr=False)
    _choices: dict[int, _ChoiceCache] = field(default_factory=dict, init=False, repr=False)
    _clients_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _retired: list[ServiceNowClient] = field(default_factory=list, init=False, repr=False)
    """Clients replaced (new credentials) while requests may still be using them: closed by `aclose()`."""
    _link_locks: WeakValueDictionary[tuple[int, str], asyncio.Lock] = field(
        default_factory=WeakValueDictionary, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.store = store_for(self.db)

    async def _db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(*args, **kwargs)` on the database's thread; its failures as `StorageUnavailable`."""
        try:
            return await self.store.run(fn, *args, **kwargs)
        except DatabaseBusyError as err:
            raise DatabaseBusy(DATABASE_BUSY) from err
        except DatabaseFileGoneError as err:
            raise database_gone(err) from None

    def check_database(self) -> None:
        """`DatabaseGone` when the database file was deleted or replaced (one `stat`, no waiting)."""
        try:
            self.store.check()
        except DatabaseFileGoneError as err:
            raise database_gone(err) from None

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        retired, self._retired = self._retired, []
        for client in [*(client for _, client in clients.values()), *retired]:
            await client.aclose()
        if self.qualytics is not None:
            await self.qualytics.aclose()

    # ---------------------------------------------------------------------------------- integrations

    async def connect(
        self, instance_url: str, credentials: str | SecretStr, actor: str | None = None
    ) -> Connected:
        """Validate, test (`GET incident?sysparm_limit=1`) and store a ServiceNow integration."""
        secret = credentials.get_secret_value() if isinstance(credentials, SecretStr) else credentials
        url = self._instance_url(instance_url)
        try:
            creds = parse_credentials(secret)
        except ConfigurationError as err:
            raise InvalidInput(err.message, field="credentials") from None
        if self.box is None:
            raise NotConfigured(
                "SNOWBOT_SECRET_KEY is not set, so snowbot will not store ServiceNow credentials. Set it to a long "
                "random string, or configure SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS in the environment."
            )
        known = await self._db(integrations.list_all, self.db)
        existing = next((i for i in known if i.instance_url == url), None)
        try:
            async with self.servicenow_factory(url, creds) as client:
                await client.check_connection()
        except ServiceNowError as err:
            failure = servicenow_failure(err, "testing the connection")
            if existing is not None:
                await self._db(integrations.set_status, self.db, existing.id, "Error", failure.message)
            log.info("connect to %s failed: %s", url, type(err).__name__)
            raise failure from err
        saved = await self._db(
            integrations.save,
            self.db,
            self.box,
            instance_url=url,
            username=creds.username,
            password=creds.password,
            source="user",
        )
        await self._db(integrations.set_status, self.db, saved.id, "Connected")
        await self._forget_client(saved.id)
        log.info("ServiceNow integration %s connected to %s by %s", saved.id, url, actor or "unknown")
        return Connected(integration=await self._db(integrations.get, self.db, saved.id) or saved)

    def ensure_env_integration(self) -> Integration | None:
        """Record the integration configured by SERVICENOW_INSTANCE_URL / SERVICENOW_CREDENTIALS (source "env").

        Its password is always read from the settings and never stored. No request is made: see
        `check_connection`.
        """
        url, secret = self.settings.servicenow_instance_url, self.settings.servicenow_credentials_value
        if not url or not secret:
            return None
        url = self._instance_url(url)
        try:
            creds = parse_credentials(secret)
        except ConfigurationError as err:
            raise NotConfigured(f"SERVICENOW_CREDENTIALS: {err.message}") from None
        for known in integrations.list_all(self.db):
            if known.instance_url == url and (known.source == "user" or known.username == creds.username):
                return known  # unchanged, or connected through the bot since: that connection wins
        current = integrations.default(self.db)
        return integrations.save(
            self.db,
            None,  # nothing secret is stored for "env": no SecretBox is needed
            instance_url=url,
            username=creds.username,
            password=None,
            source="env",
            make_default=current is None or current.source == "env",
        )

    async def check_connection(self, integration_id: int | None = None) -> Integration:
        """Test an integration again and record Connected or Error (with the reason)."""
        integration = await self._integration(integration_id)
        try:
            client = await self._client(integration)
            await client.check_connection()
        except ServiceNowError as err:
            failure = servicenow_failure(err, "testing the connection")
            await self._db(integrations.set_status, self.db, integration.id, "Error", failure.message)
            raise failure from err
        await self._db(integrations.set_status, self.db, integration.id, "Connected")
        return await self._db(integrations.get, self.db, integration.id) or integration

    async def list_integrations(self) -> list[Integration]:
        return await self._db(integrations.list_all, self.db)

    # ------------------------------------------------------------------------------------------ tickets

    async def create_ticket_for_anomaly(
        self, anomaly_id: int, form: TicketForm, actor: str | None, slack_context: SlackContext | None = None
    ) -> TicketCreated:
        """Create an incident from an anomaly and link them, once: the intent is recorded before the POST
        (`DatabaseBusy` "nothing was created" when it cannot be), and an earlier request for the anomaly
        that was interrupted is reconciled first: the incident it made is returned, never a second."""
        form = form.validated()
        integration = await self._integration()
        anomaly = await self._anomaly(anomaly_id)
        client = await self._client(integration)
        await self._check_choices(integration, form)
        async with self._anomaly_lock(anomaly_id):
            earlier = await self._earlier_create(client, anomaly_id, slack_context)
            if earlier is not None:
                return earlier
            url = self._anomaly_url(anomaly)
            description = with_anomaly_block(form.description, anomaly_block(anomaly, url, self.clock()), url)
            correlation_id = new_correlation_id(anomaly_id)
            fields = form.incident_fields(description, correlation_id)
            intent = await self._record_intent(
                "create",
                integration,
                anomaly,
                actor,
                slack_context,
                fields=fields,
                correlation_id=correlation_id,
            )
            incident = await self._create_exactly_once(client, fields, refused=partial(self._retire, intent))
            link = await self._link_from_intent(intent, incident)
        log.info("incident %s created for anomaly %s by %s", incident.number, anomaly_id, actor or "unknown")
        return TicketCreated(
            incident=incident,
            link=link,
            anomaly_id=anomaly_id,
            integration_id=integration.id,
            message=f"Ticket {incident.number} created and linked to anomaly {anomaly_id}",
        )

    async def link_existing_ticket(
        self, anomaly_id: int, ticket_id: str, actor: str | None, slack_context: SlackContext | None = None
    ) -> TicketLinked:
        """Link an incident (sys_id or INC number): append the anomaly to its description, add a work note."""
        kind, value = parse_ticket_id(ticket_id)
        integration = await self._integration()
        anomaly = await self._anomaly(anomaly_id)
        return await self._link(integration, anomaly, kind, value, actor, slack_context)

    async def _link(
        self,
        integration: Integration,
        anomaly: Anomaly,
        kind: str,
        value: str,
        actor: str | None,
        slack_context: SlackContext | None,
    ) -> TicketLinked:
        anomaly_id = anomaly.id
        await self._refuse_duplicate(anomaly_id, sys_id=value if kind == "sys_id" else None, number=value)
        client = await self._client(integration)
        incident = await self._find_incident(client, kind, value)
        # One description edit per incident at a time: two links to it at once (the same anomaly twice, or
        # two anomalies) must not both read the description and each write back only their own block.
        async with self._link_lock(integration.id, incident.sys_id), self._anomaly_lock(anomaly_id):
            await self._refuse_duplicate(anomaly_id, sys_id=incident.sys_id, number=incident.number)
            link = await self._earlier_link(anomaly_id, incident.sys_id)
            if link is not None:
                return TicketLinked(
                    incident=incident,
                    link=link,
                    message=f"Ticket {incident.number} linked to anomaly {anomaly_id}",
                )
            url = self._anomaly_url(anomaly)
            note = f"Linked to Qualytics anomaly {anomaly.id} by {actor or 'snowbot'}: {url}"
            intent = await self._record_intent(
                "link",
                integration,
                anomaly,
                actor,
                slack_context,
                fields={"url": url, "work_note": note},
                incident=incident,
            )
            try:
                incident = await self._append_anomaly(client, incident, anomaly, actor)
            except UseCaseError as err:
                cause = err.__cause__
                if not (isinstance(cause, ServiceNowError) and cause.may_be_applied):
                    await self._retire(intent)  # the PATCH provably did not apply
                raise
            link = await self._link_from_intent(intent, incident)
        return TicketLinked(
            incident=incident, link=link, message=f"Ticket {incident.number} linked to anomaly {anomaly_id}"
        )

    async def _append_anomaly(
        self, client: ServiceNowClient, incident: Incident, anomaly: Anomaly, actor: str | None
    ) -> Incident:
        """Append the anomaly block and a work note (one PATCH) at most once.

        The description is read again first: when it already links to the anomaly (an earlier attempt was
        applied but its answer lost, so no link was stored) nothing is appended. When the PATCH fails in a
        way that may have been applied anyway (a timeout, a lost answer, a 502/504), one more read decides.
        """
        url = self._anomaly_url(anomaly)
        action = f"appending anomaly {anomaly.id} to {incident.number}"
        with _servicenow(f"reading incident {incident.number}"):
            current = await client.get_incident(incident.sys_id)
        if mentions_url(current.description, url):
            log.info("%s already links to anomaly %s: nothing appended", incident.number, anomaly.id)
            return current
        note = f"Linked to Qualytics anomaly {anomaly.id} by {actor or 'snowbot'}: {url}"
        try:
            return await client.append_to_description(
                incident.sys_id, anomaly_block(anomaly, url, self.clock()), work_note=note
            )
        except ServiceNowError as err:
            if not err.may_be_applied:
                raise servicenow_failure(err, action) from err
            lost = err
        try:
            current = await client.get_incident(incident.sys_id)
        except ServiceNowError:
            raise servicenow_failure(lost, action) from lost
        if not mentions_url(current.description, url):
            raise servicenow_failure(lost, action) from lost
        log.warning("%s: applied although the answer was lost (%s)", action, type(lost).__name__)
        return current

    async def list_links(self, anomaly_id: int) -> list[Link]:
        """The anomaly's links (number, state, last sync, URL). With none stored, an unknown anomaly is 404."""
        found = await self._db(links.for_anomaly, self.db, anomaly_id)
        if not found:
            await self._anomaly(anomaly_id)
        return found

    async def attach_thread(self, link_id: int, channel_id: str, thread_ts: str) -> None:
        """The message announcing a link made outside any thread becomes its thread: when the incident
        is resolved, the sync answers there."""
        await self._db(links.set_thread, self.db, link_id, channel_id, thread_ts)

    async def unlink(self, anomaly_id: int, link_id: int, actor: str | None = None) -> None:
        link = await self._db(links.get, self.db, link_id)
        if link is None or link.anomaly_id != anomaly_id:
            raise LinkNotFound(f"Anomaly {anomaly_id} has no ticket link {link_id}.")
        await self._db(links.delete, self.db, link_id)
        log.info(
            "link %s (%s, anomaly %s) removed by %s",
            link_id,
            link.ticket_number,
            anomaly_id,
            actor or "unknown",
        )

    async def search_tickets(self, query: str = "", page: int = 1, size: int = 20) -> TicketPage:
        if page < 1:
            raise InvalidInput("page starts at 1.", field="page")
        if not 1 <= size <= 100:
            raise InvalidInput("size must be between 1 and 100.", field="size")
        client = await self._client(await self._integration())
        with _servicenow("searching incidents"):
            found = await client.search_incidents(query.strip(), page=page, size=size)
        return TicketPage(
            items=list(found.items),
            total=found.total,
            page=page,
            size=size,
            pages=ceil(found.total / size) if found.total else 0,
        )

    async def get_ticket(self, ticket_id: str) -> Incident:
        kind, value = parse_ticket_id(ticket_id)
        client = await self._client(await self._integration())
        return await self._find_incident(client, kind, value)

    # --------------------------------------------------------------------------------- form and lookups

    async def form_specification(self) -> FormSpecification:
        """The create form: labels, types, required flags and allowed values (category/subcategory from the
        instance's sys_choice, cached; free text when they cannot be read)."""
        categories, subcategories = await self._instance_choices()
        return FormSpecification(
            fields=[
                *FORM_FIELDS_BEFORE_CHOICES,
                _choice_field("category", "Category", categories),
                _choice_field("subcategory", "Subcategory", subcategories, depends_on="category"),
                *FORM_FIELDS_AFTER_CHOICES,
            ],
            choices_source="free_text" if categories is None else "instance",
        )

    async def search_groups(self, text: str, limit: int = 20) -> list[Group]:
        client = await self._client(await self._integration())
        with _servicenow("searching assignment groups"):
            return await client.search_groups(text, limit=limit)

    async def search_users(self, text: str, limit: int = 20) -> list[User]:
        client = await self._client(await self._integration())
        with _servicenow("searching users"):
            return await client.search_users(text, limit=limit)

    async def caller_for_email(self, email: str) -> User | None:
        """The ServiceNow user with this e-mail, best effort: None when unknown or unreachable."""
        if not email or "@" not in email:
            return None
        try:
            client = await self._client(await self._integration())
            return await client.find_user_by_email(email)
        except (UseCaseError, ServiceNowError) as err:
            log.info("no caller for an e-mail address: %s", type(err).__name__)
            return None

    async def status(self) -> Status:
        return await self._db(self._status)

    def _status(self) -> Status:
        refused = [text for _, client in self._clients.values() for text in client.refused_reads.values()]
        return Status(
            integrations=integrations.list_all(self.db), sync=self._sync_health(), refused_reads=refused
        )

    async def overview(self, recent: int = 10) -> Overview:
        """`status()` plus the `recent` newest links (Slack's App Home and `/snow status`)."""
        status = await self.status()
        return Overview(status=status, recent_links=await self._db(links.recent, self.db, recent))

    async def ticket_draft(self, anomaly_id: int, caller_email: str | None = None) -> TicketDraft:
        """Everything a create form is prefilled with; the anomaly is read, the rest is best effort."""
        anomaly, form, caller = await asyncio.gather(
            self._anomaly(anomaly_id), self.form_specification(), self.caller_for_email(caller_email or "")
        )
        url = self._anomaly_url(anomaly)
        return TicketDraft(
            anomaly=anomaly,
            url=url,
            description=anomaly_block(anomaly, url, self.clock()),
            form=form,
            caller=caller,
            choices_hint=await self._choices_hint() if form.choices_source == "free_text" else None,
        )

    async def anomaly_card(self, anomaly_id: int, anomaly: Anomaly | None = None) -> AnomalyCard:
        """The anomaly (read from Qualytics unless given, e.g. just changed) and its links, for its card."""
        anomaly = anomaly or await self._anomaly(anomaly_id)
        return AnomalyCard(anomaly, self._anomaly_url(anomaly), links.for_anomaly(self.db, anomaly_id))

    # ------------------------------------------------------------------------------------------ chat-ops

    async def acknowledge_anomaly(self, anomaly_id: int, actor: str | None = None) -> AnomalyChanged:
        """Set the anomaly to Acknowledged in Qualytics (as snowbot's token), then tell the sync."""
        qualytics = self._qualytics()
        with _qualytics(anomaly_id, f"acknowledging anomaly {anomaly_id}"):
            anomaly = await qualytics.acknowledge(anomaly_id)
        log.info("anomaly %s acknowledged by %s", anomaly_id, actor or "unknown")
        await self._changed(anomaly_id)
        return AnomalyChanged(anomaly, self._anomaly_url(anomaly), f"Anomaly {anomaly_id} acknowledged.")

    async def archive_anomaly(
        self, anomaly_id: int, status: str = "Resolved", actor: str | None = None
    ) -> AnomalyChanged:
        """Archive the anomaly as Resolved, Duplicate, Invalid or Discarded, then tell the sync."""
        if status not in ARCHIVE_STATUSES:
            raise InvalidInput(
                f"An anomaly is archived as one of: {', '.join(ARCHIVE_STATUSES)}.", field="status"
            )
        qualytics = self._qualytics()
        with _qualytics(anomaly_id, f"archiving anomaly {anomaly_id}"):
            await qualytics.archive(anomaly_id, status)
            anomaly = await qualytics.get_anomaly(anomaly_id)
        log.info("anomaly %s archived as %s by %s", anomaly_id, status, actor or "unknown")
        await self._changed(anomaly_id)
        return AnomalyChanged(
            anomaly, self._anomaly_url(anomaly), f"Anomaly {anomaly_id} archived as {status}."
        )

    async def comment_on_anomaly(
        self, anomaly_id: int, text: str, author: str, via: str = "Slack"
    ) -> AnomalyChanged:
        """Comment in Qualytics as `<author> via <via>: <text>` (the token's user posts it), then tell the sync."""
        text = text.strip()
        if not text:
            raise InvalidInput("A comment needs some text.", field="comment")
        qualytics = self._qualytics()
        with _qualytics(anomaly_id, f"commenting on anomaly {anomaly_id}"):
            comment: Comment = await qualytics.add_comment(anomaly_id, f"{author} via {via}: {text}")
            anomaly = await qualytics.get_anomaly(anomaly_id)
        log.info("comment %s added to anomaly %s by %s", comment.id, anomaly_id, author)
        await self._changed(anomaly_id)
        return AnomalyChanged(anomaly, self._anomaly_url(anomaly), f"Comment added to anomaly {anomaly_id}.")

    # ----------------------------------------------------------------------------------------- internals

    def _instance_url(self, url: str) -> str:
        try:
            return validate_instance_url(
                url,
                allow_insecure=self.settings.allow_insecure_instance,
                allow_private=self.settings.allow_private_instance,
            )
        except ConfigurationError as err:
            raise InvalidInput(err.message, field="instance_url") from None

    async def _integration(self, integration_id: int | None = None) -> Integration:
        found = await self._db(
            lambda: (
                integrations.default(self.db)
                if integration_id is None
                else integrations.get(self.db, integration_id)
            )
        )
        if found is None:
            raise NotConnected(
                "ServiceNow is not connected yet: connect it with POST /api/integrations/ticketing "
                "(instance URL and username:password) or set SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS."
            )
        return found

    async def _credentials(self, integration: Integration) -> Credentials:
        if integration.source == "env":
            secret = self.settings.servicenow_credentials_value
            if not secret:
                raise NotConfigured(
                    "This integration comes from the environment but SERVICENOW_CREDENTIALS is not set any more; "
                    "set it again or connect ServiceNow with POST /api/integrations/ticketing."
                )
            return parse_credentials(secret)
        if self.box is None:
            raise NotConfigured(
                "SNOWBOT_SECRET_KEY is not set, so the stored ServiceNow credentials cannot be decrypted; set it to "
                "the key used when the integration was connected."
            )
        try:
            password = await self._db(integrations.password, self.db, self.box, integration)
        except SecretKeyMismatchError as err:
            raise NotConfigured(str(err)) from None
        return Credentials(username=integration.username, password=password)

    async def servicenow_client(self, integration_id: int) -> ServiceNowClient:
        """The cached ServiceNow client of an integration (the sync job pushes through it)."""
        return await self._client(await self._integration(integration_id))

    async def _client(self, integration: Integration) -> ServiceNowClient:
        creds = await self._credentials(integration)
        fingerprint = hashlib.sha256(
            f"{integration.instance_url}\0{creds.username}\0{creds.password.get_secret_value()}".encode()
        ).hexdigest()
        async with self._clients_lock:  # two callers seeing a stale client build one new client
            cached = self._clients.get(integration.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            self._retire_client(integration.id)
            client = self.servicenow_factory(integration.instance_url, creds)
            self._clients[integration.id] = (fingerprint, client)
            return client

    async def _forget_client(self, integration_id: int) -> None:
        """Stop using the integration's cached client (its credentials were saved again)."""
        async with self._clients_lock:
            self._retire_client(integration_id)

    def _retire_client(self, integration_id: int) -> None:
        """Drop the cached client without closing it: requests may still be in flight on it (`aclose()`
        closes it with the others)."""
        cached = self._clients.pop(integration_id, None)
        if cached is not None:
            self._retired.append(cached[1])
        self._choices.pop(integration_id, None)

    def _qualytics(self) -> QualyticsClient:
        if self.qualytics is None:
            raise NotConfigured("Qualytics is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN.")
        return self.qualytics

    async def _changed(self, anomaly_id: int) -> None:
        """Tell the `anomaly_changed` hook; the change is made already, so a failing hook is only logged
        (the next scheduled sync pass still pushes it)."""
        if self.anomaly_changed is None:
            return
        try:
            await self.anomaly_changed(anomaly_id)
        except Exception:
            log.exception("the anomaly_changed hook failed for anomaly %s", anomaly_id)

    async def _anomaly(self, anomaly_id: int) -> Anomaly:
        if self.qualytics is None:
            raise NotConfigured("Qualytics is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN.")
        try:
            return await self.qualytics.get_anomaly(anomaly_id)
        except QualyticsNotFoundError:
            raise AnomalyNotFound(anomaly_id) from None
        except QualyticsError as err:
            raise qualytics_failure(err, f"reading anomaly {anomaly_id}") from err

    def _anomaly_url(self, anomaly: Anomaly) -> str:
        assert self.qualytics is not None  # _anomaly() checked it
        return self.qualytics.anomaly_url(anomaly)

    async def _find_incident(self, client: ServiceNowClient, kind: str, value: str) -> Incident:
        try:
            if kind == "sys_id":
                return await client.get_incident(value)
            found = await client.get_incident_by_number(value)
        except NotFoundError:
            raise TicketNotFound(value) from None
        except ServiceNowError as err:
            raise servicenow_failure(err, f"reading incident {value}") from err
        if found is None:
            raise TicketNotFound(value)
        return found

    def _link_lock(self, integration_id: int, sys_id: str) -> asyncio.Lock:
        """The lock of one incident's description (held while a link appends to it)."""
        key = (integration_id, sys_id)
        lock = self._link_locks.get(key)
        if lock is None:
            lock = self._link_locks[key] = asyncio.Lock()
        return lock

    async def _refuse_duplicate(self, anomaly_id: int, *, sys_id: str | None, number: str) -> None:
        for link in await self._db(links.for_anomaly, self.db, anomaly_id):
            if link.ticket_sys_id == sys_id or link.ticket_number.upper() == number.upper():
                raise AlreadyLinked(anomaly_id, link.ticket_number)

    def _anomaly_lock(self, anomaly_id: int) -> asyncio.Lock:
        """Held from an anomaly's intent to its link (and while reconciling it): one at a time here."""
        lock = self._anomaly_locks.get(anomaly_id)
        if lock is None:
            lock = self._anomaly_locks[anomaly_id] = asyncio.Lock()
        return lock

    async def _record_intent(
        self,
        kind: intents.Kind,
        integration: Integration,
        anomaly: Anomaly,
        actor: str | None,
        slack: SlackContext | None,
        *,
        fields: dict[str, str],
        correlation_id: str | None = None,
        incident: Incident | None = None,
    ) -> Intent:
        """The intent, durable before the ServiceNow write; refused: nothing was sent (`DatabaseBusy`/`DatabaseGone`)."""
        try:
            return await self._db(
                intents.record,
                self.db,
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
                now=self.clock(),
            )
        except DatabaseBusy as err:
            what = "nothing was created" if kind == "create" else "nothing was changed in ServiceNow"
            raise DatabaseBusy(
                f"The database is busy (another program holds its write lock), {what}: try again in a moment."
            ) from err

    async def _retire(self, intent: Intent) -> None:
        """Forget an intent whose write provably did not happen (best effort: reconciling retires it too)."""
        try:
            await self._db(intents.finish, self.db, intent.id)
        except StorageUnavailable as err:
            log.warning("intent %s could not be retired now: %s", intent.id, err.message)

    async def _link_from_intent(self, intent: Intent, incident: Incident) -> Link:
        """Store the link and delete the intent in one transaction. Refused (the database busy or gone)
        after ServiceNow did the work: the intent stays, reconciling finishes it, and the person is told."""
        try:
            return await self._db(self._store_link, intent, incident, finish=True)
        except DatabaseBusy as err:
            self._reconcile_soon.set()
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

    def _store_link(self, intent: Intent, incident: Incident, *, finish: bool) -> Link:
        """On the database thread, one transaction: the link with its sync baseline (the anomaly as it was
        when asked), then the intent deleted (`finish`) or marked linked (reconciled). A link another
        reconciliation stored already is used as it is."""
        with atomic(self.db):
            current = intents.get(self.db, intent.id)
            link = links.get(self.db, current.link_id) if current and current.link_id else None
            link = link or next(
                (
                    known
                    for known in links.for_anomaly(self.db, intent.anomaly_id)
                    if known.integration_id == intent.integration_id
                    and known.ticket_sys_id == incident.sys_id
                ),
                None,
            )
            if link is None:
                link = links.add(
                    self.db,
                    anomaly_id=intent.anomaly_id,
                    integration_id=intent.integration_id,
                    ticket_sys_id=incident.sys_id,
                    ticket_number=incident.number,
                    status=state_label(incident.state, incident.state_label),
                    url=incident.url,
                    created_by=intent.actor,
                    channel_id=intent.channel_id,
                    thread_ts=intent.thread_ts,
                )
                baseline = intent.baseline
                sync.init_state(
                    self.db, link.id, baseline["status"], baseline["archived"], baseline["comment_ids"]
                )
            if current is not None:
                if finish:
                    intents.finish(self.db, intent.id)
                else:
                    intents.mark_linked(self.db, intent.id, link.id)
        return link

    # ---------------------------------------------------------------------------------- reconciling

    def _settled(self, intent: Intent) -> bool:
        """Old enough that its ServiceNow write has surely ended (see `intent_settle`)."""
        return self.clock() - intent.created_at >= timedelta(seconds=self.intent_settle)

    async def _reconcile(self, intent: Intent) -> Outcome:
        """Find what an interrupted intent's write did: linked (the incident exists, or the description or
        journal shows the anomaly), retired (provably not done, and too old to be still in flight), or
        undecided (not found yet, or ServiceNow could not be asked)."""
        client = await self._client(await self._integration(intent.integration_id))
        try:
            if intent.kind == "create":
                assert intent.correlation_id is not None
                incident = await client.find_incident_by_correlation_id(intent.correlation_id)
            else:
                assert intent.ticket_sys_id is not None
                incident = await client.get_incident(intent.ticket_sys_id)
                if not await self._shows_link(client, incident, intent):
                    incident = None
        except NotFoundError:
            incident = None  # the incident to link was deleted: nothing can have been appended
        except ServiceNowError as err:
            log.info("intent %s not reconciled now: %s", intent.id, type(err).__name__)
            return "undecided"
        if incident is not None:
            await self._db(self._store_link, intent, incident, finish=False)
            log.info(
                "intent %s (%s of anomaly %s) reconciled: %s",
                intent.id,
                intent.kind,
                intent.anomaly_id,
                incident.number,
            )
            return "linked"
        if not self._settled(intent):
            return "undecided"
        await self._db(intents.finish, self.db, intent.id)
        log.info(
            "intent %s (%s of anomaly %s) retired: its write never happened",
            intent.id,
            intent.kind,
            intent.anomaly_id,
        )
        return "retired"

    async def _shows_link(self, client: ServiceNowClient, incident: Incident, intent: Intent) -> bool:
        """Whether a link's PATCH was applied: the description links to the anomaly, or the journal holds
        its work note (the same PATCH wrote both; sys_journal_field may be closed: then the incident's
        work_notes text)."""
        if mentions_url(incident.description, intent.fields["url"]):
            return True
        note = intent.fields["work_note"]
        try:
            return any(note in entry.text for entry in await client.list_work_notes(incident.sys_id))
        except PermissionDeniedError:
            return note in incident.work_notes

    async def _earlier_create(
        self, client: ServiceNowClient, anomaly_id: int, slack: SlackContext | None
    ) -> TicketCreated | None:
        """The incident an interrupted create of this anomaly made (reconciled now, or at start-up within
        `recovered_window`), claimed for this request; None when there is none. An earlier create that may
        still be in flight refuses this one (`Upstream`) rather than risk a second incident."""
        for intent in await self._db(intents.open_intents, self.db, anomaly_id, "create"):
            if await self._reconcile(intent) == "undecided":
                raise Upstream(
                    f"An earlier request to create an incident for anomaly {anomaly_id} was interrupted and "
                    f"ServiceNow does not show it yet (correlation id {intent.correlation_id}); try again in a few "
                    "minutes: snowbot links it if it appears and only then allows a new one.",
                    system="servicenow",
                    kind="unavailable",
                )
        since = self.clock() - timedelta(seconds=self.recovered_window)
        recovered = await self._db(intents.linked_create, self.db, anomaly_id, since)
        if recovered is None or recovered.link_id is None:
            return None
        if not await self._db(intents.finish, self.db, recovered.id):
            return None  # another request claimed it
        link = await self._db(links.get, self.db, recovered.link_id)
        if link is None:
            return None
        incident = await self._find_incident(client, "sys_id", link.ticket_sys_id)
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

    async def _earlier_link(self, anomaly_id: int, sys_id: str) -> Link | None:
        """An interrupted link of this anomaly to this incident: its link once reconciled; `Upstream` while
        its PATCH may still be in flight; None when there is none (or it was retired)."""
        for intent in await self._db(intents.open_intents, self.db, anomaly_id, "link"):
            if intent.ticket_sys_id != sys_id:
                continue
            outcome = await self._reconcile(intent)
            if outcome == "undecided":
                raise Upstream(
                    f"An earlier request to link {intent.ticket_number} to anomaly {anomaly_id} was interrupted and "
                    "ServiceNow does not show it yet; try again in a few minutes.",
                    system="servicenow",
                    kind="unavailable",
                )
            if outcome == "linked":
                linked = await self._db(intents.get, self.db, intent.id)
                await self._db(intents.finish, self.db, intent.id)
                return (
                    await self._db(links.get, self.db, linked.link_id) if linked and linked.link_id else None
                )
        return None

    async def reconcile_intents(self) -> dict[str, int]:
        """One round: every open intent not held by a request of this process is reconciled, then the
        reconciled ones made from Slack are announced (through `announcer`, at most once each). Returns
        how many were linked, retired, left undecided and announced."""
        async with self._reconciling:
            return await self._reconcile_round()

    async def _reconcile_round(self) -> dict[str, int]:
        counts = {"linked": 0, "retired": 0, "undecided": 0, "announced": 0}
        await self._db(intents.purge_linked, self.db, self.clock() - timedelta(seconds=self.recovered_window))
        for intent in await self._db(intents.open_intents, self.db):
            lock = self._anomaly_lock(intent.anomaly_id)
            if lock.locked():
                counts["undecided"] += 1
                continue
            async with lock:
                current = await self._db(intents.get, self.db, intent.id)
                if current is None or not current.open:
                    continue
                try:
                    counts[await self._reconcile(current)] += 1
                except UseCaseError as err:
                    log.warning("intent %s not reconciled now: %s", intent.id, err.message)
                    counts["undecided"] += 1
        if self.announcer is not None:
            for intent in await self._db(intents.to_announce, self.db):
                link = await self._db(links.get, self.db, intent.link_id) if intent.link_id else None
                if link is not None and await self._announce(intent, link):
                    counts["announced"] += 1
        return counts

    async def _announce(self, intent: Intent, link: Link) -> bool:
        """Announce a reconciled link in its Slack place, at most once (claimed first); a message posted
        outside a thread becomes the link's thread."""
        if self.announcer is None or not await self._db(
            intents.claim_announcement, self.db, intent.id, now=self.clock()
        ):
            return False
        try:
            posted = await self.announcer(link, intent.kind)
        except Exception:
            log.exception("announcing %s in Slack failed", link.ticket_number)
            return False
        if posted and link.channel_id and not link.thread_ts:
            await self.attach_thread(link.id, link.channel_id, posted)
        return posted is not None

    async def keep_reconciled(self) -> None:
        """Reconcile at once (what an earlier process left), then every `reconcile_interval` or as soon as
        a request leaves an intent behind, until cancelled. Failures are logged and tried again."""
        while True:
            self._reconcile_soon.clear()
            try:
                counts = await self.reconcile_intents()
            except UseCaseError as err:
                log.warning("reconciling interrupted creates and links failed: %s", err.message)
            else:
                if any(counts.values()):
                    log.info("reconciled interrupted creates and links: %s", counts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile_soon.wait(), self.reconcile_interval)

    async def _create_exactly_once(
        self,
        client: ServiceNowClient,
        fields: dict[str, str],
        refused: Callable[[], Awaitable[None]] | None = None,
    ) -> Incident:
        """POST the incident; never two incidents for one correlation id.

        A POST that provably never left (connect error or timeout, no free connection) is sent again, up to
        `create_attempts` in all. One that may have been applied (a read or write timeout, a lost answer, a
        502/504 from a proxy) is never sent again: `_confirm_created` looks for it instead. `refused` is
        awaited when ServiceNow provably made nothing (the intent is retired).
        """
        correlation_id = fields["correlation_id"]
        attempt = 0
        while True:
            attempt += 1
            try:
                return await client.create_incident(fields)
            except ServiceNowError as err:
                if err.may_be_applied:
                    log.warning(
                        "create incident %s: attempt %s may have been applied (%s); looking it up",
                        correlation_id,
                        attempt,
                        type(err).__name__,
                    )
                    return await self._confirm_created(client, correlation_id, err)
                if not isinstance(err, ServiceNowConnectionError) or attempt >= self.create_attempts:
                    if refused is not None:
                        await refused()
                    raise servicenow_failure(err, "creating the incident") from err
                log.warning(
                    "create incident %s: attempt %s never left (%s); sending it again",
                    correlation_id,
                    attempt,
                    type(err).__name__,
                )

    async def _confirm_created(
        self, client: ServiceNowClient, correlation_id: str, lost: ServiceNowError
    ) -> Incident:
        """The incident made by a create that may have been applied: looked up by correlation id at once,
        then after each `create_settle` wait (ServiceNow may still be processing the POST). Still not found:
        `Upstream` saying so, and the create is not sent again (nothing is stored)."""
        unanswered: ServiceNowError | None = None
        for wait in (0.0, *self.create_settle):
            if wait:
                await self.sleep(wait)
            try:
                found = await client.find_incident_by_correlation_id(correlation_id)
            except ServiceNowError as err:
                if not RetryPolicy.is_transient(err):
                    failure = servicenow_failure(err, "looking the incident up")
                    raise Upstream(
                        f"ServiceNow did not confirm whether the incident was created and could not be asked "
                        f"({err.message}). Search ServiceNow for correlation id {correlation_id} before trying "
                        "again.",
                        system="servicenow",
                        kind=failure.kind if isinstance(failure, Upstream) else "bad_gateway",
                        status_code=err.status_code,
                    ) from err
                unanswered = err
                continue
            if found is not None:
                return found
            unanswered = None
        reason = f" (the last look-up failed: {unanswered.message})" if unanswered is not None else ""
        raise Upstream(
            f"ServiceNow did not confirm the incident in time; it may still appear: search for correlation id "
            f"{correlation_id} in a minute, and try again only if it is not there{reason}.",
            system="servicenow",
            kind="timeout",
        ) from lost

    async def _instance_choices(self) -> tuple[list[Choice] | None, list[Choice] | None]:
        try:
            integration = await self._integration()
        except NotConnected:
            return None, None
        cached = self._choices.get(integration.id)
        now = self.monotonic()
        if cached is not None and cached.expires > now:
            return cached.categories, cached.subcategories
        hint = None
        try:
            client = await self._client(integration)
            categories = await client.list_choices("incident", "category")
            subcategories = await client.list_choices("incident", "subcategory")
            ttl = self.choices_ttl
        except PermissionDeniedError:  # field ACLs on sys_choice (servicenow-table-api.md, corrections)
            log.info("category choices refused by the instance (sys_choice ACLs)")
            categories = subcategories = None
            ttl, hint = self.choices_ttl, CHOICES_REFUSED_HINT
        except (ServiceNowError, UseCaseError) as err:
            log.info("category choices unavailable: %s", type(err).__name__)
            categories = subcategories = None
            ttl = min(self.choices_ttl, 30.0)
        if categories is not None and not categories:
            categories = subcategories = None
        self._choices[integration.id] = _ChoiceCache(
            now + ttl, categories, subcategories, hint or CHOICES_UNAVAILABLE_HINT
        )
        return categories, subcategories

    async def _choices_hint(self) -> str:
        """Why the create form's category and subcategory are free text (after `_instance_choices`)."""
        try:
            cached = self._choices.get((await self._integration()).id)
        except NotConnected:
            cached = None
        return cached.hint if cached is not None and cached.hint else CHOICES_UNAVAILABLE_HINT

    async def _check_choices(self, integration: Integration, form: TicketForm) -> None:
        if form.category is None and form.subcategory is None:
            return
        categories, subcategories = await self._instance_choices()
        if categories is not None and form.category is not None:
            allowed = [c.value for c in categories]
            if form.category not in allowed:
                raise InvalidInput(
                    f"Category {form.category!r} is not a category of this instance (names are case-sensitive); "
                    f"use one of: {', '.join(allowed)}.",
                    field="category",
                )
        if subcategories is not None and form.subcategory is not None:
            parent = form.category or "inquiry"
            allowed = [
                c.value for c in subcategories if (getattr(c, "dependent_value", None) or parent) == parent
            ]
            if form.subcategory not in allowed:
                raise InvalidInput(
                    f"Subcategory {form.subcategory!r} is not a subcategory of {parent!r} on this instance; use one "
                    f"of: {', '.join(allowed) or '(none)'}.",
                    field="subcategory",
                )

    def _sync_health(self) -> SyncHealth:
        counts = sync.counts(self.db)
        run = sync.last_run(self.db)
        return SyncHealth(
            pending=counts["pending"],
            failed=counts["failed"],
            done=counts["done"],
            last_run_at=run.finished_at if run else None,
            last_run_summary=dict(run.summary) if run else {},
            recent_failures=[
                f"{item.kind} (link {item.link_id}): {item.last_error}" for item in sync.failures(self.db, 5)
            ],
        )
