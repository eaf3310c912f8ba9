"""The Slack client's rate-limit ceiling and the task tracker's shutdown, without a Slack."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack.client import RateLimitRetry
from bot.slack.tasks import TaskTracker


def _rate_limited(retry_after: int) -> HttpResponse:
    return HttpResponse(status_code=429, headers={"retry-after": [str(retry_after)]})


async def _may_retry(method: str, retry_after: int) -> bool:
    request = HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})
    return await RateLimitRetry()._can_retry_async(
        state=RetryState(), request=request, response=_rate_limited(retry_after)
    )


async def test_a_modal_open_is_not_retried_past_its_trigger_ids_life_but_a_message_is() -> None:
    assert await _may_retry("views.open", 1) is True
    assert await _may_retry("views.open", 2) is False  # the trigger_id would be dead by then
    assert await _may_retry("views.push", 5) is False
    assert await _may_retry("chat.postMessage", 5) is True
    assert await _may_retry("chat.postMessage", 60) is False  # past the general ceiling


async def test_cancel_all_stops_work_still_running_at_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    tracker = TaskTracker()
    blocked = asyncio.Event()
    task = tracker.spawn(blocked.wait(), name="stuck")
    waiting = TaskTracker()
    waiting.spawn(blocked.wait(), name="inner")
    in_our_code = tracker.spawn(waiting.idle(within=3600), name="waiting")

    assert await tracker.idle(within=0.01) is False
    await tracker.cancel_all()

    assert task.cancelled() and in_our_code.cancelled() and len(tracker) == 0
    lines = [r.getMessage() for r in caplog.records if "at shutdown, cancelled" in r.getMessage()]
    assert len(lines) == 2  # one line per task, saying where it was
    [ours] = [line for line in lines if "TaskTracker.idle" in line]
    assert "cancelled: TaskTracker.idle (at bot/slack/tasks.py:" in ours and ours.endswith("task waiting)")
    assert any(line.endswith("cancelled: stuck") for line in lines)  # no snowbot code in it: its name
    waiting_task = next(iter(waiting._tasks))
    waiting_task.cancel()
