"""When to try a Qualytics request again: the shared `retrypolicy.RetryPolicy`, judging Qualytics' errors.

The client decides which requests may be sent again: reads (GET), status changes (PUT) and archiving
(DELETE) are idempotent; `POST /api/comments` only when the request provably never left. This policy says
which failures may pass: no answer (a connection problem, a timeout, a dropped connection), 429 and
500/502/503/504. Qualytics' defaults differ from the shared ones as they always have: 3 attempts, and
the backoff is not jittered (0.2 s, then 0.4 s). A Retry-After is honoured up to `max_retry_after`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import retrypolicy
from qualytics_api.errors import QualyticsUnavailableError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class QualyticsRetry(retrypolicy.RetryPolicy):
    """`attempts` counts the first try; delays double from `base_delay` up to `max_delay`. `sleep` is
    injectable so tests never wait."""

    attempts: int = 3
    jitter: Callable[[], float] = retrypolicy.no_jitter

    @staticmethod
    def is_transient(error: Exception) -> bool:
        """No answer, 429 and 500/502/503/504 may pass; anything else will not. (A body that is not the
        API's JSON is read only once an exchange succeeded, so the client never retries it.)"""
        return isinstance(error, QualyticsUnavailableError) and (
            error.status_code is None or error.status_code in RETRY_STATUSES
        )
