"""pysnc's own OAuth 2.0 password flow (ServiceNowPasswordGrantFlow, over requests-oauthlib) against the
emulator's `/oauth_token.do` on a real loopback port: its form body, its HTTP Basic client authentication,
the answer it parses, and the Bearer token on the Table API."""

from __future__ import annotations

from collections.abc import Iterator

import pysnc
import pytest
from pysnc.auth import ServiceNowPasswordGrantFlow

from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from emulators.servicenow_oauth import OAuthClient
from tests.emulators.test_pysnc import PlainHttpAdapter


class LoopbackPasswordGrantFlow(ServiceNowPasswordGrantFlow):
    """pysnc only accepts https:// instances; the loopback port speaks http, so only the token URL's scheme
    is changed here: the grant itself is pysnc's and requests-oauthlib's."""

    def authenticate(self, instance: str, **kwargs):  # type: ignore[no-untyped-def]
        return super().authenticate(instance.replace("https://", "http://", 1), **kwargs)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServiceNowEmulator, str]]:
    emulator = ServiceNowEmulator(oauth_clients=[OAuthClient("pysnc-app", "pysnc-secret")])
    with serve_in_thread(emulator.app) as base_url:
        emulator.base_url = base_url
        yield emulator, base_url


def test_pysnc_password_grant_flow_gets_a_token_and_uses_it(
    served: tuple[ServiceNowEmulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, base_url = served
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib refuses http:// token URLs otherwise
    instance = base_url.replace("http://", "https://", 1)
    flow = LoopbackPasswordGrantFlow("admin", "admin", "pysnc-app", "pysnc-secret")

    client = pysnc.ServiceNowClient(instance, flow)
    client.session.mount(instance, PlainHttpAdapter())
    assert client.session.token["token_type"] == "Bearer" and client.session.token["expires_in"] == 1799

    new = client.GlideRecord("incident")
    new.initialize()
    new.short_description = "filed by pysnc over OAuth"
    sys_id = new.insert()
    assert sys_id is not None
    assert emulator.incidents[sys_id]["sys_created_by"] == "admin"
    assert emulator.oauth.token_requests == ["password"]


def test_pysnc_with_a_wrong_secret_gets_the_documented_refusal(
    served: tuple[ServiceNowEmulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    _, base_url = served
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    flow = LoopbackPasswordGrantFlow("admin", "admin", "pysnc-app", "wrong")
    with pytest.raises(OAuth2Error) as caught:
        pysnc.ServiceNowClient(base_url.replace("http://", "https://", 1), flow)
    assert (caught.value.error, caught.value.description) == ("server_error", "access_denied")
