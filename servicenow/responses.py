"""ServiceNow's answers, read: the Table API's JSON envelope, and the typed error of each failure status.

Facts: servicenow-table-api.md §5 (the error envelope, X-Total-Count, Retry-After) and its corrections (a
hibernating instance answers with a web page; Basic auth restrictions). The message of every error says
what to do; a body that is not ServiceNow's own error envelope is never echoed.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

import httpx

from servicenow.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceNowError,
)

HIBERNATING = (
    "the instance answered with a web page, not the API: is it hibernating? wake it up in the developer "
    "portal (https://developer.servicenow.com), or check that the instance URL is right"
)
BASIC_AUTH_RESTRICTION = (
    "If the instance enforces ServiceNow's basic auth restriction (Brazil release), Basic API calls are "
    'blocked unless the account is "Web service access only", presents MFA, or has the '
    "snc_basic_auth_api_access role"
)
"""servicenow-table-api.md, corrections: "Basic auth is being prepared for deprecation"."""


def result(response: httpx.Response) -> Any:
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


def total_count(response: httpx.Response) -> int | None:
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


def operation(method: str, path: str) -> str:
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


def status_error(response: httpx.Response, operation: str = "do this") -> ServiceNowError:
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
