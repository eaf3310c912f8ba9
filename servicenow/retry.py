"""When and how long to wait before trying a ServiceNow request again.

Only requests that are safe to repeat are retried (reads, and writes the caller marks retry-safe); the
client decides that. The policy decides which failures are worth another attempt and the delay:
full-jitter exponential backoff, or ServiceNow's Retry-After on a 429 when it is no longer than
`max_retry_after` (a longer one is not waited out: the `RateLimitError` goes to the caller to reschedule).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from servicenow.errors import RateLimitError, ServerError, ServiceNowConnectionError, ServiceNowError

RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts every try, the first included (1 = never retry).

    `sleep` and `jitter` are injectable so tests run instantly and deterministically; `jitter()` returns a
    share in [0, 1) of the backoff cap `min(max_delay, base_delay * 2 ** (retry - 1))`.
    """

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    jitter: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must not be negative")

    def delay(self, error: ServiceNowError, retry: int) -> float | None:
        """Seconds to wait before retry number `retry` (1-based) after `error`, or None to give up."""
        if retry >= self.attempts or not self.is_transient(error):
            return None
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        return self.jitter() * min(self.max_delay, self.base_delay * 2 ** (retry - 1))

    @staticmethod
    def is_transient(error: ServiceNowError) -> bool:
        """Connection problems, timeouts, 429 and 502/503/504 may pass; anything else will not."""
        if isinstance(error, ServiceNowConnectionError | RateLimitError):
            return True
        return isinstance(error, ServerError) and error.status_code in RETRY_STATUSES
