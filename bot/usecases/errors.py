"""The use cases' one error tree, and the translation of every client and storage failure into it.

Every failure a use case lets out is a `UseCaseError` whose `message` a person can act on:

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

Callers never see a `ServiceNowError` or a `QualyticsError`: they are translated here, once. This module
never calls anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from qualytics_api import (
    QualyticsBadRequestError,
    QualyticsConfigError,
    QualyticsError,
    QualyticsNotFoundError,
    QualyticsTimeoutError,
    QualyticsUnavailableError,
)
from servicenow.errors import (
    ConfigurationError,
    InvalidResponseError,
    QueryError,
    RateLimitError,
    ServerError,
    ServiceNowConnectionError,
    ServiceNowError,
    ServiceNowTimeoutError,
)
from storage.db import DatabaseFileGoneError

System = Literal["servicenow", "qualytics"]
FailureKind = Literal["timeout", "unavailable", "bad_gateway"]


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


class IntegrationNotFound(UseCaseError):
    def __init__(self, integration_id: int) -> None:
        super().__init__(
            f"There is no integration {integration_id}: GET /api/integrations/ticketing lists them."
        )
        self.integration_id = integration_id


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
QUALYTICS_NOT_CONFIGURED = "Qualytics is not configured: set QUALYTICS_URL and QUALYTICS_TOKEN."


def database_gone(err: DatabaseFileGoneError) -> DatabaseGone:
    return DatabaseGone(
        f"snowbot's database file {err.path} (SNOWBOT_DB) was {err.what} while snowbot was running, so "
        "nothing can be saved: restart snowbot (restore the file first if it was not meant to go)."
    )


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
def servicenow_errors(action: str) -> Iterator[None]:
    """A ServiceNow call: its error as `servicenow_failure(err, action)`."""
    try:
        yield
    except ServiceNowError as err:
        raise servicenow_failure(err, action) from err


@contextmanager
def qualytics_change(anomaly_id: int, action: str) -> Iterator[None]:
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
