"""Which requests are retried, when, and after how long (sleeps are recorded, never slept)."""

from __future__ import annotations

import logging

import httpx
import pytest

from servicenow import RetryPolicy
from servicenow.errors import (
    NotFoundError,
    RateLimitError,
    ServerError,
    ServiceNowConnectionError,
    ServiceNowError,
    ServiceNowTimeoutError,
)
from tests.servicenow.samples import SYS_ID, envelope, error_body, incident_record

ONE_INCIDENT = f"/api/now/table/incident/{SYS_ID}"
OK = httpx.Response(200, json=envelope(incident_record()))
CREATED = httpx.Response(201, json=envelope(incident_record()))


def rate_limited(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, json=error_body("Rate limit exceeded"), headers=headers)


async def test_429_waits_the_retry_after_then_succeeds(client, router, sleeps) -> None:
    route = router.get(ONE_INCIDENT).mock(side_effect=[rate_limited("3"), rate_limited("1.5"), OK])
    incident = await client.get_incident(SYS_ID)
    assert incident.sys_id == SYS_ID
    assert sleeps.delays == [3.0, 1.5]
    assert route.call_count == 3


async def test_429_longer_than_max_retry_after_goes_back_to_the_caller(make_client, router, sleeps) -> None:
    route = router.get(ONE_INCIDENT).mock(side_effect=[rate_limited("3600")])
    client = make_client(RetryPolicy(max_retry_after=30, sleep=sleeps))
    with pytest.raises(RateLimitError) as caught:
        await client.get_incident(SYS_ID)
    assert caught.value.retry_after == 3600
    assert sleeps.delays == []
    assert route.call_count == 1


@pytest.mark.parametrize("header", [None, "soon", "-5", "nan"])
async def test_429_without_usable_retry_after_backs_off(client, router, sleeps, header) -> None:
    router.get(ONE_INCIDENT).mock(side_effect=[rate_limited(header), OK])
    await client.get_incident(SYS_ID)
    assert sleeps.delays == [0.2]


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_then_success(client, router, sleeps, status) -> None:
    route = router.get(ONE_INCIDENT).mock(side_effect=[httpx.Response(status), OK])
    assert (await client.get_incident(SYS_ID)).number == "INC0010002"
    assert route.call_count == 2
    assert sleeps.delays == [0.2]


async def test_gives_up_after_the_attempts_with_exponential_delays(client, router, sleeps) -> None:
    route = router.get(ONE_INCIDENT).respond(503)
    with pytest.raises(ServerError) as caught:
        await client.get_incident(SYS_ID)
    assert caught.value.status_code == 503
    assert route.call_count == 4
    assert sleeps.delays == [0.2, 0.4, 0.8]


async def test_delays_are_capped_and_jittered(make_client, router, sleeps) -> None:
    router.get(ONE_INCIDENT).respond(503)
    client = make_client(
        RetryPolicy(attempts=6, base_delay=1.0, max_delay=3.0, sleep=sleeps, jitter=lambda: 0.5)
    )
    with pytest.raises(ServerError):
        await client.get_incident(SYS_ID)
    assert sleeps.delays == [0.5, 1.0, 1.5, 1.5, 1.5]


async def test_default_jitter_stays_within_the_cap(make_client, router, sleeps) -> None:
    router.get(ONE_INCIDENT).respond(503)
    with pytest.raises(ServerError):
        await make_client(RetryPolicy(attempts=4, sleep=sleeps)).get_incident(SYS_ID)
    assert len(sleeps.delays) == 3
    assert all(0 <= delay <= cap for delay, cap in zip(sleeps.delays, [0.2, 0.4, 0.8], strict=True))


@pytest.mark.parametrize(
    "exception", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
async def test_get_retries_transport_failures(client, router, sleeps, exception) -> None:
    route = router.get(ONE_INCIDENT).mock(side_effect=[exception("boom"), exception("boom"), OK])
    assert (await client.get_incident(SYS_ID)).sys_id == SYS_ID
    assert route.call_count == 3
    assert sleeps.delays == [0.2, 0.4]


async def test_get_timeouts_exhausted_raise_timeout(client, router, sleeps) -> None:
    router.get(ONE_INCIDENT).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(ServiceNowTimeoutError) as caught:
        await client.get_incident(SYS_ID)
    assert "may have applied" not in caught.value.message  # a read changes nothing
    assert len(sleeps.delays) == 3


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json=error_body("Internal error")),
        httpx.Response(400, json=error_body("Invalid table incident")),
        httpx.Response(401, json=error_body("User Not Authenticated")),
        httpx.Response(403, json=error_body("Operation Failed")),
        httpx.Response(404, json=error_body("No Record found")),
        httpx.Response(200, text="<html>hibernating</html>", headers={"Content-Type": "text/html"}),
    ],
)
async def test_permanent_failures_are_not_retried(client, router, sleeps, response) -> None:
    route = router.get(ONE_INCIDENT).mock(return_value=response)
    with pytest.raises(ServiceNowError):
        await client.get_incident(SYS_ID)
    assert route.call_count == 1
    assert sleeps.delays == []


