"""The one retry policy of snowbot's API clients (`servicenow/`, `qualytics_api/`): whether a failure is
worth another attempt, and how long to wait before it.

A client decides whether a *request* may be sent again (a read, or a write it knows is safe to repeat) and
only then asks the policy about the *failure*: `delay(error, retry)` is None to give up (the last attempt
failed, or the error will not pass), else the seconds to wait. The wait is the server's Retry-After when
it is at most `max_retry_after` (a longer one is not waited out: the error goes to the caller to
reschedule), else full-jitter exponential backoff. Which errors may pass is each service's to say: its
client package subclasses `RetryPolicy` with an `is_transient` for its own error tree (and, if it must,
other defaults). This module knows no service.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy", "Sleep", "no_jitter"]

Sleep = Callable[[float], Awaitable[object]]


def no_jitter() -> float:
    """A `jitter` that always waits the whole backoff step: 0.2, 0.4, 0.8, ... seconds."""
    return 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts every try, the first included (1 = never retry).

    `sleep` and `jitter` are injectable so tests run instantly and deterministically; `jitter()` returns a
    share in [0, 1] of the backoff step `min(max_delay, base_delay * 2 ** (retry - 1))`.
    """

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    sleep: Sleep = asyncio.sleep
    jitter: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must not be negative")

    def delay(self, error: Exception, retry: int) -> float | None:
        """Seconds to wait after failed attempt number `retry` (1-based) ended in `error`, or None to give up."""
        if not self.is_transient(error):
            return None
        return self.backoff(retry, retry_after=self.retry_after(error))

    def backoff(self, retry: int, *, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number `retry` (1-based) of a failure that may pass, or None
        when that was the last attempt or the server asks for a longer wait than `max_retry_after`."""
        if retry >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.jitter() * min(self.max_delay, self.base_delay * 2 ** (retry - 1))

    @staticmethod
    def is_transient(error: Exception) -> bool:
        """Whether `error` may pass if the request is sent again. Knowing no service, nothing is; each
        client's subclass says which of its errors are."""
        return False

    @staticmethod
    def retry_after(error: Exception) -> float | None:
        """The seconds the server asked to wait (an error's `retry_after`, when it has one)."""
        value = getattr(error, "retry_after", None)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
