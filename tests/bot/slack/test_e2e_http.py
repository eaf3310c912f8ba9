"""`POST /slack/events`: request verification, url_verification, and how the extension is served."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.app import build_app
from bot.composition import Outside, compose
from bot.settings import Settings
from bot.slack.extension import slack_extension
from bot.slack.ids import Shortcut
from bot.usecases import Snowbot
from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.slack.conftest import ALERTS, Harness, qualytics_alert


async def test_url_verification_is_answered_when_signed(h: Harness) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )

    response = await h.post(body, "application/json")

    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def prepared_submission(h: Harness) -> dict[str, Any]:
    """A create-modal submission that, signed, would create an incident (the modal opened for real)."""
    alert = h.slack.add_message(
        ALERTS, "", attachments=[qualytics_alert(824)], user=None, bot_id="B0QUALYTICS"
    )
    await h.interact(h.message_action(Shortcut.CREATE_INCIDENT, alert))
    view_id = h.slack.calls_to("views.update")[-1].args["view_id"]
    h.slack.reset_log()
    return h.view_submission(view_id)


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"signed": False}, id="unsigned"),
        pytest.param({"signature": "v0=" + "0" * 64}, id="wrong-signature"),
        pytest.param({"timestamp": int(time.time()) - 5 * 60 - 10}, id="stale-timestamp"),
    ],
)
async def test_unverified_requests_get_401_and_change_nothing(
    h: Harness, sn_emulator: ServiceNowEmulator, how: dict[str, Any]
) -> None:
    submission = await prepared_submission(h)
    incidents = len(sn_emulator.incidents)
    sn_emulator.reset_log()

    responses = [
        await h.interact(submission, **how),
        await h.command("create 825", **how),
        await h.event(
            {"type": "app_home_opened", "user": "U_JANE", "channel": "D_JANE", "tab": "home"}, **how
        ),
    ]

    assert [r.status_code for r in responses] == [401, 401, 401]
    assert h.slack.calls == []  # not even auth.test
    assert h.world.hooks.posts == []
    assert sn_emulator.requests == [] and len(sn_emulator.incidents) == incidents
    assert links.for_anomaly(h.snowbot.db, 824) == [] and links.for_anomaly(h.snowbot.db, 825) == []


async def test_a_stale_but_correctly_signed_request_is_refused(h: Harness) -> None:
    old = int(time.time()) - 6 * 60
    body = json.dumps({"token": "t", "challenge": "c", "type": "url_verification"})
    signature = h.verifier.generate_signature(timestamp=str(old), body=body)

    response = await h.post(body, "application/json", timestamp=old, signature=signature)

    assert response.status_code == 401


async def test_snowbot_run_serves_the_slack_extension(slack_settings: Settings, outside: Outside) -> None:
    process = compose(slack_settings, outside=outside)  # what `snowbot run` serves (`bot.app.serve`)
    try:
        assert process.slack is not None and process.notifier is not None
        assert any(extension.routers for extension in process.extensions()[1:])  # POST /slack/events
    finally:
        await process.aclose()


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"slack_bot_token": None}, "SLACK_BOT_TOKEN"),
        ({"slack_signing_secret": None}, "SLACK_SIGNING_SECRET"),
    ],
)
async def test_without_slack_settings_the_api_runs_and_one_warning_says_why(
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    caplog: pytest.LogCaptureFixture,
    missing: dict[str, Any],
    named: str,
) -> None:
    settings = make_settings(**{"slack_bot_token": "xoxb-x", "slack_signing_secret": "s", **missing})
    with caplog.at_level(logging.WARNING, logger="bot.slack"):
        app = build_app(settings, snowbot=make_snowbot(settings), extensions=[slack_extension])

    [warning] = [r for r in caplog.records if r.name.startswith("bot.slack")]
    assert named in warning.getMessage() and "REST API still runs" in warning.getMessage()
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/slack/events", content=b"{}")).status_code == 404
            assert (await client.get("/healthz")).status_code == 200


async def test_with_the_sync_extension_slack_becomes_its_notifier_and_hook(
    slack_settings: Settings, outside: Outside
) -> None:
    from bot.slack.notifier import SlackNotifier

    process = compose(slack_settings, outside=outside)
    app = build_app(slack_settings, process=process)

    async with app.router.lifespan_context(app):
        assert process.engine is not None and isinstance(process.engine.notifier, SlackNotifier)
        assert process.engine.notifier is process.notifier
        assert process.snowbot.chatops.anomaly_changed is not None
        assert process.snowbot.reconciler.announcer is not None
