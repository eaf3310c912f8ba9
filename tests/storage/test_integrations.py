from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlite_utils import Database

import storage
from storage import SecretBox, SecretKeyMismatchError, integrations
from storage.integrations import Integration, NoStoredPasswordError

from .conftest import T0

URL = "https://acme.service-now.com"


def save(db: Database, box: SecretBox, url: str = URL, **kwargs: object) -> Integration:
    fields: dict[str, object] = {"username": "svc", "password": SecretStr("pw"), "now": T0}
    fields.update(kwargs)
    return integrations.save(db, box, instance_url=url, **fields)  # type: ignore[arg-type]


def test_save_and_read_back(db: Database, box: SecretBox) -> None:
    saved = save(db, box, name="Prod", password=SecretStr("p@ss:word"))
    assert saved == integrations.get(db, saved.id) == integrations.default(db)
    assert (saved.name, saved.instance_url, saved.auth_type, saved.username) == ("Prod", URL, "basic", "svc")
    assert (saved.status, saved.last_error, saved.last_checked_at) == ("Unchecked", None, None)
    assert saved.is_default and saved.source == "user" and saved.created_at == T0
    assert integrations.password(db, box, saved).get_secret_value() == "p@ss:word"
    assert integrations.get(db, 999) is None


def test_the_model_has_no_secret(db: Database, box: SecretBox) -> None:
    saved = save(db, box, password=SecretStr("TopSecret-123"))
    assert not any("password" in name or "secret" in name for name in Integration.model_fields)
    assert "TopSecret" not in repr(saved) and "TopSecret" not in saved.model_dump_json()


def test_saving_the_same_instance_again_updates_it(db: Database, box: SecretBox) -> None:
    first = save(db, box)
    integrations.set_status(db, first.id, "Error", "401 Unauthorized", now=T0)
    again = save(db, box, url=URL + "/", username="svc2", password=SecretStr("new"))
    assert again.id == first.id and len(integrations.list_all(db)) == 1
    assert again.username == "svc2" and again.status == "Unchecked" and again.last_error is None
    assert again.created_at == first.created_at
    assert integrations.password(db, box, again).get_secret_value() == "new"


def test_exactly_one_default(db: Database, box: SecretBox) -> None:
    a = save(db, box, "https://a.service-now.com", make_default=False)
    assert integrations.default(db) == a  # the first one is the default even when not asked for
    b = save(db, box, "https://b.service-now.com", make_default=False)
    assert integrations.default(db).id == a.id  # type: ignore[union-attr]
    c = save(db, box, "https://c.service-now.com")
    assert integrations.default(db).id == c.id  # type: ignore[union-attr]
    save(db, box, "https://c.service-now.com", make_default=False)  # the default stays the default
    assert [(i.id, i.is_default) for i in integrations.list_all(db)] == [
        (c.id, True),
        (a.id, False),
        (b.id, False),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE integrations SET is_default = 1 WHERE id = ?", [a.id])


def test_set_status(db: Database, box: SecretBox) -> None:
    saved = save(db, box)
    integrations.set_status(db, saved.id, "Error", "Authentication failed", now=T0)
    failed = integrations.get(db, saved.id)
    assert failed is not None and (failed.status, failed.last_error, failed.last_checked_at) == (
        "Error",
        "Authentication failed",
        T0,
    )
    integrations.set_status(db, saved.id, "Connected")
    ok = integrations.get(db, saved.id)
    assert ok is not None and ok.status == "Connected" and ok.last_error is None
    with pytest.raises(sqlite3.IntegrityError):
        integrations.set_status(db, saved.id, "Bogus")  # type: ignore[arg-type]


def test_env_source_stores_no_password(db: Database, box: SecretBox) -> None:
    saved = save(db, box, source="env", password=None)
    assert saved.source == "env"
    assert db.execute("SELECT password_encrypted FROM integrations").fetchone() == (None,)
    with pytest.raises(NoStoredPasswordError, match="environment"):
        integrations.password(db, box, saved)
    with pytest.raises(ValueError, match="password is required"):
        save(db, box, "https://other.service-now.com", password=None)


def test_wrong_key_is_reported_clearly(db: Database, box: SecretBox) -> None:
    saved = save(db, box)
    with pytest.raises(SecretKeyMismatchError, match="SNOWBOT_SECRET_KEY does not match"):
        integrations.password(db, SecretBox(SecretBox.generate_key()), saved)


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own files
def test_the_database_files_never_hold_the_password(db_path: Path, box: SecretBox) -> None:
    secret = "Corr3ct-Horse-Battery-Staple!"
    needles = [
        secret.encode(),
        secret.encode("utf-16-le"),
        base64.b64encode(secret.encode()),
        base64.urlsafe_b64encode(secret.encode()),
        base64.b64encode(secret.encode()).rstrip(b"="),
    ]
    db = storage.connect(db_path)
    storage.migrate(db)
    saved = save(db, box, password=SecretStr(secret))
    save(db, box, password=SecretStr(secret), username="again")  # an update writes the row a second time

    wal = Path(f"{db_path}-wal").read_bytes()  # read while open: closing the last connection checkpoints it
    assert b"acme.service-now.com" in wal  # the check looks at the right bytes
    token = db.execute("SELECT password_encrypted FROM integrations").fetchone()[0]
    db.close()
    main = db_path.read_bytes()
    assert token.encode() in main
    for blob in (wal, main):
        for needle in needles:
            assert needle not in blob
    assert box.decrypt(token) == secret
    reopened = storage.connect(db_path)
    assert integrations.password(reopened, box, saved).get_secret_value() == secret
    reopened.close()
