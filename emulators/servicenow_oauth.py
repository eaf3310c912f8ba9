"""The ServiceNow emulator's OAuth 2.0 token endpoint, `POST /oauth_token.do`, and its Bearer tokens.

As servicenow-table-api.md (corrections and §9) describes an instance: a form-encoded body (ServiceNow docs
r_OAuthAPIRequestParameters.md); the password grant answers `{"scope": "useraccount", "token_type":
"Bearer", "expires_in": 1799, "refresh_token", "access_token"}` (r_RESTOAuthExample.md); the refresh_token
grant answers a new access token and no new refresh token (the old one lasts, 8,640,000 s by default); the
client_credentials grant is refused unless the system property
`glide.oauth.inbound.client.credential.grant_type.enabled` is "true" and then acts as the client's OAuth
Application User (client-credentials.md). Every refusal (unknown client, wrong secret or password, unknown
or expired refresh token, the disabled grant) answers 401 `{"error_description": "access_denied", "error":
"server_error"}` (demisto/content-docs #1301 records that body; one body for all of them is our inference),
an unknown grant 400 `unsupported_grant_type` (RFC 6749 §5.2; inferred for ServiceNow). The client may
authenticate in the form or with HTTP Basic (RFC 6749 §2.3.1; requests-oauthlib, which pysnc's
ServiceNowPasswordGrantFlow uses, sends Basic). An expired or unknown token is 401 on the Table API (the
reference: "an expired token gets 401"). Never models scopes, token revocation or the same-token reuse.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl

CLIENT_CREDENTIALS_PROPERTY = "glide.oauth.inbound.client.credential.grant_type.enabled"
DEFAULT_TOKEN_LIFETIME = 1799
"""`expires_in` of a new access token (r_RESTOAuthExample.md)."""
REFRESH_LIFETIME = 8_640_000
ACCESS_DENIED = {"error_description": "access_denied", "error": "server_error"}

A = TypeVar("A")


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth application registered on the instance (System OAuth > Application Registry)."""

    client_id: str
    secret: str
    user: str | None = None
    """The OAuth Application User the client_credentials grant acts as (None: the instance's first user)."""


def parse_client(spec: str) -> OAuthClient:
    """`ID:SECRET[:USER]` -> an `OAuthClient` (`--oauth-client`)."""
    client_id, _, rest = spec.partition(":")
    secret, _, user = rest.partition(":")
    if not client_id or not secret:
        raise ValueError(f"--oauth-client wants ID:SECRET[:USER], got {client_id!r}:…")
    return OAuthClient(client_id, secret, user or None)


@dataclass
class _Token(Generic[A]):
    account: A
    client_id: str
    expires: datetime


class TokenEndpoint(Generic[A]):
    """Issues and checks tokens for accounts of type `A`; `login(name, password)` and `user(name)` come from
    the emulator, so are its clock and system properties."""

    def __init__(
        self,
        *,
        clients: Mapping[str, OAuthClient],
        login: Callable[[str, str], A | None],
        user: Callable[[str | None], A | None],
        clock: Callable[[], datetime],
        properties: Mapping[str, str],
        lifetime: int = DEFAULT_TOKEN_LIFETIME,
    ) -> None:
        self.clients = dict(clients)
        self.lifetime = lifetime
        self.token_requests: list[str] = []
        """The grant_type of every token request, in order (figures and tests)."""
        self._login, self._user, self._clock, self._properties = login, user, clock, properties
        self._access: dict[str, _Token[A]] = {}
        self._refresh: dict[str, _Token[A]] = {}

    def bearer(self, token: str) -> A | None:
        """The account of a live access token, else None (the Table API answers 401)."""
        found = self._access.get(token)
        if found is None or found.expires <= self._clock():
            return None
        return found.account

    def expire_all(self) -> None:
        """Make every access token expire now (as the lifespan running out would)."""
        for token in self._access.values():
            token.expires = self._clock()

    def answer(self, body: bytes, content_type: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one `POST /oauth_token.do`."""
        if "application/x-www-form-urlencoded" not in content_type.lower():
            return 400, {
                "error_description": "invalid request: form-encoded body expected",
                "error": "invalid_request",
            }
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        self.token_requests.append(grant)
        client = self._client(form, authorization)
        if grant not in ("password", "refresh_token", "client_credentials"):
            return 400, {
                "error_description": f"unsupported grant type {grant}",
                "error": "unsupported_grant_type",
            }
        if client is None:
            return 401, dict(ACCESS_DENIED)
        if grant == "password":
            account = self._login(form.get("username", ""), form.get("password", ""))
            return (
                (401, dict(ACCESS_DENIED)) if account is None else (200, self._issue(account, client, True))
            )
        if grant == "refresh_token":
            held = self._refresh.get(form.get("refresh_token", ""))
            if held is None or held.client_id != client.client_id or held.expires <= self._clock():
                return 401, dict(ACCESS_DENIED)
            return 200, self._issue(held.account, client, False)
        if self._properties.get(CLIENT_CREDENTIALS_PROPERTY, "false").lower() != "true":
            return 401, dict(ACCESS_DENIED)
        account = self._user(client.user)
        return (401, dict(ACCESS_DENIED)) if account is None else (200, self._issue(account, client, False))

    def _client(self, form: Mapping[str, str], authorization: str | None) -> OAuthClient | None:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret.encode(), secret.encode()):
            return None
        return client

    def _issue(self, account: A, client: OAuthClient, with_refresh: bool) -> dict[str, Any]:
        now = self._clock()
        access = secrets.token_urlsafe(32)
        self._access[access] = _Token(account, client.client_id, now + timedelta(seconds=self.lifetime))
        answer: dict[str, Any] = {
            "access_token": access,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.lifetime,
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = _Token(
                account, client.client_id, now + timedelta(seconds=REFRESH_LIFETIME)
            )
            answer["refresh_token"] = refresh
        return answer
