"""Async client for the Qualytics REST API: anomalies, their status and their comments.

Talks to `<QUALYTICS_URL>/api` with `Authorization: Bearer <token>` over an injected `httpx.AsyncClient`
(`QualyticsClient.connect` builds one). Responses are parsed into pydantic models that follow the real
API's shapes (`datastore`/`container` stubs, `failed_checks[].quality_check.fields[{name}]`, comments
embedded in the anomaly detail) and ignore fields they do not know. Only what the sync cannot do without is
strict (an anomaly's `id`, `status`, `created` and `datastore.id`; a comment's `id` and `created`): a
malformed cosmetic field becomes None (or empty) and a malformed item of a list is left out, so no display
field can make an anomaly unreadable. `weight` is a float or an int (`Union[StrictFloat, StrictInt]` in
Qualytics' OpenAPI models, qualytics-examples' generated client `GetAnomalyListing`).

Errors (`str(err) == err.message`, a sentence saying what a person should do; never the token):

    QualyticsError                  base; .message, .status_code, .detail (the API's own words)
      QualyticsConfigError          QUALYTICS_URL or QUALYTICS_TOKEN is unusable
      QualyticsAuthError            401 (token invalid or expired), 403 (token lacks a permission)
      QualyticsNotFoundError        404
      QualyticsBadRequestError      400, 409, 422: Qualytics refused the request; .detail says why
      QualyticsUnavailableError     5xx, 429, timeouts, connection errors, answers that are not the API's JSON;
                                    .maybe_applied: Qualytics may have done it although the answer was lost
        QualyticsTimeoutError       sent, but no answer in time
        QualyticsRateLimitError     429; .retry_after

Retries follow `RetryPolicy`. Reads (GET), status changes (PUT) and archiving (DELETE) are idempotent and are
retried on 429/5xx, timeouts and connection errors. `POST /api/comments` is retried only when the request
provably never reached Qualytics (the connection could not be made); after any other failure the error has
`maybe_applied=True` and says the comment may exist already, so a caller can check before sending it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Self, TypeVar

import httpx
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

__all__ = [
    "ARCHIVE_STATUSES",
    "OPEN_STATUSES",
    "Anomaly",
    "AnomalyPage",
    "Comment",
    "CommentUser",
    "Container",
    "Datastore",
    "FailedCheck",
    "QualityCheck",
    "QualyticsAuthError",
    "QualyticsBadRequestError",
    "QualyticsClient",
    "QualyticsConfigError",
    "QualyticsError",
    "QualyticsNotFoundError",
    "QualyticsRateLimitError",
    "QualyticsTimeoutError",
    "QualyticsUnavailableError",
    "QualyticsUser",
    "RetryPolicy",
    "anomaly_url",
]

log = logging.getLogger(__name__)

OPEN_STATUSES = ("Active", "Acknowledged")
ARCHIVE_STATUSES = ("Resolved", "Duplicate", "Invalid", "Discarded")

TOKEN_HELP = "create a new one under Settings → Tokens and set QUALYTICS_TOKEN"


# ---------------------------------------------------------------------------------------------- models


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: Any) -> Any:
    """Display text: None or anything that is not a string (a number, an object) becomes ""."""
    return value if isinstance(value, str) else ""


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A malformed optional field is None instead of an error that would make the whole anomaly unreadable."""
    try:
        return handler(value)
    except ValidationError:
        return None


