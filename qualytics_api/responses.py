"""How one exchange with the Qualytics API becomes a result or a `QualyticsError`.

A transport failure or an error status becomes the error whose message says what to do (a 403 names the
team permission the request needs, a lost answer to a request that is not idempotent says it may have
worked); a 2xx body is parsed into a model, and anything that is not the API's JSON says QUALYTICS_URL may
name a proxy or a login page. The API's own explanation (`detail`) is kept, shortened, without the
request's input. Never sends a request and never decides a retry (`QualyticsClient` and `QualyticsRetry` do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from qualytics_api.errors import (
    TOKEN_HELP,
    QualyticsAuthError,
    QualyticsBadRequestError,
    QualyticsConfigError,
    QualyticsError,
    QualyticsNotFoundError,
    QualyticsRateLimitError,
    QualyticsTimeoutError,
    QualyticsUnavailableError,
)

# Failures that happen before a single byte of the request left: safe to retry even a POST.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

M = TypeVar("M", bound=BaseModel)


def transport_error(
    exc: httpx.TransportError, *, base_url: str, action: str, idempotent: bool
) -> QualyticsError:
    if isinstance(exc, NOT_SENT):
        return QualyticsUnavailableError(
            f"could not connect to Qualytics at {base_url} to {action}: "
            "check QUALYTICS_URL and that the instance is reachable"
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return QualyticsConfigError(f"could not reach Qualytics at {base_url} to {action}: {exc}")
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


def status_error(
    response: httpx.Response,
    *,
    base_url: str,
    action: str,
    anomaly_id: int | None,
    idempotent: bool,
    permission: str,
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
            message = f"Qualytics has no such endpoint: check that QUALYTICS_URL ({base_url}) is the instance"
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
            retry_after=_retry_after(response),
        )
    return QualyticsError(
        f"Qualytics answered HTTP {status} when asked to {action}{f': {detail}' if detail else ''}",
        status_code=status,
        detail=detail,
    )


def parse(model: type[M], response: httpx.Response, *, base_url: str, action: str) -> M:
    content_type = response.headers.get("content-type", "")
    try:
        if "json" not in content_type:
            raise ValueError(content_type)
        data = response.json()
    except ValueError:
        what = f"something that is not JSON ({content_type or 'no content type'})"
        raise not_api(base_url=base_url, action=action, what=what) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        what = f"JSON of an unexpected shape ({where}: {first['msg']})"
        raise not_api(base_url=base_url, action=action, what=what) from None


def not_api(*, base_url: str, action: str, what: str) -> QualyticsUnavailableError:
    return QualyticsUnavailableError(
        f"Qualytics answered the request to {action} with {what}: check that QUALYTICS_URL "
        f"({base_url}) is the Qualytics instance and not a proxy or login page"
    )


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
