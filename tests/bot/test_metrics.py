"""`bot.metrics`' outcome counting: the httpx transport around the clients' own, and the Slack Web API
meter slack_sdk consults first with every response and error."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.metrics import Metrics, SlackCallMeter


def counted(metrics: Metrics, system: str, operation: str, outcome: str) -> float:
    labels = {"system": system, "operation": operation, "outcome": outcome}
    return metrics.registry.get_sample_value("snowbot_requests_total", labels) or 0.0


async def test_the_transport_counts_reads_writes_and_their_outcomes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/timeout":
            raise httpx.ReadTimeout("no answer", request=request)
        if request.url.path == "/refused":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(request.url.path.strip("/")))

    metrics = Metrics()
    transport = metrics.transport("servicenow", httpx.MockTransport(answer))
    async with httpx.AsyncClient(transport=transport, base_url="https://x.service-now.com") as http:
        await http.get("/200")
        await http.patch("/200")
        await http.post("/400")
        await http.get("/429")
        await http.get("/503")
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/timeout")
        with pytest.raises(httpx.ConnectError):
            await http.post("/refused")

    assert counted(metrics, "servicenow", "read", "ok") == 1
    assert counted(metrics, "servicenow", "write", "ok") == 1
    assert counted(metrics, "servicenow", "write", "client_error") == 1
    assert counted(metrics, "servicenow", "read", "rate_limited") == 1
    assert counted(metrics, "servicenow", "read", "server_error") == 1
    assert counted(metrics, "servicenow", "read", "timeout") == 1
    assert counted(metrics, "servicenow", "write", "connection_error") == 1


@pytest.mark.parametrize(
    ("method", "status", "body", "error", "expected"),
    [
        ("users.info", 200, {"ok": True}, None, ("read", "ok")),
        (
            "chat.postMessage",
            200,
            {"ok": False, "error": "channel_not_found"},
            None,
            ("write", "client_error"),
        ),
        ("chat.update", 429, {"ok": False, "error": "ratelimited"}, None, ("write", "rate_limited")),
        ("conversations.history", 500, None, None, ("read", "server_error")),
        ("chat.unfurl", None, None, TimeoutError(), ("write", "timeout")),
    ],
)
async def test_slack_calls_are_counted_and_never_retried(
    method: str, status: int | None, body: dict | None, error: Exception | None, expected: tuple[str, str]
) -> None:
    metrics = Metrics()
    meter = SlackCallMeter(metrics)
    request = HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})
    response = HttpResponse(status_code=status, headers={}, body=body) if status is not None else None

    retry = await meter.can_retry_async(state=RetryState(), request=request, response=response, error=error)

    assert retry is False
    assert counted(metrics, "slack", *expected) == 1