def _number(value: Any) -> Any:
    """A JSON number (not a bool, not a string); an integral float is shown as an int (54.0 -> 54)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() else value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, BeforeValidator(_text)]
Maybe = WrapValidator(_or_none)
OptionalStr = Annotated[str | None, Maybe]
OptionalInt = Annotated[int | None, Maybe]
Number = Annotated[float | int | None, BeforeValidator(_number)]


def _valid_items(model: type[BaseModel], value: Any) -> list[Any]:
    """The items of a list that parse as `model`; malformed ones are left out (and logged at DEBUG)."""
    if not isinstance(value, list):
        return []
    kept = []
    for item in value:
        try:
            kept.append(model.model_validate(item))
        except ValidationError as exc:
            log.debug(
                "Qualytics answer: a malformed %s left out (%s)", model.__name__, exc.errors()[0]["msg"]
            )
    return kept


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Datastore(_Model):
    id: int
    name: Text = ""
    type: OptionalStr = None  # e.g. "snowflake", "postgresql"
    store_type: OptionalStr = None  # "jdbc" or "dfs"


class Container(_Model):
    id: int
    name: Text = ""
    container_type: OptionalStr = None  # "table", "view", "file", "computed_table", ...


class QualityCheck(_Model):
    id: OptionalInt = None
    rule_type: Text = ""
    fields: list[str] = Field(default_factory=list)
    description: Text = ""

    @field_validator("fields", mode="before")
    @classmethod
    def _field_names(cls, value: Any) -> Any:
        """The API sends `[{"name": "total_amount"}, ...]`; keep just the names (malformed entries left out)."""
        if not isinstance(value, list):
            return []
        names = (item.get("name") if isinstance(item, Mapping) else item for item in value)
        return [name for name in names if isinstance(name, str)]


class FailedCheck(_Model):
    message: Text = ""
    quality_check: QualityCheck = Field(default_factory=QualityCheck)

    @field_validator("quality_check", mode="before")
    @classmethod
    def _missing_check(cls, value: Any) -> Any:
        return value if isinstance(value, Mapping) else {}


class CommentUser(_Model):
    name: Text = ""
    email: OptionalStr = None


class Comment(_Model):
    id: int
    created: UtcDatetime
    message: Text = ""
    user: CommentUser = Field(default_factory=CommentUser)
    anomaly_id: OptionalInt = None  # only in `GET /api/comments` answers

    @field_validator("user", mode="before")
    @classmethod
    def _missing_user(cls, value: Any) -> Any:
        return value if isinstance(value, Mapping) else {}


class QualyticsUser(_Model):
    id: OptionalInt = None
    name: Text = ""
    email: OptionalStr = None
    role: OptionalStr = None


class Anomaly(_Model):
    """One anomaly. List answers carry no comments, so `comments` is empty there; the detail has them."""

    id: int
    uuid: OptionalStr = None
    type: Text = ""  # "record" or "shape"
    status: str  # open string: Active, Acknowledged; archived: Resolved, Duplicate, Invalid, Discarded
    archived: bool = False
    created: UtcDatetime
    weight: Number = None  # the severity score; may be fractional
    anomalous_records_count: OptionalInt = None
    description: Text = ""
    datastore: Datastore
    container: Annotated[Container | None, Maybe] = None
    failed_checks: list[FailedCheck] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)  # oldest first
    tags: list[str] = Field(default_factory=list, validation_alias=AliasChoices("tags", "global_tags"))

    @model_validator(mode="before")
    @classmethod
    def _derive_archived(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data.get("archived"), bool):
            return {**data, "archived": data.get("status") in ARCHIVE_STATUSES}
        return data

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return []
        names = (item.get("name") if isinstance(item, Mapping) else item for item in value)
        return [name for name in names if isinstance(name, str)]

    @field_validator("failed_checks", mode="before")
    @classmethod
    def _valid_checks(cls, value: Any) -> Any:
        return _valid_items(FailedCheck, value)

    @field_validator("comments", mode="before")
    @classmethod
    def _valid_comments(cls, value: Any) -> Any:
        return _valid_items(Comment, value)

    @field_validator("comments")
    @classmethod
    def _oldest_first(cls, value: list[Comment]) -> list[Comment]:
        return sorted(value, key=lambda comment: (comment.created, comment.id))

    @property
    def fields(self) -> list[str]:
        """The anomalous fields: every failed check's fields, in order, without repeats."""
        return list(dict.fromkeys(f for check in self.failed_checks for f in check.quality_check.fields))


class AnomalyPage(_Model):
    items: list[Anomaly]
    total: int
    page: int
    size: int

    @property
    def has_more(self) -> bool:
        return self.page * self.size < self.total


def anomaly_url(base_url: str, anomaly: Anomaly) -> str:
    """The anomaly's page in the Qualytics UI: `<QUALYTICS_URL>/datastores/<datastore id>/anomalies?id=<id>`."""
    return f"{_instance_url(base_url)}/datastores/{anomaly.datastore.id}/anomalies?id={anomaly.id}"


def _instance_url(base_url: str) -> str:
    """`https://acme.qualytics.io/`, `.../api` and `.../api/` all mean the instance `https://acme.qualytics.io`."""
    url = base_url.strip().rstrip("/")
    return url.removesuffix("/api").rstrip("/")


