"""Connecting ServiceNow with OAuth 2.0: `POST /api/integrations/ticketing` with `auth`, and the environment
(SERVICENOW_AUTH, SERVICENOW_CLIENT_ID, SERVICENOW_CLIENT_SECRET), against the emulator's token endpoint."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.startup import StartupError, check_settings
from bot.usecases import Snowbot
from emulators.servicenow import ServiceNowEmulator
from emulators.servicenow_oauth import CLIENT_CREDENTIALS_PROPERTY, OAuthClient
from storage import integrations
from tests.conftest import API_TOKEN

URL = "https://dev-snowbot.service-now.com"
SECRET = "Client-Secret-77"
CONNECT = "/api/integrations/ticketing"


@pytest.fixture
def oauth_emulator(sn_emulator: ServiceNowEmulator) -> ServiceNowEmulator:
    sn_emulator.oauth.clients["snowbot-app"] = OAuthClient("snowbot-app", SECRET, user="svc")
    sn_emulator.add_user("svc", "Svc-Pass-3", ["itil"])
    return sn_emulator


async def post_all(bot: Snowbot, settings: Settings, *bodies: dict[str, object]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=build_app(settings, snowbot=bot))
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
        return [await client.post(CONNECT, json=body) for body in bodies]


async def test_connect_with_each_oauth_grant_stores_the_secret_encrypted(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    oauth_emulator: ServiceNowEmulator,
) -> None:
    settings = make_settings(servicenow_instance_url=None, servicenow_credentials=None)
    bot = make_snowbot(settings)
    oauth = {"client_id": "snowbot-app", "client_secret": SECRET}
    password, refused, missing, both = await post_all(
        bot,
        settings,
        {"instance_url": URL, "auth": "oauth_password", "credentials": "svc:Svc-Pass-3", **oauth},
        {"instance_url": URL, "auth": "oauth_client_credentials", **oauth},
        {"instance_url": URL, "auth": "oauth_password", "credentials": "svc:Svc-Pass-3"},
        {"instance_url": URL, "auth": "oauth_client_credentials", "credentials": "svc:Svc-Pass-3", **oauth},
    )
    assert password.status_code == 201, password.text
    assert password.json()["integration"]["auth_type"] == "oauth_password"
    assert password.json()["integration"]["client_id"] == "snowbot-app"
    assert oauth_emulator.oauth.token_requests == ["password", "client_credentials"]
    assert refused.status_code == 502 and CLIENT_CREDENTIALS_PROPERTY in refused.json()["detail"]
    assert missing.status_code == 422 and "client_id and client_secret" in missing.text
    assert both.status_code == 422 and "leave out credentials" in both.text
    row = next(bot.db.query("SELECT * FROM integrations"))
    assert SECRET not in str(row) and row["client_secret_encrypted"]
    for response in (password, refused, missing, both):
        assert SECRET not in response.text and "Svc-Pass-3" not in response.text

    oauth_emulator.properties[CLIENT_CREDENTIALS_PROPERTY] = "true"
    (enabled,) = await post_all(
        bot, settings, {"instance_url": URL, "auth": "oauth_client_credentials", **oauth}
    )
    assert enabled.status_code == 201, enabled.text
    assert enabled.json()["integration"]["auth_type"] == "oauth_client_credentials"
    client = await bot.connections.default_client()
    created = await client.create_incident({"short_description": "via client credentials"})
    assert oauth_emulator.incidents[created.sys_id]["sys_created_by"] == "svc"


async def test_the_body_of_today_still_means_basic(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    oauth_emulator: ServiceNowEmulator,
) -> None:
    settings = make_settings(servicenow_instance_url=None, servicenow_credentials=None)
    (ok,) = await post_all(
        make_snowbot(settings), settings, {"instance_url": URL, "credentials": "svc:Svc-Pass-3"}
    )
    assert ok.status_code == 201 and ok.json()["integration"]["auth_type"] == "basic"
    assert oauth_emulator.oauth.token_requests == []


async def test_the_environment_can_log_in_with_oauth(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    oauth_emulator: ServiceNowEmulator,
) -> None:
    settings = make_settings(
        servicenow_auth="oauth_password",
        servicenow_credentials="svc:Svc-Pass-3",
        servicenow_client_id="snowbot-app",
        servicenow_client_secret=SECRET,
    )
    bot = make_snowbot(settings)
    bot.ensure_env_integration()
    integration = await bot.connections.check_connection()
    assert (integration.status, integration.auth_type, integration.client_id) == (
        "Connected",
        "oauth_password",
        "snowbot-app",
    )
    assert oauth_emulator.oauth.token_requests == ["password"]
    row = next(bot.db.query("SELECT * FROM integrations"))
    assert row["client_secret_encrypted"] is None and row["password_encrypted"] is None  # env: nothing stored
    assert integrations.default(bot.db) is not None


def test_oauth_in_the_environment_needs_the_client(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(StartupError, match="SERVICENOW_CLIENT_ID and SERVICENOW_CLIENT_SECRET"):
        check_settings(make_settings(servicenow_auth="oauth_password"))
    check_settings(
        make_settings(
            servicenow_auth="OAuth_Client_Credentials",
            servicenow_credentials=None,
            servicenow_client_id="snowbot-app",
            servicenow_client_secret=SECRET,
        )
    )
