"""Secret settings kept outside snowbot: `<NAME>_FILE` files (the Docker / Kubernetes secrets convention)
and `vault:<mount>/<path>#<key>` references to HashiCorp Vault KV v2, read with hvac (token or AppRole).

`bot.settings` hands this module what it read from the environment; this module reads the files and
Vault, and remembers where each value came from so that one secret can be read again (`Sources.refresh`,
the hook called when ServiceNow answers 401: the secret may have been rotated).

Never reads the environment itself; never logs, echoes or stores a secret value (messages name the
variable, the file or the Vault reference, never what they hold).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

VAULT_PREFIX = "vault:"
FILE_SUFFIX = "_FILE"


class SecretError(ValueError):
    """A secret cannot be read; the message names the variable and what to do."""


@dataclass(frozen=True)
class VaultReference:
    """`vault:<mount>/<path>#<key>`: key `key` of the latest version of KV v2 secret `path` on `mount`."""

    mount: str
    path: str
    key: str

    @classmethod
    def parse(cls, value: str) -> VaultReference:
        body = value.removeprefix(VAULT_PREFIX).strip()
        location, _, key = body.partition("#")
        mount, _, path = location.strip("/").partition("/")
        if not mount or not path.strip("/") or not key:
            raise SecretError(
                f"is not a Vault reference snowbot understands ({value.split('#')[0]}#…): write "
                f"vault:<mount>/<path>#<key>, e.g. vault:secret/snowbot/servicenow#credentials"
            )
        return cls(mount=mount, path=path.strip("/"), key=key)

    def __str__(self) -> str:
        return f"{VAULT_PREFIX}{self.mount}/{self.path}#{self.key}"


def is_vault_reference(value: str | None) -> bool:
    return bool(value) and str(value).strip().startswith(VAULT_PREFIX)


@dataclass(frozen=True)
class VaultLogin:
    """How to reach and log in to Vault: a token, or AppRole (role id and secret id)."""

    addr: str
    token: str | None = None
    role_id: str | None = None
    secret_id: str | None = None
    approle_mount: str = "approle"
    timeout: float = 10.0

    def __repr__(self) -> str:  # never show the token or the secret id
        return f"VaultLogin(addr={self.addr!r}, approle={self.role_id is not None})"


class Vault:
    """Reads KV v2 secrets with hvac; logs in with AppRole when no token is given, and again once when Vault
    refuses the token (it expired). Thread-safe: settings are loaded and refreshed off the event loop."""

    def __init__(self, login: VaultLogin) -> None:
        self.login = login
        self._client: object | None = None
        self._lock = threading.Lock()

    def read(self, ref: VaultReference) -> str:
        import hvac.exceptions
        import requests

        with self._lock:
            try:
                return self._read(ref, relogin=self.login.token is None)
            except requests.exceptions.RequestException as err:
                raise SecretError(
                    f"Vault at {self.login.addr} cannot be reached ({type(err).__name__}): check VAULT_ADDR "
                    f"and that Vault is up"
                ) from None
            except hvac.exceptions.VaultError as err:
                raise SecretError(self._explain(ref, err)) from None

    def _read(self, ref: VaultReference, *, relogin: bool) -> str:
        import hvac.exceptions

        client = self._client or self._connect()
        try:
            # GET /v1/{mount}/data/{path} (Vault API docs, KV v2 "Read secret version"; hvac kv_v2.py)
            answer = client.secrets.kv.v2.read_secret_version(  # type: ignore[attr-defined]
                path=ref.path, mount_point=ref.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.Forbidden:
            if not relogin:
                raise
            self._client = None  # the AppRole token expired or was revoked: log in again, once
            return self._read(ref, relogin=False)
        data = (answer.get("data") or {}).get("data") or {}
        if ref.key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise SecretError(
                f"the Vault secret {ref.mount}/{ref.path} has no key {ref.key!r} (its keys: {keys}): "
                f"fix the part after # or add the key in Vault"
            )
        return str(data[ref.key])

    def _connect(self) -> object:
        import hvac

        login = self.login
        if login.token is None and (login.role_id is None or login.secret_id is None):
            raise SecretError(
                "snowbot cannot log in to Vault: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID"
            )
        client = hvac.Client(url=login.addr, token=login.token, timeout=login.timeout)
        if login.token is None:
            # POST /v1/auth/approle/login {"role_id", "secret_id"} (Vault API docs, AppRole "Login with
            # AppRole"); hvac keeps the answer's auth.client_token as the client's token
            client.auth.approle.login(
                role_id=login.role_id, secret_id=login.secret_id, mount_point=login.approle_mount
            )
        self._client = client
        return client

    def _explain(self, ref: VaultReference, err: Exception) -> str:
        import hvac.exceptions

        said = "; ".join(str(e) for e in (getattr(err, "errors", None) or []) if e)
        if isinstance(err, hvac.exceptions.InvalidPath):
            return (
                f"Vault has no secret at {ref.mount}/{ref.path} ({said or 'HTTP 404'}): write it "
                f"(vault kv put {ref.mount}/{ref.path} {ref.key}=...) or fix the reference"
            )
        if isinstance(err, hvac.exceptions.Forbidden):
            how = "VAULT_TOKEN" if self.login.token is not None else "the AppRole's token"
            return (
                f"Vault refused to read {ref.mount}/{ref.path} ({said or 'HTTP 403'}): {how} needs a policy "
                f"with read on {ref.mount}/data/{ref.path}, or is expired"
            )
        if isinstance(err, hvac.exceptions.InvalidRequest) and self.login.token is None:
            return (
                f"Vault refused the AppRole login ({said or 'HTTP 400'}): check VAULT_ROLE_ID and "
                f"VAULT_SECRET_ID (a secret id can expire or run out of uses)"
            )
        return f"Vault answered {type(err).__name__} ({said or 'no detail'}) reading {ref.mount}/{ref.path}"


def read_file(path: str | Path) -> str:
    """A secret file's content without its trailing newline (what `echo`, editors and Kubernetes leave)."""
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise SecretError(f"names {path}, which does not exist: fix the path or create the file") from None
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as err:
        raise SecretError(f"names {path}, which snowbot cannot read ({type(err).__name__})") from None


