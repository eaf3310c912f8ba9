"""How snowbot proves who it is to ServiceNow: an httpx `Auth` for each kind an integration may use.

- `basic`: HTTP Basic with the service account's `username:password` (httpx's own `BasicAuth`).
- `oauth_password`: the password grant of `POST /oauth_token.do` (form-encoded: client id and secret plus
  the service account), then the refresh_token grant while the refresh token lasts.
- `oauth_client_credentials`: the client_credentials grant (Washington DC and later; the instance needs
  the system property `glide.oauth.inbound.client.credential.grant_type.enabled=true`).

`OAuthFlow` keeps its tokens in memory only, renews the access token about 60 s before it expires (as pysnc's
flows do), and on a 401 from the Table API fetches a new token and sends the request once more (as
servicenow.itsm does); a second 401 raises `AuthenticationError` with what to check. Token requests go through
the same http client (and its host check). Sources: servicenow-table-api.md, corrections and §9 (ServiceNow
docs r_RESTOAuthExample.md, client-credentials.md, r_OAuthAPIRequestParameters.md; demisto/content-docs #1301
for the `access_denied` body). Never logs, echoes or stores a secret or a token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import Literal

import httpx
from pydantic import SecretStr

from servicenow.config import Credentials
from servicenow.errors import AuthenticationError, ConfigurationError, InvalidResponseError

AuthKind = Literal["basic", "oauth_password", "oauth_client_credentials"]
AUTH_KINDS: tuple[AuthKind, ...] = ("basic", "oauth_password", "oauth_client_credentials")
TOKEN_PATH = "/oauth_token.do"
REFRESH_AHEAD = 60.0
"""Seconds before expiry at which a token is renewed (pysnc's flows: 60 s)."""
CLIENT_CREDENTIALS_PROPERTY = "glide.oauth.inbound.client.credential.grant_type.enabled"


def check_auth_kind(text: str) -> AuthKind:
    """`text` as an auth kind; `ConfigurationError` naming the three otherwise."""
    kind = text.strip().lower()
    for known in AUTH_KINDS:
        if kind == known:
            return known
    raise ConfigurationError(f"unknown ServiceNow auth {text!r}: use one of {', '.join(AUTH_KINDS)}")


def build_auth(
    instance_url: str, credentials: Credentials, *, clock: Callable[[], float] | None = None
) -> httpx.Auth:
    """The httpx `Auth` for these credentials (`credentials.auth` says which kind)."""
    if credentials.auth == "basic":
        return httpx.BasicAuth(credentials.username, credentials.password.get_secret_value())
    if not credentials.client_id or credentials.client_secret is None:
        raise ConfigurationError(f"ServiceNow auth {credentials.auth} needs a client id and a client secret")
    return OAuthFlow(instance_url, credentials, clock=clock or time.monotonic)


class OAuthFlow(httpx.Auth):
    """Bearer tokens from the instance's `/oauth_token.do`, renewed ahead of expiry; see the module doc."""

    def __init__(self, instance_url: str, credentials: Credentials, *, clock: Callable[[], float]) -> None:
        self._url = f"{instance_url}{TOKEN_PATH}"
        self._credentials = credentials
        self._clock = clock
        self._lock = asyncio.Lock()
        self._access: SecretStr | None = None
        self._refresh: SecretStr | None = None
        self._renew_at = 0.0
        self.token_requests = 0
        """How many token requests were sent (figures and tests)."""

    def __repr__(self) -> str:
        return f"OAuthFlow({self._credentials.auth}, client_id={self._credentials.client_id!r})"

    def sync_auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        raise RuntimeError("OAuthFlow works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._lock:
            if self._access is None or self._clock() >= self._renew_at:
                renew = self._renew()
                step = await renew.__anext__()
                while step is not None:  # hand each token request to httpx and its answer back to `_renew`
                    step = await renew.asend((yield step))
            used = self._access
        assert used is not None
        request.headers["Authorization"] = f"Bearer {used.get_secret_value()}"
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            if self._access == used:  # nobody renewed it meanwhile: this token is no good
                self._access = None
                renew = self._renew(fresh=self._credentials.auth == "oauth_client_credentials")
                step = await renew.__anext__()
                while step is not None:
                    step = await renew.asend((yield step))
            again = self._access
        assert again is not None
        request.headers["Authorization"] = f"Bearer {again.get_secret_value()}"
        response = yield request
        if response.status_code == 401:
            raise AuthenticationError(
                "ServiceNow refused a new OAuth access token it had just issued (HTTP 401): check that the "
                f"{self._who()} is active, not locked, and may use the REST API, and that the OAuth "
                "application's token lifespan is not shorter than a request takes.",
                status_code=401,
            )

    async def _renew(self, *, fresh: bool = False) -> AsyncGenerator[httpx.Request | None, httpx.Response]:
        """Yield token requests until `_access` holds a new token (the refresh grant first, if one is held),
        then None. `fresh`: skip the refresh grant."""
        if self._refresh is not None and not fresh:
            response = yield self._token_request(
                "refresh_token", refresh_token=self._refresh.get_secret_value()
            )
            await response.aread()
            self.token_requests += 1
            if response.is_success:
                self._take(response)
                yield None
                return
            self._refresh = None  # expired or revoked: log in again with the grant itself
        creds = self._credentials
        if creds.auth == "oauth_password":
            request = self._token_request(
                "password", username=creds.username, password=creds.password.get_secret_value()
            )
        else:
            request = self._token_request("client_credentials")
        response = yield request
        await response.aread()
        self.token_requests += 1
        if not response.is_success:
            raise self._refused(response)
        self._take(response)
        yield None

    def _token_request(self, grant_type: str, **fields: str) -> httpx.Request:
        creds = self._credentials
        secret = creds.client_secret.get_secret_value() if creds.client_secret else ""
        form = {
            "grant_type": grant_type,
            "client_id": creds.client_id or "",
            "client_secret": secret,
            **fields,
        }
        return httpx.Request(
            "POST", self._url, data=form, headers={"Accept": "application/json", "User-Agent": "snowbot"}
        )

    def _take(self, response: httpx.Response) -> None:
        try:
            body = response.json()
            access = body["access_token"]
            lifetime = float(body.get("expires_in", 1799))
        except (ValueError, KeyError, TypeError):
            raise InvalidResponseError(
                f"ServiceNow's {TOKEN_PATH} answered without an access token: check that the instance URL "
                "points at the instance itself, not a proxy or a login page"
            ) from None
        if not isinstance(access, str) or not access:
            raise InvalidResponseError(f"ServiceNow's {TOKEN_PATH} answered an empty access token")
        self._access = SecretStr(access)
        refresh = body.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh = SecretStr(refresh)
        self._renew_at = self._clock() + lifetime - min(REFRESH_AHEAD, lifetime / 2)

    def _refused(self, response: httpx.Response) -> AuthenticationError:
        try:
            body = response.json()
            said = f"{body.get('error', '')}: {body.get('error_description', '')}".strip(": ")
        except (ValueError, AttributeError):
            said = ""
        said = said or f"HTTP {response.status_code}"
        if self._credentials.auth == "oauth_client_credentials":
            advice = (
                "check the client id and secret, that the OAuth application has an OAuth Application User, and "
                "that the instance allows the client_credentials grant (Washington DC or later, system property "
                f"{CLIENT_CREDENTIALS_PROPERTY}=true; without it ServiceNow answers access_denied)"
            )
        else:
            advice = (
                f"check the client id and secret of the OAuth application and the user name and password of "
                f"{self._who()} (active, not locked)"
            )
        return AuthenticationError(
            f"ServiceNow refused the OAuth {self._grant()} grant ({said}): {advice}.",
            status_code=response.status_code,
            detail=said,
        )

    def _grant(self) -> str:
        return "password" if self._credentials.auth == "oauth_password" else "client_credentials"

    def _who(self) -> str:
        name = self._credentials.username
        return f"the account {name}" if name else "the OAuth application's OAuth Application User"
