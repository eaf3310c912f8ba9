"""ServiceNow integrations: where to connect, as whom, and whether the last check worked.

Several may exist; while any exists exactly one is the default. Saving an instance URL that is already
stored updates that row. A password, and an OAuth client secret (`auth_type` oauth_password or
oauth_client_credentials), is stored only as a `SecretBox` token; the password not at all when the
credentials live in Vault (`credentials_ref`, a reference the caller resolves); for `source="env"` nothing
secret is stored at all and the caller takes them from its settings. OAuth tokens are never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, SecretStr

from storage.crypto import SecretBox
from storage.db import Database, atomic, insert, iso, update

Status = Literal["Connected", "Error", "Unchecked"]
Source = Literal["user", "env"]

_COLUMNS = (
    "id, name, instance_url, auth_type, username, status, last_error, last_checked_at, is_default, "
    "source, created_at, client_id"
)


class Integration(BaseModel):
    """An integration as the rest of the app sees it: deliberately without any secret."""

    id: int
    name: str
    instance_url: str
    auth_type: str
    username: str
    status: Status
    last_error: str | None
    last_checked_at: datetime | None
    is_default: bool
    source: Source
    created_at: datetime
    client_id: str | None = None
    """The OAuth application's client id (OAuth kinds only; not a secret)."""


class NoStoredPasswordError(LookupError):
    """The integration's credentials come from the environment, so storage holds no password."""


def _one(db: Database, where: str, params: list[object]) -> Integration | None:
    row = next(db["integrations"].rows_where(where, params, select=_COLUMNS, limit=1), None)
    return Integration.model_validate(row) if row else None


def save(
    db: Database,
    box: SecretBox | None,
    *,
    instance_url: str,
    username: str,
    password: SecretStr | None,
    name: str = "ServiceNow",
    auth_type: str = "basic",
    source: Source = "user",
    make_default: bool = True,
    now: datetime | None = None,
    client_id: str | None = None,
    client_secret: SecretStr | None = None,
    credentials_ref: str | None = None,
) -> Integration:
    """Insert or update (matched on instance URL) an integration; its status goes back to "Unchecked".

    `make_default=True` makes it the default and clears the old one. With `make_default=False` it still
    becomes the default when there is none, and a row that already was the default stays so. `box` may be
    None for `source="env"`, which stores nothing secret, and with a `credentials_ref` (a Vault reference
    stored instead of the password) of a basic login. The OAuth kinds take `client_id` and
    `client_secret`; oauth_client_credentials has no password.
    """
    oauth = auth_type != "basic"
    if credentials_ref is not None:
        password = None
    elif source == "user" and password is None and auth_type != "oauth_client_credentials":
        raise ValueError("a password is required unless the credentials come from the environment")
    if source == "user" and oauth and (not client_id or client_secret is None):
        raise ValueError(f"auth {auth_type} needs a client id and a client secret")
    if source == "user" and box is None and (password is not None or oauth):
        raise ValueError("a SecretBox is required to store a password")
    instance_url = instance_url.strip().rstrip("/")
    stamp = iso(now)
    encrypted = secret_encrypted = None
    if source == "user" and box is not None and password is not None:
        encrypted = box.encrypt(password.get_secret_value())
    if source == "user" and box is not None and client_secret is not None and oauth:
        secret_encrypted = box.encrypt(client_secret.get_secret_value())
    row = {
        "name": name,
        "instance_url": instance_url,
        "auth_type": auth_type,
        "username": username,
        "password_encrypted": encrypted,
        "client_id": client_id if oauth else None,
        "client_secret_encrypted": secret_encrypted,
        "credentials_ref": credentials_ref,
        "source": source,
        "status": "Unchecked",
        "last_error": None,
        "last_checked_at": None,
        "updated_at": stamp,
    }
    table = db["integrations"]
    with atomic(db):
        existing = next(table.rows_where("instance_url = ?", [instance_url], select="id, is_default"), None)
        has_default = table.count_where("is_default = 1") > 0
        if existing is not None:
            integration_id = existing["id"]
            update(db, "integrations", integration_id, row)
            becomes_default = make_default or bool(existing["is_default"]) or not has_default
        else:
            integration_id = insert(db, "integrations", {**row, "is_default": 0, "created_at": stamp})
            becomes_default = make_default or not has_default
        if becomes_default:
            db.execute(
                "UPDATE integrations SET is_default = 0 WHERE is_default = 1 AND id != ?", [integration_id]
            )
            update(db, "integrations", integration_id, {"is_default": 1})
    saved = get(db, integration_id)
    assert saved is not None
    return saved


def get(db: Database, integration_id: int) -> Integration | None:
    return _one(db, "id = ?", [integration_id])


def default(db: Database) -> Integration | None:
    return _one(db, "is_default = 1", [])


def list_all(db: Database) -> list[Integration]:
    """All integrations, the default first, then oldest first."""
    rows = db["integrations"].rows_where(select=_COLUMNS, order_by="is_default DESC, id")
    return [Integration.model_validate(row) for row in rows]


def set_status(
    db: Database,
    integration_id: int,
    status: Status,
    error: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Record the outcome of a connection check (`error` is kept only with status "Error")."""
    update(
        db,
        "integrations",
        integration_id,
        {
            "status": status,
            "last_error": error if status == "Error" else None,
            "last_checked_at": iso(now),
        },
    )


def credentials_ref(db: Database, integration: Integration) -> str | None:
    """The Vault reference its credentials are read from, or None (stored encrypted, or from the env)."""
    row = db.execute("SELECT credentials_ref FROM integrations WHERE id = ?", [integration.id]).fetchone()
    return row[0] if row else None


def password(db: Database, box: SecretBox, integration: Integration) -> SecretStr:
    """Decrypt the stored password; `SecretKeyMismatchError` if the key changed since it was saved."""
    rows = list(
        db.query("SELECT source, password_encrypted FROM integrations WHERE id = ?", [integration.id])
    )
    if not rows:
        raise LookupError(f"integration {integration.id} no longer exists")
    if rows[0]["password_encrypted"] is None:
        raise NoStoredPasswordError(
            f"The {integration.name} integration takes its credentials from the environment; none are stored."
        )
    return SecretStr(box.decrypt(rows[0]["password_encrypted"]))


def client_secret(db: Database, box: SecretBox, integration: Integration) -> SecretStr | None:
    """Decrypt the stored OAuth client secret (None when none is stored: basic, or source "env");
    `SecretKeyMismatchError` if the key changed since it was saved."""
    rows = list(db.query("SELECT client_secret_encrypted FROM integrations WHERE id = ?", [integration.id]))
    if not rows:
        raise LookupError(f"integration {integration.id} no longer exists")
    stored = rows[0]["client_secret_encrypted"]
    return None if stored is None else SecretStr(box.decrypt(stored))
