"""`/snow connect`: admins only; errors on the field or with the spec's advice; credentials never echoed."""

from __future__ import annotations

import json
import logging

import pytest

from bot.slack.ids import BlockId, ViewId
from emulators.servicenow import ServiceNowEmulator
from storage import integrations
from tests.bot.slack.conftest import Harness

PASSWORD = "S3cret-Pa55!word"  # noqa: S105 - the value whose absence the tests check


async def open_connect(h: Harness, user: str = "U_ADMIN") -> str:
    await h.command("connect", user=user)
    [opened] = h.slack.calls_to("views.open")
    assert opened.error is None
    view = h.last_view()
    assert view["callback_id"] == ViewId.CONNECT
    return view["id"]


async def test_a_member_gets_an_ephemeral_explanation_and_no_modal(h: Harness) -> None:
    await h.command("connect", user="U_JANE")

    [answer] = h.world.hooks.to("command")
    assert answer["response_type"] == "ephemeral"
    assert "Only workspace admins and owners" in answer["text"]
    assert h.slack.calls_to("views.open") == []


async def test_people_in_snowbot_admins_may_connect(h: Harness) -> None:
    assert h.snowbot.settings.admin_ids == {"U_BOB"}  # Bob is no workspace admin

    await open_connect(h, user="U_BOB")


async def test_a_malformed_url_is_answered_on_its_field(h: Harness) -> None:
    view_id = await open_connect(h)

    response = await h.interact(
        h.view_submission(
            view_id,
            {
                BlockId.INSTANCE_URL: "http://dev-snowbot.service-now.com",
                BlockId.USERNAME: "admin",
                BlockId.PASSWORD: PASSWORD,
            },
            user="U_ADMIN",
        )
    )

    body = response.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [BlockId.INSTANCE_URL]
    assert "https://" in body["errors"][BlockId.INSTANCE_URL]


async def test_wrong_credentials_show_the_reason_and_advice_without_echoing_them(
    h: Harness, sn_emulator: ServiceNowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    view_id = await open_connect(h)
    entered = {
        BlockId.INSTANCE_URL: "https://dev-snowbot.service-now.com",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: PASSWORD,
    }

    with caplog.at_level(logging.DEBUG, logger="bot"):
        await h.interact(h.view_submission(view_id, entered, user="U_ADMIN"))

    view = h.slack.views[view_id]
    shown = json.dumps(view)
    assert view["callback_id"] == ViewId.CONNECT  # the form again, to fix and retry
    assert "refused the credentials" in shown and "itil role" in shown
    assert "https://dev-snowbot.service-now.com" in shown
    assert PASSWORD not in shown  # nor in private_metadata, part of the view
    assert all(PASSWORD not in json.dumps(call.args) for call in h.slack.calls)
    assert PASSWORD not in caplog.text
    assert all(i.source == "env" for i in integrations.list_all(h.snowbot.db))


async def test_an_admin_connects(h: Harness) -> None:
    view_id = await open_connect(h)
    entered = {
        BlockId.INSTANCE_URL: "https://dev-snowbot.service-now.com/",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: "admin",
    }

    await h.interact(h.view_submission(view_id, entered, user="U_ADMIN"))

    assert "The Integration has been successfully created." in json.dumps(h.slack.views[view_id])
    [connected] = [i for i in integrations.list_all(h.snowbot.db) if i.source == "user"]
    assert (connected.instance_url, connected.status, connected.is_default) == (
        "https://dev-snowbot.service-now.com",
        "Connected",
        True,
    )


async def test_a_member_cannot_submit_a_connect_modal_either(h: Harness) -> None:
    view_id = await open_connect(h)
    entered = {
        BlockId.INSTANCE_URL: "https://dev-snowbot.service-now.com",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: "admin",
    }

    await h.interact(h.view_submission(view_id, entered, user="U_JANE"))

    assert "Only workspace admins and owners" in json.dumps(h.slack.views[view_id])
    assert all(i.source == "env" for i in integrations.list_all(h.snowbot.db))


async def test_when_slack_cannot_say_who_is_admin_the_person_is_asked_to_retry(h: Harness) -> None:
    view_id = await open_connect(h)
    entered = {
        BlockId.INSTANCE_URL: "https://dev-snowbot.service-now.com",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: "admin",
    }

    # users.info knows nobody by this id: unknown is not "not an admin", and nothing is connected
    await h.interact(h.view_submission(view_id, entered, user="U_NOBODY"))

    shown = json.dumps(h.slack.views[view_id])
    assert "did not say in time whether you are a workspace admin" in shown
    assert "Only workspace admins and owners" not in shown
    assert all(i.source == "env" for i in integrations.list_all(h.snowbot.db))


async def test_the_connect_modal_offers_sync_back_and_stores_the_choice(h: Harness) -> None:
    view_id = await open_connect(h)
    [select] = [b for b in h.last_view()["blocks"] if b.get("block_id") == BlockId.SYNC_BACK]
    values = [option["value"] for option in select["element"]["options"]]
    assert values == ["off", "comment", "comment_and_archive"]
    assert select["element"]["initial_option"]["value"] == "off"
    entered = {
        BlockId.INSTANCE_URL: "https://dev-snowbot.service-now.com",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: "admin",
        BlockId.SYNC_BACK: "comment_and_archive",
    }

    await h.interact(h.view_submission(view_id, entered, user="U_ADMIN"))

    [connected] = [i for i in integrations.list_all(h.snowbot.db) if i.source == "user"]
    assert connected.sync_back == "comment_and_archive"