@dataclass(frozen=True)
class Origin:
    """Where one secret setting's value came from: a file, a Vault reference, or both (a file holding a
    reference)."""

    file: Path | None = None
    vault: VaultReference | None = None


class Sources:
    """The origins of the secret settings that did not come as plain values, and the way to read one again."""

    def __init__(self, *, origins: Mapping[str, Origin], vault: Vault | None) -> None:
        self.origins = dict(origins)
        self.vault = vault

    def read(self, name: str) -> str:
        origin = self.origins[name]
        value = read_file(origin.file) if origin.file is not None else ""
        ref = origin.vault
        if origin.file is not None and is_vault_reference(value):
            ref = VaultReference.parse(value)
        if ref is None:
            return value
        if self.vault is None:
            raise SecretError("is a Vault reference but VAULT_ADDR is not set: set VAULT_ADDR (and a login)")
        return self.vault.read(ref)

    def read_reference(self, value: str) -> str:
        """What a `vault:` reference given at run time (a connected integration's) points at."""
        if self.vault is None:
            raise SecretError("is a Vault reference but VAULT_ADDR is not set: set VAULT_ADDR (and a login)")
        return self.vault.read(VaultReference.parse(value))

    def refresh(self, name: str) -> str | None:
        """Read the secret setting `name` again from its file or Vault (None: it came as a plain value and
        cannot change while snowbot runs). The hook for a 401: a rotated secret has a new value."""
        if name not in self.origins:
            return None
        value = self.read(name)
        log.info("secret setting %s read again from %s", name, self.describe(name))
        return value

    def describe(self, name: str) -> str:
        """Where the value comes from, in words (no value): `file /run/secrets/x`, `vault:secret/a#b`."""
        origin = self.origins.get(name)
        if origin is None:
            return "the environment"
        return f"file {origin.file}" if origin.file is not None else str(origin.vault)


def file_origins(*, variables: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, Origin]:
    """`{name: Origin(file)}` for each secret whose `<VARIABLE>_FILE` is set (`variables`: name ->
    VARIABLE). Setting both VARIABLE and VARIABLE_FILE is refused: which one wins would be a guess."""
    origins: dict[str, Origin] = {}
    for name, var in variables.items():
        path = (environ.get(var + FILE_SUFFIX) or "").strip()
        if not path:
            continue
        if (environ.get(var) or "").strip():
            raise SecretError(f"{var} and {var}{FILE_SUFFIX} are both set: keep one")
        origins[name] = Origin(file=Path(path))
    return origins