# -- writes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exception", [httpx.ReadTimeout("lost"), httpx.WriteTimeout("lost")])
async def test_create_is_never_retried_and_a_lost_answer_says_to_look_it_up(
    client, router, sleeps, exception
) -> None:
    route = router.post("/api/now/table/incident").mock(side_effect=[exception, CREATED])
    with pytest.raises(ServiceNowTimeoutError) as caught:
        await client.create_incident({"short_description": "x", "correlation_id": "qualytics-anomaly-1"})
    assert (
        "ServiceNow may have applied the change anyway: look it up before trying again"
        in caught.value.message
    )
    assert route.call_count == 1
    assert sleeps.delays == []


async def test_create_that_never_connected_does_not_claim_it_may_have_been_applied(
    client, router, sleeps
) -> None:
    route = router.post("/api/now/table/incident").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ServiceNowConnectionError) as caught:
        await client.create_incident({"short_description": "x"})
    assert "may have applied" not in caught.value.message
    assert route.call_count == 1


@pytest.mark.parametrize("response", [httpx.Response(503), httpx.Response(502), rate_limited("1")])
async def test_create_is_not_retried_on_transient_statuses(client, router, sleeps, response) -> None:
    route = router.post("/api/now/table/incident").mock(side_effect=[response, CREATED])
    with pytest.raises((ServerError, RateLimitError)):
        await client.create_incident({"short_description": "x"})
    assert route.call_count == 1
    assert sleeps.delays == []


async def test_work_note_is_not_retried_by_default(client, router, sleeps) -> None:
    route = router.patch(ONE_INCIDENT).mock(side_effect=[httpx.Response(503), OK])
    with pytest.raises(ServerError):
        await client.add_work_note(SYS_ID, "note")
    assert route.call_count == 1


async def test_work_note_timeout_without_retry_safe_says_it_may_have_been_applied(client, router) -> None:
    router.patch(ONE_INCIDENT).mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(ServiceNowTimeoutError, match="may have applied the change anyway"):
        await client.add_work_note(SYS_ID, "note")


async def test_retry_safe_patch_is_retried(client, router, sleeps) -> None:
    route = router.patch(ONE_INCIDENT).mock(side_effect=[httpx.Response(503), httpx.ReadTimeout("lost"), OK])
    incident = await client.add_work_note(SYS_ID, "note", retry_safe=True)
    assert incident.sys_id == SYS_ID
    assert route.call_count == 3
    assert sleeps.delays == [0.2, 0.4]


async def test_retry_safe_resolve_is_retried_but_not_on_500(client, router, sleeps) -> None:
    route = router.patch(ONE_INCIDENT).mock(side_effect=[httpx.ReadTimeout("lost"), OK])
    await client.resolve(SYS_ID, "Solution provided", "Fixed", retry_safe=True)
    assert route.call_count == 2

    route.mock(side_effect=[httpx.Response(500, json=error_body("Internal error")), OK])
    route.reset()
    with pytest.raises(ServerError):
        await client.resolve(SYS_ID, "Solution provided", "Fixed", retry_safe=True)
    assert route.call_count == 1


async def test_retries_are_logged_without_secrets(client, router, caplog) -> None:
    router.get(ONE_INCIDENT).mock(side_effect=[httpx.Response(503), OK])
    with caplog.at_level(logging.WARNING, logger="servicenow"):
        await client.get_incident(SYS_ID)
    (record,) = [r for r in caplog.records if r.name == "servicenow.client"]
    assert record.getMessage() == (
        f"ServiceNow GET /api/now/table/incident/{SYS_ID} failed (ServerError 503); retry 1 of 3 in 0.20s"
    )


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="must not be negative"):
        RetryPolicy(base_delay=-1)


def test_policy_delay_decisions() -> None:
    policy = RetryPolicy(attempts=3, jitter=lambda: 1.0, max_retry_after=10)
    assert policy.delay(ServerError("x", status_code=503), 1) == 0.2
    assert policy.delay(ServerError("x", status_code=503), 3) is None  # a 4th attempt is one too many
    assert policy.delay(ServerError("x", status_code=500), 1) is None
    assert policy.delay(RateLimitError("x", retry_after=10), 1) == 10
    assert policy.delay(RateLimitError("x", retry_after=11), 1) is None
    assert policy.delay(ServiceNowTimeoutError("x"), 2) == 0.4
    assert policy.delay(NotFoundError("x", status_code=404), 1) is None
