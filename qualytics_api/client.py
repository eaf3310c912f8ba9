"""Async client for the Qualytics REST API: anomalies, their status and their comments.

Talks to `<QUALYTICS_URL>/api` with `Authorization: Bearer <token>` over an injected `httpx.AsyncClient`
(`QualyticsClient.connect` builds one); answers become the models of `qualytics_api.models`, failures the
errors of `qualytics_api.errors` (`qualytics_api.responses` maps them). The token stays a `SecretStr` until
a request is sent: it is in no attribute, repr or log line.

Retries follow `QualyticsRetry` (the shared `retrypolicy` timing). Reads (GET), status changes (PUT) and
archiving (DELETE) are idempotent and are retried on 429/5xx, timeouts and connection errors.
`POST /api/comments` is retried only when the request provably never reached Qualytics (the connection
could not be made); after any other failure the error has `maybe_applied=True` and says the comment may
exist already, so a caller can check before sending it again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Generator, Mapping
from datetime import date, datetime
from typing import Any, Self

import httpx
from pydantic import SecretStr

from qualytics_api.errors import TOKEN_HELP, QualyticsConfigError
from qualytics_api.models import Anomaly, AnomalyPage, Comment, QualyticsUser, anomaly_url, instance_url
from qualytics_api.responses import NOT_SENT, M, not_api, parse, status_error, transport_error
from qualytics_api.retry import QualyticsRetry

log = logging.getLogger(__name__)


class _BearerAuth(httpx.Auth):
    """Keeps the token a `SecretStr` until a request is sent, so it is in no client attribute or repr."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(token=SecretStr('**********'))"


class QualyticsClient:
    def __init__(
        self, http: httpx.AsyncClient, base_url: str, *, retry: QualyticsRetry | None = None
    ) -> None:
        self.base_url = instance_url(base_url)
        if not _is_web_address(self.base_url):
            raise QualyticsConfigError(
                f"QUALYTICS_URL must be the instance's address, like https://acme.qualytics.io (got {base_url!r})"
            )
        self._http = http
        self._api = f"{self.base_url}/api"
        self.retry = retry or QualyticsRetry()

    @classmethod
    def connect(
        cls,
        base_url: str,
        token: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: QualyticsRetry | None = None,
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
            raise not_api(base_url=self.base_url, action=action, what="something that is not JSON") from None
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
        query = tuple(params) if params is not None else None  # a tuple: httpx types a list invariantly
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, f"{self._api}{path}", params=query, json=json)
            except httpx.TransportError as exc:
                error = transport_error(exc, base_url=self.base_url, action=action, idempotent=idempotent)
                may_repeat = idempotent or isinstance(exc, NOT_SENT)
            else:
                if response.is_success:
                    return response
                error = status_error(
                    response,
                    base_url=self.base_url,
                    action=action,
                    anomaly_id=anomaly_id,
                    idempotent=idempotent,
                    permission=permission,
                )
                may_repeat = idempotent
            delay = self.retry.delay(error, attempt) if may_repeat else None
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

    def _parse(self, model: type[M], response: httpx.Response, action: str) -> M:
        return parse(model, response, base_url=self.base_url, action=action)


def _is_web_address(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


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
