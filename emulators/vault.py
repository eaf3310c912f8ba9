"""A stand-in for HashiCorp Vault's HTTP API: KV v2 read and write, AppRole login, token lookup-self.

No Vault server can be installed here; this answers the few requests snowbot's `bot/secrets.py` (through
hvac) sends, as Vault documents them. Sources: Vault's API docs (developer.hashicorp.com/vault/api-docs:
`secret/kv/kv-v2` "Read secret version" / "Create/Update secret", `auth/approle` "Login with AppRole",
`auth/token` "Lookup a token (self)", and "HTTP API: HTTP status codes"), and hvac 2.x, whose requests and
parsing these answers must satisfy: `hvac/api/secrets_engines/kv_v2.py` (GET/POST `/v1/{mount}/data/{path}`,
body `{"options": {}, "data": {...}}`), `hvac/api/auth_methods/approle.py` (POST
`/v1/auth/{mount}/login` with `{"role_id", "secret_id"}`), `hvac/v1/__init__.py` `lookup_token` (GET
`/v1/auth/token/lookup-self`), `hvac/adapters.py` (the token in `X-Vault-Token`, the login token read from
`auth.client_token`, error bodies parsed only when `Content-Type` is exactly `application/json`, their
`errors` list) and `hvac/exceptions.py` (400 InvalidRequest, 403 Forbidden, 404 InvalidPath).

    GET  /v1/sys/health                     {"initialized": true, "sealed": false, ...}, no token
    GET  /v1/{mount}/data/{path}?version=N  {"data": {"data": {...}, "metadata": {...}}, ...}; 404
                                            `{"errors": []}` for a path with no secret
    POST /v1/{mount}/data/{path}            {"data": {...}, "options": {"cas"?}} -> a new version; its
    PUT                                     metadata under "data"
    POST /v1/auth/approle/login             {"role_id", "secret_id"} -> {"auth": {"client_token", ...}};
    PUT                                     400 `{"errors": ["invalid role or secret ID"]}` (Vault's
                                            builtin/credential/approle path_login.go)
    GET  /v1/auth/token/lookup-self         {"data": {"id", "policies", "ttl", ...}}

A request without a valid token (header `X-Vault-Token`, or `Authorization: Bearer`) answers 403
`{"errors": ["permission denied"]}`, as Vault does for a missing, unknown or revoked token. A mount that was
never enabled answers 404 `no handler for route`. Tests rotate a secret with `put` (or hvac's own write)
and end a token's life with `revoke`.
"""

from __future__ import annotations

import secrets as token_source
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

APPROLE_TOKEN_TTL = 3600
"""Seconds an AppRole login's token is said to live (`lease_duration`; the emulator does not expire it)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _errors(status: int, *messages: str) -> JSONResponse:
    """Vault's error envelope: `{"errors": [...]}` (API docs, "HTTP status codes")."""
    return JSONResponse({"errors": list(messages)}, status_code=status)


def _envelope(*, data: Any = None, auth: Any = None, lease_duration: int = 0) -> JSONResponse:
    """The envelope around every successful answer (the API docs' sample responses)."""
    return JSONResponse(
        {
            "request_id": str(uuid.uuid4()),
            "lease_id": "",
            "renewable": False,
            "lease_duration": lease_duration,
            "data": data,
            "wrap_info": None,
            "warnings": None,
            "auth": auth,
        }
    )


@dataclass
class _Version:
    data: dict[str, Any]
    created_time: str = field(default_factory=_now)

    def metadata(self, version: int) -> dict[str, Any]:
        return {
            "created_time": self.created_time,
            "custom_metadata": None,
            "deletion_time": "",
            "destroyed": False,
            "version": version,
        }


@dataclass
class _Token:
    policies: list[str]
    display_name: str
    ttl: int = 0  # 0: the root token, which never expires


