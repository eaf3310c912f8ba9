"""How the Bolt app is built: no warning at start-up, and the Web API client snowbot configured."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.settings import Settings
from bot.slack.app import build_slack
from bot.slack.client import DEFAULT_TIMEOUT, RateLimitRetry
from bot.usecases import Snowbot


async def test_start_up_has_no_token_unused_warning_and_the_client_is_configured(
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")  # as `snowbot run` sees it
    settings = make_settings(
        slack_bot_token="xoxb-from-the-environment",
        slack_signing_secret="secret",
        slack_api_url="http://127.0.0.1:9/api",
    )
    with caplog.at_level(logging.DEBUG):
        surface = build_slack(settings, make_snowbot(settings))

    assert "will be unused" not in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    client = surface.bolt.client
    assert client is surface.client
    assert client.token == "xoxb-from-the-environment"
    assert client.base_url == "http://127.0.0.1:9/api/"
    assert client.timeout == DEFAULT_TIMEOUT
    assert any(isinstance(handler, RateLimitRetry) for handler in client.retry_handlers)
