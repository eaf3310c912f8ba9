"""Everything that can go wrong when snowbot talks to ServiceNow, as one exception tree.

    ServiceNowError                  base: .message (what a person should do), .status_code, .detail
    ├── ConfigurationError           bad instance URL or credentials; raised before any request
    ├── QueryError                   a value that would change the meaning of an encoded query (also ValueError)
    ├── ServiceNowConnectionError    the instance could not be reached (DNS, refused, TLS, reset)
    │   └── ServiceNowTimeoutError   no answer in time; a write may have been applied anyway
    ├── InvalidResponseError         an answer, but not the Table API's JSON (e.g. a hibernating instance)
    └── APIStatusError               ServiceNow answered with an error status
        ├── BadRequestError          400, e.g. "Invalid table x"
        ├── AuthenticationError      401
        ├── PermissionDeniedError    403: missing role, ACL, or a data policy
        ├── NotFoundError            404: no such record, or an ACL hides it
        ├── RateLimitError           429, with .retry_after (seconds) when ServiceNow sent one
        └── ServerError              5xx

`str(error) == error.message`. Messages and `detail` never contain credentials or request headers.

`may_be_applied` says whether the failed request may have reached ServiceNow and been applied anyway
(a read timeout, a dropped connection after sending, a 502/504 from a proxy, an unreadable 2xx answer).
When it is False the request never left (connect error, connect or pool timeout) or ServiceNow answered
with an error of its own (4xx, 500, 503), so a write may be sent again; when True, look before repeating.
"""

from __future__ import annotations


class ServiceNowError(Exception):
    """Base class. `message` says what to do; `detail` carries ServiceNow's own words when it sent any."""

    may_be_applied: bool = False
    """True when the request may have been applied although it failed: look before sending it again."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: str | None = None,
        may_be_applied: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        if may_be_applied is not None:
            self.may_be_applied = may_be_applied

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(message={self.message!r}, status_code={self.status_code!r})"


class ConfigurationError(ServiceNowError):
    """The instance URL or the credentials are malformed."""


class QueryError(ServiceNowError, ValueError):
    """A field, operator or value that cannot be put into an encoded query safely."""


class ServiceNowConnectionError(ServiceNowError):
    """The request did not get an HTTP answer. `may_be_applied` is False only when it provably never left
    (connect error, connect or pool timeout); the client sets it, and it defaults to the cautious True."""

    may_be_applied = True


class ServiceNowTimeoutError(ServiceNowConnectionError):
    """The instance did not answer in time."""


class InvalidResponseError(ServiceNowError):
    """The instance answered, but not with the Table API's JSON envelope."""


class APIStatusError(ServiceNowError):
    """ServiceNow answered with an error status (`status_code` is always set)."""


class BadRequestError(APIStatusError):
    """400: ServiceNow could not process the request (unknown table, invalid payload)."""


class AuthenticationError(APIStatusError):
    """401: the credentials were refused."""


class PermissionDeniedError(APIStatusError):
    """403: the account lacks a role, an ACL refused the operation, or a data policy blocked it."""


class NotFoundError(APIStatusError):
    """404: the record does not exist or the account may not read it."""


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` is ServiceNow's Retry-After in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 429,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, detail=detail)
        self.retry_after = retry_after


GATEWAY_STATUSES = frozenset({502, 504})
"""5xx a proxy in front of the instance may answer after ServiceNow applied the request."""


class ServerError(APIStatusError):
    """5xx: the instance failed; usually temporary. A 502/504 `may_be_applied` (unless told otherwise)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: str | None = None,
        may_be_applied: bool | None = None,
    ) -> None:
        if may_be_applied is None:
            may_be_applied = status_code in GATEWAY_STATUSES
        super().__init__(message, status_code=status_code, detail=detail, may_be_applied=may_be_applied)