# ---------------------------------------------------------------------------------------------- errors


class QualyticsError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class QualyticsConfigError(QualyticsError):
    pass


class QualyticsAuthError(QualyticsError):
    pass


class QualyticsNotFoundError(QualyticsError):
    pass


class QualyticsBadRequestError(QualyticsError):
    pass


class QualyticsUnavailableError(QualyticsError):
    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code, detail=detail)
        self.maybe_applied = maybe_applied
        """True when Qualytics may have carried out the request although the answer was lost."""


class QualyticsTimeoutError(QualyticsUnavailableError):
    pass


class QualyticsRateLimitError(QualyticsUnavailableError):
    def __init__(self, message: str, *, retry_after: float | None = None, detail: str | None = None) -> None:
        super().__init__(message, status_code=429, detail=detail)
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first try; delays double from `base_delay` up to `max_delay`.

    A 429's or 503's `Retry-After` is honoured when it is at most `max_retry_after` seconds, else the error
    is raised at once. `sleep` is injectable so tests never wait.
    """

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based), or None to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures that happen before a single byte of the request left: safe to retry even a POST.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# ---------------------------------------------------------------------------------------------- client


class _BearerAuth(httpx.Auth):
    """Keeps the token a `SecretStr` until a request is sent, so it is in no client attribute or repr."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(token=SecretStr('**********'))"


M = TypeVar("M", bound=BaseModel)


class QualyticsClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, *, retry: RetryPolicy | None = None) -> None:
        self.base_url = _instance_url(base_url)
        if not _is_web_address(self.base_url):
            raise QualyticsConfigError(
                f"QUALYTICS_URL must be the instance's address, like https://acme.qualytics.io (got {base_url!r})"
            )
        self._http = http
        self._api = f"{self.base_url}/api"
        self.retry = retry or RetryPolicy()

    @classmethod
    def connect(
        cls,
        base_url: str,
        token: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> QualyticsClient:
        if not token.get_secret_value().strip():
            raise QualyticsConfigError(f"QUALYTICS_TOKEN is empty: {TOKEN_HELP}")
        http = httpx.AsyncClient(
            auth=_BearerAuth(SecretStr(token.get_secret_value().strip())),
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "snowbot"},
        )
        return cls(http, base_url, retry=retry)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"QualyticsClient(base_url={self.base_url!r})"

    # ------------------------------------------------------------------------------------------ operations

    async def get_anomaly(self, anomaly_id: int) -> Anomaly:
        """The anomaly with its failed checks and comments."""
        response = await self._request(
            "GET", f"/anomalies/{anomaly_id}", action=f"read anomaly {anomaly_id}", anomaly_id=anomaly_id
        )
        return self._parse(Anomaly, response, f"read anomaly {anomaly_id}")

    async def list_anomalies(
        self, filters: Mapping[str, object] | None = None, page: int = 1, size: int = 50
    ) -> AnomalyPage:
        """One page, newest first. `filters` are the API's query parameters, e.g. `{"datastore": 23,
        "status": ["Active", "Acknowledged"], "archived": "include"}`; lists become repeated keys, booleans
        "true"/"false", dates ISO. Archived anomalies are left out unless `archived` is "include" or "only".
        """
        if page < 1 or size < 1:
            raise ValueError("page and size start at 1")
        params = _query_params(filters) + [("page", str(page)), ("size", str(size))]
        response = await self._request("GET", "/anomalies", action="list anomalies", params=params)
        return self._parse(AnomalyPage, response, "list anomalies")

    async def iter_anomalies(
        self, filters: Mapping[str, object] | None = None, *, size: int = 100
    ) -> AsyncIterator[Anomaly]:
        """Every anomaly matching `filters`, page after page."""
        page = 1
        while True:
            result = await self.list_anomalies(filters, page=page, size=size)
            for anomaly in result.items:
                yield anomaly
            if not result.items or not result.has_more:
                return
            page += 1

    async def acknowledge(self, anomaly_id: int) -> Anomaly:
        return await self._set_status(anomaly_id, "Acknowledged", f"acknowledge anomaly {anomaly_id}")

    async def restore(self, anomaly_id: int) -> Anomaly:
        """Bring an archived anomaly back. Qualytics restores it as Acknowledged, never as Active ("they will
        not return to the active state once they have been acknowledged": userguide,
        docs/anomalies/manage-anomalies/restore-anomalies.md)."""
        return await self._set_status(anomaly_id, "Acknowledged", f"restore anomaly {anomaly_id}")

    async def archive(self, anomaly_id: int, status: str = "Resolved") -> None:
        """Archive (soft delete) with Resolved, Duplicate, Invalid or Discarded; Qualytics judges the status."""
        await self._request(
            "DELETE",
            f"/anomalies/{anomaly_id}",
            action=f"archive anomaly {anomaly_id} as {status}",
            anomaly_id=anomaly_id,
            params=[("archive", "true"), ("status", status)],
            permission="Author",
        )

    async def ticket_links(self, anomaly_id: int) -> list[dict[str, Any]]:
        """The tickets Qualytics' own ticketing integration linked to the anomaly
        (`GET /api/anomalies/{id}/ticket-links`, userguide ticketing pages; the body is not published, so a
        list or a page's `items` is read and each entry kept as it came). snowbot's links are never among
        them: it keeps its own."""
        action = f"read the ticket links of anomaly {anomaly_id}"
        response = await self._request("GET", f"/anomalies/{anomaly_id}/ticket-links", action=action)
        try:
            body = response.json()
        except ValueError:
            raise self._not_api(action, "something that is not JSON") from None
        items = body.get("items") if isinstance(body, Mapping) else body
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def add_comment(self, anomaly_id: int, message: str) -> Comment:
        """Add a comment as the token's user. Not retried once the request may have reached Qualytics."""
        if not message.strip():
            raise ValueError("a comment needs some text")
        action = f"comment on anomaly {anomaly_id}"
        response = await self._request(
            "POST",
            "/comments",
            action=action,
            anomaly_id=anomaly_id,
            json={"message": message, "anomaly_id": anomaly_id},
            idempotent=False,
        )
        return self._parse(Comment, response, action)

    async def whoami(self) -> QualyticsUser:
        """The user the token belongs to; also the cheapest check that URL and token work."""
        response = await self._request("GET", "/users/me", action="read the token's user")
        return self._parse(QualyticsUser, response, "read the token's user")

    def anomaly_url(self, anomaly: Anomaly) -> str:
        return anomaly_url(self.base_url, anomaly)

    # ------------------------------------------------------------------------------------------ internals

    async def _set_status(self, anomaly_id: int, status: str, action: str) -> Anomaly:
        response = await self._request(
            "PUT",
            f"/anomalies/{anomaly_id}",
            action=action,
            anomaly_id=anomaly_id,
            json={"status": status},
            permission="Editor",
        )
        return self._parse(Anomaly, response, action)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        anomaly_id: int | None = None,
        params: list[tuple[str, str]] | None = None,
        json: object = None,
        idempotent: bool = True,
        permission: str = "Viewer",
    ) -> httpx.Response:
        """`permission` is the team permission on the anomaly's datastore the request needs (a 403 names it):
        reads and comments Viewer, status changes Editor, archiving Author (userguide: the CLI's bulk triage
        page and the anomaly insights page)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, f"{self._api}{path}", params=params, json=json)
            except httpx.TransportError as exc:
                error = self._transport_error(exc, action, idempotent)
                retryable = idempotent or isinstance(exc, NOT_SENT)
                retry_after = None
            else:
                if response.is_success:
                    return response
                error = self._status_error(response, action, anomaly_id, idempotent, permission)
                retryable = idempotent and response.status_code in RETRY_STATUSES
                retry_after = _retry_after(response)
            delay = self.retry.delay(attempt, retry_after) if retryable else None
            if delay is None:
                raise error
            log.warning(
                "Qualytics %s %s failed (%s); retrying in %.1fs (attempt %d of %d)",
                method,
                path,
                error.status_code or "no answer",
                delay,
                attempt + 1,
                self.retry.attempts,
            )
            await self.retry.sleep(delay)

    def _transport_error(self, exc: httpx.TransportError, action: str, idempotent: bool) -> QualyticsError:
        if isinstance(exc, NOT_SENT):
            return QualyticsUnavailableError(
                f"could not connect to Qualytics at {self.base_url} to {action}: "
                "check QUALYTICS_URL and that the instance is reachable"
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
            return QualyticsConfigError(f"could not reach Qualytics at {self.base_url} to {action}: {exc}")
        unsure = _unsure(action, idempotent)
        if isinstance(exc, httpx.TimeoutException):
            return QualyticsTimeoutError(
                f"Qualytics did not answer in time when asked to {action}: try again in a minute{unsure}",
                maybe_applied=True,
            )
        return QualyticsUnavailableError(
            f"Qualytics dropped the connection when asked to {action}: try again in a minute{unsure}",
            maybe_applied=True,
        )

    def _status_error(
        self, response: httpx.Response, action: str, anomaly_id: int | None, idempotent: bool, permission: str
    ) -> QualyticsError:
        status = response.status_code
        detail = _detail(response)
        if status == 401:
            return QualyticsAuthError(
                f"the Qualytics token is invalid or expired: {TOKEN_HELP}", status_code=status, detail=detail
            )
        if status == 403:
            return QualyticsAuthError(
                f"the Qualytics token may not {action}: its user needs the Member role and the {permission} "
                "team permission on the anomaly's datastore",
                status_code=status,
                detail=detail,
            )
        if status == 404:
            if anomaly_id is not None:
                message = f"anomaly {anomaly_id} was not found in Qualytics"
            else:
                message = f"Qualytics has no such endpoint: check that QUALYTICS_URL ({self.base_url}) is the instance"
            return QualyticsNotFoundError(message, status_code=status, detail=detail)
        if status in (400, 409, 422):
            return QualyticsBadRequestError(
                f"Qualytics refused to {action}: {detail or f'HTTP {status}'}",
                status_code=status,
                detail=detail,
            )
        if status == 429:
            retry_after = _retry_after(response)
            wait = f"in {retry_after:g} seconds" if retry_after is not None else "in a minute"
            return QualyticsRateLimitError(
                f"Qualytics is rate limiting requests and did not {action}: try again {wait}",
                retry_after=retry_after,
                detail=detail,
            )
        if status >= 500:
            return QualyticsUnavailableError(
                f"Qualytics is unavailable (HTTP {status}) and could not {action}: "
                f"try again in a few minutes{_unsure(action, idempotent)}",
                status_code=status,
                detail=detail,
                maybe_applied=True,
            )
        return QualyticsError(
            f"Qualytics answered HTTP {status} when asked to {action}{f': {detail}' if detail else ''}",
            status_code=status,
            detail=detail,
        )

    def _parse(self, model: type[M], response: httpx.Response, action: str) -> M:
        content_type = response.headers.get("content-type", "")
        try:
            if "json" not in content_type:
                raise ValueError(content_type)
            data = response.json()
        except ValueError:
            raise self._not_api(
                action, f"something that is not JSON ({content_type or 'no content type'})"
            ) from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the body"
            raise self._not_api(action, f"JSON of an unexpected shape ({where}: {first['msg']})") from None

    def _not_api(self, action: str, what: str) -> QualyticsUnavailableError:
        return QualyticsUnavailableError(
            f"Qualytics answered the request to {action} with {what}: check that QUALYTICS_URL "
            f"({self.base_url}) is the Qualytics instance and not a proxy or login page"
        )


def _is_web_address(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


def _unsure(action: str, idempotent: bool) -> str:
    if idempotent:
        return ""
    return f"; it may have worked anyway, so check before you {action} again"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the policy's backoff


def _detail(response: httpx.Response) -> str | None:
    """The API's explanation: FastAPI's `{"detail": "..."}` or `{"detail": [{"loc": [...], "msg": ...}]}`."""
    try:
        body = response.json()
    except ValueError:
        return None
    detail = body.get("detail", body.get("message")) if isinstance(body, dict) else None
    if isinstance(detail, list):  # validation errors; their "input" is left out on purpose
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
        detail = "; ".join(parts)
    if not isinstance(detail, str) or not detail.strip():
        return None
    return detail.strip()[:500]


def _query_params(filters: Mapping[str, object] | None) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in (filters or {}).items():
        if key in ("page", "size"):
            raise ValueError("pass page and size as arguments, not as filters")
        values = value if isinstance(value, list | tuple) else [value]
        params.extend((key, _param(item)) for item in values if item is not None)
    return params


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
