"""Everything that can go wrong when snowbot talks to Qualytics, as one exception tree.

`str(err) == err.message`, a sentence saying what a person should do; never the token.

    QualyticsError                  base; .message, .status_code, .detail (the API's own words)
      QualyticsConfigError          QUALYTICS_URL or QUALYTICS_TOKEN is unusable
      QualyticsAuthError            401 (token invalid or expired), 403 (token lacks a permission)
      QualyticsNotFoundError        404
      QualyticsBadRequestError      400, 409, 422: Qualytics refused the request; .detail says why
      QualyticsUnavailableError     5xx, 429, timeouts, connection errors, answers that are not the API's JSON;
                                    .maybe_applied: Qualytics may have done it although the answer was lost;
                                    .retry_after: the seconds a 429 or 5xx answer asked to wait, if any
        QualyticsTimeoutError       sent, but no answer in time
        QualyticsRateLimitError     429
"""

from __future__ import annotations

TOKEN_HELP = "create a new one under Settings → Tokens and set QUALYTICS_TOKEN"


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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, detail=detail)
        self.maybe_applied = maybe_applied
        """True when Qualytics may have carried out the request although the answer was lost."""
        self.retry_after = retry_after
        """The answer's Retry-After in seconds, when it sent one (a 429, or a 503 during maintenance)."""


class QualyticsTimeoutError(QualyticsUnavailableError):
    pass


class QualyticsRateLimitError(QualyticsUnavailableError):
    def __init__(self, message: str, *, retry_after: float | None = None, detail: str | None = None) -> None:
        super().__init__(message, status_code=429, detail=detail, retry_after=retry_after)
