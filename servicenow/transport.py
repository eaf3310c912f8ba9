"""The Table API core every ServiceNow operation goes through: one request, its retries, one page of a query.

`TableAPI` sends over an injected `httpx.AsyncClient` (which carries auth and timeouts) and returns a 2xx
response or raises a `servicenow.errors.ServiceNowError` (`servicenow.responses` reads the answers). Reads
ask for `sysparm_display_value=all` (value and label of every field) without reference links and are
retried on transient failures; a write is retried only when its caller says repeating it is harmless
(`retry_safe=True`), and a lost answer to one that is not says whether it may have been applied
(`may_be_applied`). It remembers the reads an instance refused (`refused_reads`). `PublicHostCheck` keeps
requests off private addresses. Never builds a query from text itself (`servicenow.query.Query` does).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from servicenow.config import Resolver, check_resolved_host, system_resolver
from servicenow.errors import (
    InvalidResponseError,
    PermissionDeniedError,
    QueryError,
    ServiceNowConnectionError,
    ServiceNowError,
    ServiceNowTimeoutError,
)
from servicenow.models import Record
from servicenow.query import Query, check_sys_id
from servicenow.responses import operation, result, status_error, total_count
from servicenow.retry import RetryPolicy

logger = logging.getLogger("servicenow.client")
"""Named after the client, whose retry lines it has always written (log filters name it)."""

T = TypeVar("T")

TABLE_API = "/api/now/table"
BASE_PARAMS = {"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}
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


class TableAPI:
    """The Table API of one instance (`instance_url`, already validated) through `http`."""

    def __init__(self, http: httpx.AsyncClient, instance_url: str, *, retry: RetryPolicy) -> None:
        self.http = http
        self.instance_url = instance_url
        self.retry = retry
        self.refused_reads: dict[str, str] = {}
        """Table -> what the instance said and what grants the read, for each table whose last read was
        refused (see `ServiceNowClient.refused_reads`)."""

    async def get_page(
        self, query: Query, *, fields: Sequence[str], limit: int, offset: int = 0
    ) -> tuple[list[Any], int | None]:
        """One page of the query's table and X-Total-Count (None if absent)."""
        if limit < 1:
            raise QueryError("the limit must be at least 1")
        params = {"sysparm_limit": str(limit), "sysparm_offset": str(offset)}
        if encoded := query.build():
            params["sysparm_query"] = encoded
        try:
            response = await self.request(
                "GET", table_path(query.table), params=params, fields=fields, retry_safe=True
            )
        except PermissionDeniedError as error:
            grant = READ_GRANTS.get(query.table)
            if grant:
                self.refused_reads[query.table] = f"{error.message} Grant {grant}."
            raise
        self.refused_reads.pop(query.table, None)
        records = result(response)
        if not isinstance(records, list):
            raise InvalidResponseError(
                "ServiceNow answered a list request with a single record: check that the instance URL points "
                "at the instance itself, not a proxy"
            )
        return records, total_count(response)

    async def request(
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
                delay = self.retry.delay(error, retry) if retry_safe else None
                if delay is None:
                    raise
                logger.warning(
                    "ServiceNow %s %s failed (%s); retry %d of %d in %.2fs",
                    method,
                    path,
                    _reason(error),
                    retry,
                    self.retry.attempts - 1,
                    delay,
                )
                await self.retry.sleep(delay)

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
            response = await self.http.request(method, f"{self.instance_url}{path}", params=params, json=json)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, may_be_applied=method != "GET" and not retry_safe) from exc
        if not response.is_success:
            raise status_error(response, operation=operation(method, path))
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

    @staticmethod
    def parse(parse: Callable[[Record], T], record: Any) -> T:
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


def clean_sys_id(value: str) -> str:
    """A sys_id as ServiceNow writes it (trimmed, lower case); `QueryError` if it is not one."""
    return check_sys_id(value.strip().lower())


def table_path(table: str, sys_id: str | None = None) -> str:
    """`/api/now/table/<table>`, or one record of it (the sys_id checked)."""
    return f"{TABLE_API}/{table}" if sys_id is None else f"{TABLE_API}/{table}/{clean_sys_id(sys_id)}"


def _reason(error: ServiceNowError) -> str:
    return (
        type(error).__name__ if error.status_code is None else f"{type(error).__name__} {error.status_code}"
    )
