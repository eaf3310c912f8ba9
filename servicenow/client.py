"""`ServiceNowClient`: the incident operations snowbot needs, over the ServiceNow Table API.

Reads ask for `sysparm_display_value=all` (value and label of every field) without reference links and
are retried on transient failures. Writes are retried only when the caller says repeating them is
harmless (`retry_safe=True`); `create_incident` never is, so a lost answer surfaces as
`ServiceNowTimeoutError` / `ServiceNowConnectionError` (or a 502/504 `ServerError`) whose `may_be_applied`
tells the caller whether to look the incident up by its correlation_id rather than send it again. Every
failure is a `servicenow.errors.ServiceNowError`; queries are built with `servicenow.query.Query`, so text
typed by a person never reaches `sysparm_query` raw.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar

import httpx

from servicenow.config import (
    Credentials,
    Resolver,
    check_resolved_host,
    system_resolver,
    validate_instance_url,
)
from servicenow.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
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
from servicenow.models import (
    INCIDENT_FIELDS,
    WRITE_FIELDS,
    Choice,
    Group,
    Incident,
    IncidentPage,
    JournalEntry,
    Record,
    User,
    incident_url,
)
from servicenow.query import Query, check_sys_id, safe_search_text
from servicenow.retry import RetryPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")

TABLE_API = "/api/now/table"
BASE_PARAMS = {"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}
BATCH_SIZE = 100
"""Most sys_ids put in one `sys_idIN...` query (and the largest page a search may ask for)."""
CHOICE_LIMIT = 500
_USER_FIELDS = ("sys_id", "name", "user_name", "email")
INCIDENT_NUMBER_PREFIX = re.compile(r"INC\d+", re.IGNORECASE)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
HIBERNATING = (
    "the instance answered with a web page, not the API: is it hibernating? wake it up in the developer "
    "portal (https://developer.servicenow.com), or check that the instance URL is right"
)
RESOLVED = "6"
READ_GRANTS = {
    "sys_choice": "read on sys_choice's label, value, element and dependent_value (field ACLs) for the service "
    "account's role; until then the create form takes free-text category and subcategory and archives "
    'resolve with SNOWBOT_CLOSE_CODE, else "Solution provided"',
    "sys_journal_field": "read on sys_journal_field for the service account's role; until then snowbot looks "
    "for its notes in the incident's work_notes",
}
"""What to grant for a read an instance refused, by table (servicenow-table-api.md, corrections: Ivanti's
and merge.dev's connector guides require the sys_choice grant; several say sys_journal_field is closed to
regular users)."""
BASIC_AUTH_RESTRICTION = (
    "If the instance enforces ServiceNow's basic auth restriction (Brazil release), Basic API calls are "
    'blocked unless the account is "Web service access only", presents MFA, or has the '
    "snc_basic_auth_api_access role"
)
"""servicenow-table-api.md, corrections: "Basic auth is being prepared for deprecation"."""


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
        self._retry = retry or RetryPolicy()
        self._refused_reads: dict[str, str] = {}

    @property
    def refused_reads(self) -> dict[str, str]:
        """Table -> what the instance said and what grants the read, for each table whose last read was
        refused (403, or a journal that answered no rows while the incident had notes). `/snow status`."""
        return dict(self._refused_reads)

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
    ) -> ServiceNowClient:
        """A client with its own `httpx.AsyncClient`: Basic auth, JSON headers, `timeout` seconds.

        Every request first checks that the host does not resolve to a private, loopback or link-local
        address (`PublicHostCheck`, through `resolve`); `check_host` defaults to doing so only without an
        injected `transport` (tests and emulators bring theirs, and need no DNS).
        """
        url = validate_instance_url(instance_url, allow_insecure=allow_insecure, allow_private=allow_private)
        checked = transport is None if check_host is None else check_host
        check = PublicHostCheck(allow_insecure=allow_insecure, allow_private=allow_private, resolve=resolve)
        http = httpx.AsyncClient(
            auth=httpx.BasicAuth(credentials.username, credentials.password.get_secret_value()),
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

    # -- incidents ------------------------------------------------------------------------------------

    async def check_connection(self) -> None:
        """Read one incident id: proves the URL, the credentials and the read rights in one request."""
        await self._list(Query("incident"), fields=("sys_id",), limit=1)

    async def create_incident(self, fields: Mapping[str, object]) -> Incident:
        """Create an incident from field values (sent as strings). Never retried: see the module doc."""
        response = await self._request(
            "POST", f"{TABLE_API}/incident", json=_strings(fields), fields=WRITE_FIELDS
        )
        return self._incident(_result(response))

    async def get_incident(self, sys_id: str) -> Incident:
        """The incident with this sys_id; `NotFoundError` if it does not exist (or cannot be read)."""
        response = await self._request(
            "GET", f"{TABLE_API}/incident/{_sys_id(sys_id)}", fields=INCIDENT_FIELDS, retry_safe=True
        )
        return self._incident(_result(response))

    async def get_incident_by_number(self, number: str) -> Incident | None:
        """The incident numbered e.g. `INC0010001` (any case), or None."""
        query = Query("incident").equals("number", number.strip().upper())
        records, _ = await self._list(query, fields=INCIDENT_FIELDS, limit=1)
        return self._incident(records[0]) if records else None

    async def find_incident_by_correlation_id(self, correlation_id: str) -> Incident | None:
        """The newest incident carrying this correlation_id, or None."""
        query = Query("incident").equals("correlation_id", correlation_id).order_by_desc("sys_created_on")
        records, _ = await self._list(query, fields=INCIDENT_FIELDS, limit=1)
        return self._incident(records[0]) if records else None

    async def search_incidents(self, text: str, page: int = 1, size: int = 20) -> IncidentPage:
        """Newest first: a number prefix (`INC001`) matches numbers, other text the short description or
        the number; blank text lists all incidents. `page` is 1-based."""
        if page < 1:
            raise QueryError("page numbers start at 1")
        if not 1 <= size <= BATCH_SIZE:
            raise QueryError(f"the page size must be between 1 and {BATCH_SIZE}")
        text = safe_search_text(text)
        query = Query("incident")
        if INCIDENT_NUMBER_PREFIX.fullmatch(text):
            query.starts_with("number", text.upper())
        elif text:
            query.like("short_description", text).or_starts_with("number", text)
        query.order_by_desc("sys_created_on")
        offset = (page - 1) * size
        records, total = await self._list(query, fields=INCIDENT_FIELDS, limit=size, offset=offset)
        items = [self._incident(record) for record in records]
        # Without X-Total-Count, what was seen is the best lower bound.
        return IncidentPage(
            items=items, total=offset + len(items) if total is None else total, page=page, size=size
        )

    async def get_incidents(self, sys_ids: Sequence[str]) -> list[Incident]:
        """The incidents that exist among `sys_ids`, in the order asked (duplicates once), 100 per request."""
        wanted = list(dict.fromkeys(_sys_id(sys_id) for sys_id in sys_ids))
        found: dict[str, Incident] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            batch = wanted[start : start + BATCH_SIZE]
            query = Query("incident").is_in("sys_id", batch)
            records, _ = await self._list(query, fields=INCIDENT_FIELDS, limit=len(batch))
            found.update((incident.sys_id, incident) for incident in map(self._incident, records))
        return [found[sys_id] for sys_id in wanted if sys_id in found]

    async def add_work_note(self, sys_id: str, text: str, *, retry_safe: bool = False) -> Incident:
        """Append a work note. Not retried unless `retry_safe`: a repeated PATCH adds the note twice."""
        return await self._update(sys_id, {"work_notes": text}, retry_safe=retry_safe)

    async def append_to_description(
        self, sys_id: str, text: str, work_note: str | None = None, *, retry_safe: bool = False
    ) -> Incident:
        """Add `text` as a new paragraph of the description (a GET, then one PATCH), with an optional note."""
        current = await self.get_incident(sys_id)
        existing = current.description.rstrip()
        body = {"description": f"{existing}\n\n{text}" if existing else text}
        if work_note:
            body["work_notes"] = work_note
        return await self._update(current.sys_id, body, retry_safe=retry_safe)

    async def resolve(
        self,
        sys_id: str,
        close_code: str,
        close_notes: str,
        work_note: str | None = None,
        *,
        retry_safe: bool = False,
    ) -> Incident:
        """Set state 6 (Resolved) with its mandatory resolution code and notes.

        Without a work note this is idempotent, so callers may pass `retry_safe=True`.
        """
        body = {"state": RESOLVED, "close_code": close_code, "close_notes": close_notes}
        if work_note:
            body["work_notes"] = work_note
        return await self._update(sys_id, body, retry_safe=retry_safe)

    async def list_work_notes(self, sys_id: str, limit: int = 100) -> list[JournalEntry]:
        """The incident's work notes, newest first (rows of sys_journal_field)."""
        query = (
            Query("sys_journal_field")
            .equals("element_id", _sys_id(sys_id))
            .equals("name", "incident")
            .equals("element", "work_notes")
            .order_by_desc("sys_created_on")
        )
        fields = ("sys_id", "value", "sys_created_on", "sys_created_by")
        records, _ = await self._list(query, fields=fields, limit=limit)
        return [self._parse(JournalEntry.from_record, record) for record in records]

    async def get_work_notes_text(self, sys_id: str) -> str:
        """The incident's work notes as one text, newest first (`sysparm_display_value=true` returns the
        journal's entries in the field; servicenow-table-api.md §7.6)."""
        response = await self._request(
            "GET",
            f"{TABLE_API}/incident/{_sys_id(sys_id)}",
            fields=("work_notes",),
            params={"sysparm_display_value": "true"},
            retry_safe=True,
        )
        record = _result(response)
        text = record.get("work_notes") if isinstance(record, Mapping) else None
        if isinstance(text, Mapping):
            text = text.get("display_value")
        return text if isinstance(text, str) else ""

    async def has_work_note(self, sys_id: str, marker: str, *, lookback: int = 100) -> bool:
        """Whether a work note holding `marker` is on the incident. sys_journal_field first; when it
        refuses (403) or answers no rows (a denial that looks like success: servicenow-table-api.md,
        corrections), the incident's work_notes display text, which holds the same entries."""
        try:
            entries = await self.list_work_notes(sys_id, limit=lookback)
        except PermissionDeniedError:
            entries = []
        if entries:
            return any(marker in entry.text for entry in entries)
        text = await self.get_work_notes_text(sys_id)
        if text.strip() and "sys_journal_field" not in self._refused_reads:
            self._refused_reads["sys_journal_field"] = (
                "sys_journal_field answered no rows although the incident has work notes. Grant "
                + READ_GRANTS["sys_journal_field"]
            )
        return marker in text

    def incident_url(self, sys_id: str) -> str:
        """The link a person opens to see the incident."""
        return incident_url(self.instance_url, _sys_id(sys_id))

    # -- drop-downs -----------------------------------------------------------------------------------

    async def list_choices(
        self, table: str, element: str, dependent_value: str | None = None
    ) -> list[Choice]:
        """Active English choices of `table.element` in display order; subcategories of one category when
        `dependent_value` is that category's value."""
        query = (
            Query("sys_choice")
            .equals("name", table)
            .equals("element", element)
            .equals("inactive", "false")
            .equals("language", "en")
        )
        if dependent_value:
            query.equals("dependent_value", dependent_value)
        query.order_by("sequence").order_by("label")
        fields = ("value", "label", "dependent_value")
        records, _ = await self._list(query, fields=fields, limit=CHOICE_LIMIT)
        return [self._parse(Choice.from_record, record) for record in records]

    async def search_groups(self, text: str, limit: int = 20) -> list[Group]:
        """Active assignment groups whose name contains `text` (all when blank), by name."""
        text = safe_search_text(text)
        query = Query("sys_user_group").equals("active", "true")
        if text:
            query.like("name", text)
        query.order_by("name")
        records, _ = await self._list(query, fields=("sys_id", "name"), limit=limit)
        return [self._parse(Group.from_record, record) for record in records]

    async def search_users(self, text: str, limit: int = 20) -> list[User]:
        """Active users whose name, user name or email contains `text` (all when blank), by name."""
        text = safe_search_text(text)
        query = Query("sys_user").equals("active", "true")
        if text:
            query.like("name", text).or_like("user_name", text).or_like("email", text)
        query.order_by("name")
        records, _ = await self._list(query, fields=_USER_FIELDS, limit=limit)
        return [self._parse(User.from_record, record) for record in records]

    async def find_user_by_email(self, email: str) -> User | None:
        """The active user with this email address, or None."""
        email = email.strip()
        if not EMAIL.fullmatch(email):
            raise QueryError(f"{email!r} is not an email address")
        query = Query("sys_user").equals("active", "true").equals("email", email)
        records, _ = await self._list(query, fields=_USER_FIELDS, limit=1)
        return self._parse(User.from_record, records[0]) if records else None

    # -- plumbing -------------------------------------------------------------------------------------

    async def _update(self, sys_id: str, body: Mapping[str, str], *, retry_safe: bool) -> Incident:
        response = await self._request(
            "PATCH",
            f"{TABLE_API}/incident/{_sys_id(sys_id)}",
            json=body,
            fields=WRITE_FIELDS,
            retry_safe=retry_safe,
        )
        return self._incident(_result(response))

    async def _list(
        self, query: Query, *, fields: Sequence[str], limit: int, offset: int = 0
    ) -> tuple[list[Any], int | None]:
        """One page of the query's table and X-Total-Count (None if absent)."""
        if limit < 1:
            raise QueryError("the limit must be at least 1")
        params = {"sysparm_limit": str(limit), "sysparm_offset": str(offset)}
        if encoded := query.build():
            params["sysparm_query"] = encoded
        try:
            response = await self._request(
                "GET", f"{TABLE_API}/{query.table}", params=params, fields=fields, retry_safe=True
            )
        except PermissionDeniedError as error:
            grant = READ_GRANTS.get(query.table)
            if grant:
                self._refused_reads[query.table] = f"{error.message} Grant {grant}."
            raise
        self._refused_reads.pop(query.table, None)
        records = _result(response)
        if not isinstance(records, list):
            raise InvalidResponseError(
                "ServiceNow answered a list request with a single record: check that the instance URL points "
                "at the instance itself, not a proxy"
            )
        return records, _total_count(response)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        fields: Sequence[str],
        params: Mapping[str, str] | None = None,
        json: Mapping[str, str] | None = None,
        retry_safe: bool = False,
    ) -> httpx.Response:
        """Send with retries when `retry_safe`; return a 2xx response or raise a `ServiceNowError`."""
        query = {**BASE_PARAMS, "sysparm_fields": ",".join(fields), **(params or {})}
        retry = 0
        while True:
            retry += 1
            try:
                return await self._attempt(method, path, query, json, retry_safe=retry_safe)
            except ServiceNowError as error:
                delay = self._retry.delay(error, retry) if retry_safe else None
                if delay is None:
                    raise
                logger.warning(
                    "ServiceNow %s %s failed (%s); retry %d of %d in %.2fs",
                    method,
                    path,
                    _reason(error),
                    retry,
                    self._retry.attempts - 1,
                    delay,
                )
                await self._retry.sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        json: Mapping[str, str] | None,
        *,
        retry_safe: bool,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, f"{self.instance_url}{path}", params=params, json=json
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc, may_be_applied=method != "GET" and not retry_safe) from exc
        if not response.is_success:
            raise _status_error(response, operation=_operation(method, path))
        return response

    def _transport_error(
        self, exc: httpx.TransportError, *, may_be_applied: bool
    ) -> ServiceNowConnectionError:
        reason = str(exc) or type(exc).__name__
        unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        caveat = (
            " ServiceNow may have applied the change anyway: look it up before trying again."
            if may_be_applied and not unsent
            else ""
        )
        if isinstance(exc, httpx.TimeoutException):
            return ServiceNowTimeoutError(
                f"ServiceNow at {self.instance_url} did not answer in time ({reason}). Network timeout: a "
                f"firewall may be blocking; ensure this host is allowlisted.{caveat}",
                detail=reason,
                may_be_applied=not unsent,
            )
        return ServiceNowConnectionError(
            f"Could not reach ServiceNow at {self.instance_url} ({reason}): check the instance URL, DNS and "
            f"firewall.{caveat}",
            detail=reason,
            may_be_applied=not unsent,
        )

    def _incident(self, record: Any) -> Incident:
        return self._parse(lambda r: Incident.from_record(r, instance_url=self.instance_url), record)

    @staticmethod
    def _parse(parse: Callable[[Record], T], record: Any) -> T:
        if not isinstance(record, Mapping):
            raise InvalidResponseError(
                "ServiceNow returned something other than a record where one was expected"
            )
        try:
            return parse(record)
        except ValueError as exc:
            raise InvalidResponseError(
                f"ServiceNow returned a record snowbot cannot read ({exc}); the instance may be customised in "
                "a way snowbot does not support",
                detail=str(exc),
                may_be_applied=True,  # the request succeeded: a write was applied
            ) from None


