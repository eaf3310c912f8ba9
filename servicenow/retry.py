"""When to try a ServiceNow request again: the shared `retrypolicy.RetryPolicy`, judging ServiceNow's errors.

Only requests that are safe to repeat are retried (reads, and writes the caller marks retry-safe); the
client decides that. The policy decides which failures are worth another attempt and the delay:
full-jitter exponential backoff, or ServiceNow's Retry-After on a 429 when it is no longer than
`max_retry_after` (a longer one is not waited out: the `RateLimitError` goes to the caller to reschedule).
The timing is the shared policy's; this module adds only which ServiceNow errors may pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import retrypolicy
from servicenow.errors import RateLimitError, ServerError, ServiceNowConnectionError

RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy(retrypolicy.RetryPolicy):
    """`attempts` counts every try, the first included (1 = never retry); 4 unless told.

    `sleep` and `jitter` are injectable so tests run instantly and deterministically; `jitter()` returns a
    share in [0, 1) of the backoff cap `min(max_delay, base_delay * 2 ** (retry - 1))`.
    """

    @staticmethod
    def is_transient(error: Exception) -> bool:
        """Connection problems, timeouts, 429 and 502/503/504 may pass; anything else will not."""
        if isinstance(error, ServiceNowConnectionError | RateLimitError):
            return True
        return isinstance(error, ServerError) and error.status_code in RETRY_STATUSES
