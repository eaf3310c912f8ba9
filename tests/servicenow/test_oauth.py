"""OAuth 2.0 (`servicenow.auth`) against the ServiceNow emulator's `/oauth_token.do`, in-process.

The client's token clock and the emulator's clock are one driven clock: expiry is reached by moving it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from emulators.servicenow import ServiceNowEmulator
from emulators.servicenow_oauth import CLIENT_CREDENTIALS_PROPERTY, OAuthClient
from servicenow import Credentials, RetryPolicy, ServiceNowClient
from servicenow.auth import REFRESH_AHEAD, OAuthFlow, check_auth_kind
from servicenow.errors import AuthenticationError, ConfigurationError

INSTANCE = "https://dev-snowbot.service-now.com"
T0 = datetime(2026, 1, 23, 19, 0, tzinfo=UTC)
CLIENT_ID, CLIENT_SECRET = "3f1d2a9c", "oauth-client-secret-42"


class Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def utc(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sn(clock: Clock) -> ServiceNowEmulator:
    return ServiceNowEmulator(
        base_url=INSTANCE,
        seed=False,
        clock=clock.utc,
        oauth_clients=[OAuthClient(CLIENT_ID, CLIENT_SECRET, user="svc")],
        users=[("admin", "admin", ["admin"]), ("svc", "svc-pw", ["itil"])],
    )


def creds(
    auth: str = "oauth_password", *, secret: str = CLIENT_SECRET, password: str = "admin"
) -> Credentials:
    username = "" if auth == "oauth_client_credentials" else "admin"
    return Credentials(
        username=username,
        password=SecretStr(password),
        auth=check_auth_kind(auth),
        client_id=CLIENT_ID,
        client_secret=SecretStr(secret),
    )


def client(sn: ServiceNowEmulator, clock: Clock, credentials: Credentials) -> ServiceNowClient:
    return ServiceNowClient.connect(
        INSTANCE,
        credentials,
        transport=sn.transport(),
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
        clock=clock,
    )


def flow(sn_client: ServiceNowClient) -> OAuthFlow:
    auth = sn_client._http.auth
    assert isinstance(auth, OAuthFlow)
    return auth


async def test_password_grant_then_bearer_on_the_table_api(sn: ServiceNowEmulator, clock: Clock) -> None:
    async with client(sn, clock, creds()) as sn_client:
        await sn_client.check_connection()
        await sn_client.search_incidents("")
    assert sn.oauth.token_requests == ["password"]
    assert [r.status for r in sn.requests] == [200, 200, 200]


async def test_the_token_is_refreshed_about_60_seconds_before_it_expires(
    sn: ServiceNowEmulator, clock: Clock
) -> None:
    async with client(sn, clock, creds()) as sn_client:
        await sn_client.check_connection()
        clock.seconds = 1799 - REFRESH_AHEAD - 1
        await sn_client.check_connection()
        assert sn.oauth.token_requests == ["password"]
        clock.seconds = 1799 - REFRESH_AHEAD + 1
        await sn_client.check_connection()
        assert sn.oauth.token_requests == ["password", "refresh_token"]
    assert all(r.status == 200 for r in sn.requests)  # never a 401 on the way


async def test_a_401_fetches_a_new_token_once_and_sends_the_request_again(
    sn: ServiceNowEmulator, clock: Clock
) -> None:
    async with client(sn, clock, creds()) as sn_client:
        await sn_client.check_connection()
        sn.oauth.expire_all()  # the instance dropped it early (restart, revoked, shorter lifespan)
        await sn_client.check_connection()
    assert sn.oauth.token_requests == ["password", "refresh_token"]
    assert [(r.path, r.status) for r in sn.requests][2:] == [
        ("/api/now/table/incident", 401),
        ("/oauth_token.do", 200),
        ("/api/now/table/incident", 200),
    ]


async def test_an_unusable_new_token_fails_with_what_to_check(sn: ServiceNowEmulator, clock: Clock) -> None:
    sn.oauth.lifetime = 0  # every token is dead on arrival
    async with client(sn, clock, creds()) as sn_client:
        with pytest.raises(AuthenticationError) as caught:
            await sn_client.check_connection()
    assert "refused a new OAuth access token" in caught.value.message
    assert "active, not locked" in caught.value.message
    assert sn.oauth.token_requests == ["password", "refresh_token"]  # one new token, then it gives up


async def test_a_wrong_client_secret_says_what_to_check_and_never_echoes_it(
    sn: ServiceNowEmulator, clock: Clock
) -> None:
    async with client(sn, clock, creds(secret="not-the-secret")) as sn_client:
        with pytest.raises(AuthenticationError) as caught:
            await sn_client.check_connection()
    message = caught.value.message
    assert "server_error: access_denied" in message and "client id and secret" in message
    assert "not-the-secret" not in message and "not-the-secret" not in repr(flow(sn_client))


async def test_client_credentials_refused_until_the_instance_enables_the_grant(
    sn: ServiceNowEmulator, clock: Clock
) -> None:
    async with client(sn, clock, creds("oauth_client_credentials")) as sn_client:
        with pytest.raises(AuthenticationError) as caught:
            await sn_client.check_connection()
        assert CLIENT_CREDENTIALS_PROPERTY in caught.value.message
        assert "Washington DC" in caught.value.message
        sn.properties[CLIENT_CREDENTIALS_PROPERTY] = "true"
        created = await sn_client.create_incident({"short_description": "as the app user"})
    assert sn.incidents[created.sys_id]["sys_created_by"] == "svc"  # the OAuth Application User
    assert sn.oauth.token_requests == ["client_credentials", "client_credentials"]


async def test_an_expired_refresh_token_falls_back_to_the_password_grant(
    sn: ServiceNowEmulator, clock: Clock
) -> None:
    async with client(sn, clock, creds()) as sn_client:
        await sn_client.check_connection()
        clock.seconds = 8_640_000 + 1  # the refresh token's default lifespan is over too
        await sn_client.check_connection()
    assert sn.oauth.token_requests == ["password", "refresh_token", "password"]


async def test_tokens_and_secrets_stay_out_of_the_logs(
    sn: ServiceNowEmulator, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client(sn, clock, creds()) as sn_client:
        await sn_client.check_connection()
        tokens = list(sn.oauth._access) + list(sn.oauth._refresh)
    for secret in [CLIENT_SECRET, *tokens]:
        assert secret not in caplog.text


def test_an_unknown_auth_kind_names_the_three() -> None:
    with pytest.raises(ConfigurationError, match="basic, oauth_password, oauth_client_credentials"):
        check_auth_kind("oauth")


async def test_token_requests_per_hour_at_the_default_lifetime(sn: ServiceNowEmulator, clock: Clock) -> None:
    """The figure: one request every 10 s for an hour, tokens lasting 1799 s (an instance's default)."""
    async with client(sn, clock, creds()) as sn_client:
        for second in range(0, 3600, 10):
            clock.seconds = second
            await sn_client.check_connection()
    # the first login, then a refresh every 1799 - 60 s: at 1739 s and 3478 s
    assert sn.oauth.token_requests == ["password", "refresh_token", "refresh_token"]
    assert all(r.status == 200 for r in sn.requests)


async def test_the_emulator_wants_a_form_body_and_knows_its_grants(sn: ServiceNowEmulator) -> None:
    async def post(**kwargs: object) -> httpx.Response:
        async with httpx.AsyncClient(transport=sn.transport(), base_url=INSTANCE) as http:
            return await http.post("/oauth_token.do", **kwargs)  # type: ignore[arg-type]

    as_json = await post(json={"grant_type": "password"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    unknown = await post(data={"grant_type": "implicit", "client_id": CLIENT_ID})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"
    bad = await post(data={"grant_type": "password", "client_id": CLIENT_ID, "client_secret": "x"})
    assert bad.status_code == 401 and bad.json() == {
        "error_description": "access_denied",
        "error": "server_error",
    }
    good = await post(
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": "admin",
            "password": "admin",
        }
    )
    body = good.json()
    assert good.status_code == 200
    assert {k: body[k] for k in ("scope", "token_type", "expires_in")} == {
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": 1799,
    }
    assert body["access_token"] and body["refresh_token"]


def test_snowbot_emulate_servicenow_takes_oauth_clients() -> None:
    from emulators import cli
    from snowbot.cli import _parser

    args = _parser().parse_args(
        [
            "emulate",
            "servicenow",
            "--oauth-client",
            "app1:s1",
            "--oauth-client",
            "app2:s2:admin",
            "--oauth-client-credentials",
            "--token-lifetime",
            "300",
        ]
    )
    cli.check_options(args)
    emulator, who = cli.build_emulator(args, "http://127.0.0.1:1")
    assert (
        sorted(emulator.oauth.clients) == ["app1", "app2"] and emulator.oauth.clients["app2"].user == "admin"
    )
    assert emulator.properties[CLIENT_CREDENTIALS_PROPERTY] == "true" and emulator.oauth.lifetime == 300
    assert "OAuth clients app1, app2" in who and "client_credentials" in who and "s1" not in who
    lone = _parser().parse_args(["emulate", "servicenow", "--oauth-client-credentials"])
    with pytest.raises(ValueError, match="needs an --oauth-client"):
        cli.check_options(lone)
    with pytest.raises(ValueError, match="ID:SECRET"):
        cli.check_options(_parser().parse_args(["emulate", "servicenow", "--oauth-client", "nosecret"]))
