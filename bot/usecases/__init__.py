"""snowbot's use cases: the operations Slack, the REST API and the sync job share, by domain.

    errors        the one `UseCaseError` tree and the translation of client and storage failures
    base          `Storage` (the database's thread) and `Runtime` (clocks, sleep, tunings), shared
    connections   integrations, credentials, the cache of one ServiceNow client per integration
    instances     choosing an integration by name or id; the names shown when there are several
    anomalies     reading an anomaly from Qualytics
    form          the ticket form, its choices and look-ups, the create form's draft
    tickets       create (exactly once), link, unlink, list, search, read
    exactly_once  the create that never makes two incidents
    intents       the intent recorded before each write, and the link stored from it
    reconcile     what interrupted requests left: linked (and announced) or retired
    incidents     ticket ids and reading one incident
    description   the incident description text
    chatops       acknowledge, archive, comment; what an anomaly card shows
    status        integrations, sync health, refused reads, newest links
    rules         creation rules: stored, matched, dry-run (`rule_checks`: a rule checked; `templates`)
    autocreate    each new anomaly evaluated once against the rules; the rate guard
    recurrence    an anomaly like one with an open ticket: linked to it, or offered
    facade        `Snowbot`, one method per use case, for the surfaces

Each service holds its dependencies (given by the composition root, `bot.composition`) and nothing
global; storage runs on the database's own thread (`storage.store`), never on the event loop. Callers
never see a `ServiceNowError` or a `QualyticsError`: they are translated once (`errors`).
"""

from bot.usecases.base import Runtime, Storage, utcnow
from bot.usecases.chatops import AnomalyCard, AnomalyChanged, AnomalyChangedHook, ChatOps
from bot.usecases.connections import CONNECTED_MESSAGE, Connected, Connections, ServiceNowFactory
from bot.usecases.description import BLOCK_HEADING, anomaly_block, mentions_url, with_anomaly_block
from bot.usecases.errors import (
    AlreadyLinked,
    AnomalyNotFound,
    DatabaseBusy,
    DatabaseGone,
    FailureKind,
    IntegrationNotFound,
    InvalidInput,
    LinkNotFound,
    NotConfigured,
    NotConnected,
    StorageUnavailable,
    System,
    TicketNotFound,
    Upstream,
    UseCaseError,
    qualytics_failure,
    servicenow_failure,
)
from bot.usecases.facade import Snowbot
from bot.usecases.form import CHOICES_REFUSED_HINT, CHOICES_UNAVAILABLE_HINT, TicketDraft, TicketForm
from bot.usecases.incidents import parse_ticket_id
from bot.usecases.instances import Instance, instance_name
from bot.usecases.reconcile import LinkAnnouncer
from bot.usecases.status import Overview, Status, SyncHealth
from bot.usecases.values import AnomalyTickets, SlackContext, TicketCreated, TicketLinked, TicketPage

__all__ = [
    "BLOCK_HEADING",
    "CHOICES_REFUSED_HINT",
    "CHOICES_UNAVAILABLE_HINT",
    "CONNECTED_MESSAGE",
    "AlreadyLinked",
    "AnomalyCard",
    "AnomalyChanged",
    "AnomalyChangedHook",
    "AnomalyNotFound",
    "ChatOps",
    "Connected",
    "Connections",
    "DatabaseBusy",
    "DatabaseGone",
    "FailureKind",
    "InvalidInput",
    "LinkAnnouncer",
    "LinkNotFound",
    "NotConfigured",
    "NotConnected",
    "Overview",
    "Runtime",
    "ServiceNowFactory",
    "SlackContext",
    "Snowbot",
    "Status",
    "Storage",
    "StorageUnavailable",
    "SyncHealth",
    "System",
    "TicketCreated",
    "TicketDraft",
    "TicketForm",
    "TicketLinked",
    "TicketNotFound",
    "TicketPage",
    "AnomalyTickets",
    "Instance",
    "IntegrationNotFound",
    "instance_name",
    "Upstream",
    "UseCaseError",
    "anomaly_block",
    "mentions_url",
    "parse_ticket_id",
    "qualytics_failure",
    "servicenow_failure",
    "utcnow",
    "with_anomaly_block",
]