class PublicHostCheck:
    """An httpx request hook: refuses a host that resolves to an address snowbot does not connect to
    (`servicenow.config.check_resolved_host`) before the request is sent. A host that passed is not
    looked up again for `ttl` seconds. (A hook, not a transport, so that the environment's proxy settings
    still apply.)"""

    def __init__(
        self,
        *,
        allow_insecure: bool = False,
        allow_private: bool = False,
        resolve: Resolver = system_resolver,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allow_insecure = allow_insecure
        self._allow_private = allow_private
        self._resolve = resolve
        self._ttl = ttl
        self._clock = clock
        self._checked: dict[str, float] = {}

    async def __call__(self, request: httpx.Request) -> None:
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        if self._checked.get(origin, -math.inf) > self._clock():
            return
        await check_resolved_host(
            origin,
            allow_insecure=self._allow_insecure,
            allow_private=self._allow_private,
            resolve=self._resolve,
        )
        self._checked[origin] = self._clock() + self._ttl


def _sys_id(value: str) -> str:
    return check_sys_id(value.strip().lower())


def _strings(fields: Mapping[str, object]) -> dict[str, str]:
    """Field values as the Table API wants them: strings, booleans as true/false, None as "" (clears)."""

    def text(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return {str(name): text(value) for name, value in fields.items()}


def _result(response: httpx.Response) -> Any:
    """The `result` of a successful response; `InvalidResponseError` for anything but the JSON envelope.

    A web page (a hibernating instance, a login page) was not the Table API, so nothing was applied; any
    other unreadable success may come after ServiceNow applied a write (`may_be_applied`).
    """
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or response.text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        raise InvalidResponseError(HIBERNATING, status_code=response.status_code)
    try:
        body = response.json()
    except ValueError:
        raise InvalidResponseError(
            f"ServiceNow answered with {content_type or 'an unlabelled body'}, not JSON: check that the instance "
            "URL points at a ServiceNow instance",
            status_code=response.status_code,
            may_be_applied=True,
        ) from None
    if not isinstance(body, dict) or "result" not in body:
        raise InvalidResponseError(
            "ServiceNow's answer has no 'result': check that the instance URL points at a ServiceNow instance",
            status_code=response.status_code,
            may_be_applied=True,
        )
    return body["result"]


def _total_count(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["x-total-count"])
    except (KeyError, ValueError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _servicenow_says(response: httpx.Response) -> str | None:
    """ServiceNow's error message and detail on one line, only from ServiceNow's own error envelope
    (`{"error": {"message", "detail"}, "status": "failure"}`, servicenow-table-api.md §5). A body of any
    other shape comes from something that is not a ServiceNow instance (a proxy, a login page, another
    server at that address) and is never echoed."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("status") != "failure":
        return None
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    parts = [
        str(error[key]) for key in ("message", "detail") if isinstance(error.get(key), str) and error[key]
    ]
    text = ": ".join(dict.fromkeys(" ".join(part.split()) for part in parts))
    return text[:500] or None


def _operation(method: str, path: str) -> str:
    """What a request asked for, in words: `read sys_choice`, `update an incident`, ..."""
    parts = path.strip("/").split("/")
    table = parts[3] if len(parts) > 3 else "the table"
    one = len(parts) > 4
    if method == "GET":
        return f"read {'a record of ' if one else ''}{table}"
    verb = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}.get(method, method)
    return f"{verb} {'an' if table[:1] in 'aeiou' else 'a'} {table} record"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _status_error(response: httpx.Response, operation: str = "do this") -> ServiceNowError:
    """The exception for a non-2xx response (`operation` says what was asked, e.g. `read sys_choice`)."""
    status = response.status_code
    said = _servicenow_says(response)
    if status < 400:
        location = response.headers.get("location")
        where = f" to {location}" if location else ""
        return InvalidResponseError(
            f"ServiceNow redirected the request (HTTP {status}{where}) instead of answering: is the instance "
            "hibernating? wake it up in the developer portal, or check that the instance URL is right",
            status_code=status,
        )
    if status == 400:
        return BadRequestError(
            f"ServiceNow rejected the request: {said or 'bad request'}. Check the table, fields and values sent.",
            status_code=status,
            detail=said,
        )
    if status == 401:
        return AuthenticationError(
            f"ServiceNow refused the credentials ({said or 'HTTP 401'}): check the `username:password` format "
            f"and that the account is active and not locked. {BASIC_AUTH_RESTRICTION}.",
            status_code=status,
            detail=said,
        )
    if status == 403:
        advice = (
            "Fill in the fields it names."
            if said and "mandatory" in said.lower()
            else "An ACL or rule of the instance refuses it to the service account; its administrator can grant it."
        )
        return PermissionDeniedError(
            f"ServiceNow refused to {operation} (HTTP 403: {said or 'no reason given'}). {advice}",
            status_code=status,
            detail=said,
        )
    if status == 404:
        return NotFoundError(
            f"ServiceNow found no such record ({said or 'HTTP 404'}): check the sys_id or number, and that the "
            "service account may read it",
            status_code=status,
            detail=said,
        )
    if status == 429:
        retry_after = _retry_after(response)
        when = f"in {retry_after:g} seconds" if retry_after is not None else "in a few minutes"
        return RateLimitError(
            f"ServiceNow is rate limiting snowbot ({said or 'HTTP 429'}): try again {when}",
            detail=said,
            retry_after=retry_after,
        )
    if status >= 500:
        return ServerError(
            f"ServiceNow failed with HTTP {status} ({said or _phrase(status)}): this is "
            "usually temporary; try again in a few minutes and check the instance's status if it persists",
            status_code=status,
            detail=said,
        )
    return APIStatusError(
        f"ServiceNow answered HTTP {status} ({said or _phrase(status)}), which snowbot does not expect: "
        "check the instance URL and the service account",
        status_code=status,
        detail=said,
    )


def _reason(error: ServiceNowError) -> str:
    return (
        type(error).__name__ if error.status_code is None else f"{type(error).__name__} {error.status_code}"
    )