class VaultEmulator:
    """In-memory KV v2 mounts, one root token and AppRole roles (`role_id -> secret_id`)."""

    def __init__(
        self,
        *,
        token: str,
        approles: dict[str, str] | None = None,
        mounts: tuple[str, ...] = ("secret",),
    ) -> None:
        self._tokens: dict[str, _Token] = {token: _Token(policies=["root"], display_name="root")}
        self.approles = dict(approles or {})
        self.mounts = set(mounts)
        self._kv: dict[tuple[str, str], list[_Version]] = {}
        self.reads = 0
        """KV reads answered with a secret (tests count how often snowbot read Vault)."""
        self.logins = 0
        self.app = Starlette(
            routes=[
                Route("/v1/sys/health", self._health, methods=["GET", "HEAD"]),
                Route("/v1/auth/approle/login", self._login, methods=["POST", "PUT"]),
                Route("/v1/auth/token/lookup-self", self._lookup_self, methods=["GET"]),
                Route("/v1/{mount}/data/{path:path}", self._kv_read, methods=["GET"]),
                Route("/v1/{mount}/data/{path:path}", self._kv_write, methods=["POST", "PUT"]),
            ]
        )

    # the test's side door (no HTTP)

    def put(self, mount: str, path: str, data: dict[str, Any]) -> int:
        """Write a new version of a secret (enabling `mount` if needed); returns its version."""
        self.mounts.add(mount)
        versions = self._kv.setdefault((mount, path.strip("/")), [])
        versions.append(_Version(data=dict(data)))
        return len(versions)

    def latest(self, mount: str, path: str) -> dict[str, Any]:
        """The latest version's data of a secret ({} when there is none)."""
        versions = self._kv.get((mount, path.strip("/")), [])
        return dict(versions[-1].data) if versions else {}

    def revoke(self, token: str) -> None:
        """End a token's life: Vault answers 403 to it from now on."""
        self._tokens.pop(token, None)

    # the HTTP API

    def _token(self, request: Request) -> _Token | None:
        value = request.headers.get("x-vault-token")
        if value is None:  # Vault also accepts the token as a bearer token (API docs, "Authentication")
            scheme, _, rest = request.headers.get("authorization", "").partition(" ")
            value = rest.strip() if scheme.lower() == "bearer" else None
        return self._tokens.get(value) if value else None

    async def _health(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "initialized": True,
                "sealed": False,
                "standby": False,
                "performance_standby": False,
                "server_time_utc": int(datetime.now(UTC).timestamp()),
                "version": "1.15.0-snowbot-emulator",
                "cluster_name": "snowbot-emulator",
            }
        )

    async def _login(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _errors(400, "failed to parse JSON input")
        role_id = body.get("role_id") if isinstance(body, dict) else None
        secret_id = body.get("secret_id") if isinstance(body, dict) else None
        if not role_id:
            return _errors(400, "missing role_id")
        if role_id not in self.approles or self.approles[role_id] != secret_id:
            return _errors(400, "invalid role or secret ID")
        token = "hvs." + token_source.token_urlsafe(24)
        self._tokens[token] = _Token(
            policies=["default", "snowbot"], display_name="approle", ttl=APPROLE_TOKEN_TTL
        )
        self.logins += 1
        auth = {
            "client_token": token,
            "accessor": token_source.token_urlsafe(18),
            "policies": ["default", "snowbot"],
            "token_policies": ["default", "snowbot"],
            "metadata": {"role_name": role_id},
            "lease_duration": APPROLE_TOKEN_TTL,
            "renewable": True,
            "entity_id": str(uuid.uuid4()),
            "token_type": "service",
            "orphan": True,
            "mfa_requirement": None,
            "num_uses": 0,
        }
        return _envelope(auth=auth)

    async def _lookup_self(self, request: Request) -> JSONResponse:
        token = self._token(request)
        if token is None:
            return _errors(403, "permission denied")
        return _envelope(
            data={
                "accessor": "",
                "creation_ttl": token.ttl,
                "display_name": token.display_name,
                "entity_id": "",
                "expire_time": None,
                "explicit_max_ttl": 0,
                "id": request.headers.get("x-vault-token", ""),
                "meta": None,
                "num_uses": 0,
                "orphan": True,
                "path": "auth/token/root" if token.ttl == 0 else "auth/approle/login",
                "policies": token.policies,
                "renewable": token.ttl > 0,
                "ttl": token.ttl,
                "type": "service",
            }
        )

    def _route(self, request: Request) -> tuple[str, str] | JSONResponse:
        if self._token(request) is None:
            return _errors(403, "permission denied")
        mount, path = request.path_params["mount"], request.path_params["path"].strip("/")
        if mount not in self.mounts:
            return _errors(404, f'no handler for route "{mount}/data/{path}". route entry not found.')
        return mount, path

    async def _kv_read(self, request: Request) -> JSONResponse:
        routed = self._route(request)
        if isinstance(routed, JSONResponse):
            return routed
        versions = self._kv.get(routed, [])
        wanted = request.query_params.get("version")
        number = len(versions) if wanted in (None, "", "0") else int(wanted) if str(wanted).isdigit() else -1
        if not 1 <= number <= len(versions):
            return _errors(404)  # Vault: 404 `{"errors": []}` for a path with no secret
        self.reads += 1
        version = versions[number - 1]
        return _envelope(data={"data": version.data, "metadata": version.metadata(number)})

    async def _kv_write(self, request: Request) -> JSONResponse:
        routed = self._route(request)
        if isinstance(routed, JSONResponse):
            return routed
        try:
            body = await request.json()
        except ValueError:
            return _errors(400, "failed to parse JSON input")
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return _errors(400, "no data provided")
        cas = (body.get("options") or {}).get("cas")
        current = len(self._kv.get(routed, []))
        if cas is not None and cas != current:
            return _errors(400, "check-and-set parameter did not match the current version")
        number = self.put(routed[0], routed[1], body["data"])
        return _envelope(data=self._kv[routed][number - 1].metadata(number))
