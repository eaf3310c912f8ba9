"""`/snow connect` with OAuth 2.0: the modal offers Basic / OAuth password / OAuth client credentials; the
OAuth fields are checked on their blocks; the client secret is never echoed."""

from __future__ import annotations

import json

from bot.slack.ids import BlockId
from emulators.servicenow import ServiceNowEmulator
from emulators.servicenow_oauth import CLIENT_CREDENTIALS_PROPERTY, OAuthClient
from storage import integrations
from tests.bot.slack.conftest import Harness
from tests.bot.slack.test_e2e_connect import open_connect

SECRET = "Oauth-Client-S3cret"  # noqa: S105 - the value whose absence the tests check
URL = "https://dev-snowbot.service-now.com"


def test_the_modal_offers_the_three_ways_to_log_in() -> None:
    from bot.slack.blocks import connect_modal

    view = connect_modal()
    [select] = [b for b in view["blocks"] if b.get("block_id") == BlockId.AUTH_KIND]
    assert [o["value"] for o in select["element"]["options"]] == [
        "basic",
        "oauth_password",
        "oauth_client_credentials",
    ]
    assert select["element"]["initial_option"]["value"] == "basic"
    ids = [b.get("block_id") for b in view["blocks"]]
    assert BlockId.CLIENT_ID in ids and BlockId.CLIENT_SECRET in ids


async def test_oauth_without_a_client_id_is_answered_on_its_field(h: Harness) -> None:
    view_id = await open_connect(h)
    entered = {
        BlockId.INSTANCE_URL: URL,
        BlockId.AUTH_KIND: "oauth_password",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: "admin",
    }
    response = await h.interact(h.view_submission(view_id, entered, user="U_ADMIN"))
    body = response.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [BlockId.CLIENT_ID]


async def test_an_admin_connects_with_client_credentials(h: Harness, sn_emulator: ServiceNowEmulator) -> None:
    sn_emulator.oauth.clients["snowbot-app"] = OAuthClient("snowbot-app", SECRET)
    view_id = await open_connect(h)
    entered = {
        BlockId.INSTANCE_URL: URL,
        BlockId.AUTH_KIND: "oauth_client_credentials",
        BlockId.CLIENT_ID: "snowbot-app",
        BlockId.CLIENT_SECRET: SECRET,
    }

    await h.interact(h.view_submission(view_id, entered, user="U_ADMIN"))
    refused = json.dumps(h.slack.views[view_id])  # the form again, with the reason
    assert CLIENT_CREDENTIALS_PROPERTY in refused and SECRET not in refused

    sn_emulator.properties[CLIENT_CREDENTIALS_PROPERTY] = "true"
    again = {BlockId.CLIENT_SECRET: SECRET}  # the kind and the client id are still filled in; the secret not
    await h.interact(h.view_submission(view_id, again, user="U_ADMIN"))

    assert "The Integration has been successfully created." in json.dumps(h.slack.views[view_id])
    [connected] = [i for i in integrations.list_all(h.snowbot.db) if i.source == "user"]
    assert (connected.auth_type, connected.client_id, connected.status) == (
        "oauth_client_credentials",
        "snowbot-app",
        "Connected",
    )
    assert all(SECRET not in json.dumps(call.args) for call in h.slack.calls)
