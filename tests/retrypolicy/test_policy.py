"""The one retry policy both API clients use: its timing, and each service's verdict on its own errors."""

from __future__ import annotations

import dataclasses
import random

import pytest

import retrypolicy
from qualytics_api import (
    QualyticsAuthError,
    QualyticsConfigError,
    QualyticsRateLimitError,
    QualyticsRetry,
    QualyticsTimeoutError,
    QualyticsUnavailableError,
)
from servicenow import RetryPolicy as ServiceNowRetry
from servicenow.errors import RateLimitError, ServerError, ServiceNowConnectionError

SERVICES = [ServiceNowRetry, QualyticsRetry]


@pytest.mark.parametrize("policy", SERVICES)
def test_both_clients_share_one_policy(policy: type[retrypolicy.RetryPolicy]) -> None:
    assert issubclass(policy, retrypolicy.RetryPolicy)
    # the timing is written once: a service adds only which of its errors may pass (and its defaults)
    assert policy.delay is retrypolicy.RetryPolicy.delay
    assert policy.backoff is retrypolicy.RetryPolicy.backoff
    assert [f.name for f in dataclasses.fields(policy)] == [
        f.name for f in dataclasses.fields(retrypolicy.RetryPolicy)
    ]


def test_backoff_doubles_is_capped_and_jittered() -> None:
    policy = retrypolicy.RetryPolicy(attempts=5, base_delay=1, max_delay=3, jitter=lambda: 0.5)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 1.5, 1.5, None]


def test_retry_after_is_waited_up_to_its_ceiling_and_never_past_the_last_attempt() -> None:
    policy = retrypolicy.RetryPolicy(attempts=3, max_retry_after=10)
    assert policy.backoff(1, retry_after=10) == 10
    assert policy.backoff(1, retry_after=11) is None
    assert policy.backoff(3, retry_after=1) is None


def test_a_policy_that_knows_no_service_retries_nothing() -> None:
    assert retrypolicy.RetryPolicy().delay(RuntimeError("boom"), 1) is None


def test_only_a_number_is_a_retry_after() -> None:
    class Odd(Exception):
        def __init__(self, retry_after: object) -> None:
            self.retry_after = retry_after

    read = retrypolicy.RetryPolicy.retry_after
    assert [read(Odd(3)), read(Odd(2.5)), read(Odd(True)), read(Odd("7")), read(RuntimeError())] == [
        3.0,
        2.5,
        None,
        None,
        None,
    ]


@pytest.mark.parametrize("policy", SERVICES)
def test_bad_numbers_are_refused_for_every_service(policy: type[retrypolicy.RetryPolicy]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        policy(attempts=0)
    with pytest.raises(ValueError, match="negative"):
        policy(max_delay=-1)


def test_each_service_keeps_its_defaults() -> None:
    servicenow, qualytics = ServiceNowRetry(), QualyticsRetry()
    assert servicenow.attempts == 4 and servicenow.jitter is random.random
    assert qualytics.attempts == 3 and [qualytics.backoff(n) for n in (1, 2, 3)] == [0.2, 0.4, None]


def test_servicenow_errors_that_may_pass() -> None:
    policy = ServiceNowRetry(jitter=retrypolicy.no_jitter)
    assert policy.delay(ServiceNowConnectionError("reset"), 1) == 0.2
    assert policy.delay(ServerError("x", status_code=503), 2) == 0.4
    assert policy.delay(RateLimitError("x", retry_after=4), 1) == 4
    assert policy.delay(ServerError("x", status_code=500), 1) is None  # ServiceNow's own error: it stays
    assert policy.delay(QualyticsTimeoutError("no answer"), 1) is None  # not ServiceNow's to judge


def test_qualytics_errors_that_may_pass() -> None:
    policy = QualyticsRetry()
    assert policy.delay(QualyticsTimeoutError("no answer", maybe_applied=True), 1) == 0.2
    assert policy.delay(QualyticsUnavailableError("x", status_code=500), 2) == 0.4
    assert policy.delay(QualyticsUnavailableError("x", status_code=503, retry_after=3), 1) == 3
    assert policy.delay(QualyticsRateLimitError("x", retry_after=31), 1) is None  # past max_retry_after
    assert policy.delay(QualyticsUnavailableError("x", status_code=501), 1) is None
    assert policy.delay(QualyticsAuthError("x", status_code=401), 1) is None
    assert policy.delay(QualyticsConfigError("x"), 1) is None
    assert policy.delay(ServiceNowConnectionError("reset"), 1) is None  # not Qualytics' to judge
