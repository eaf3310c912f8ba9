from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

import storage
from storage import SecretBox, integrations, links
from storage.db import Database
from storage.integrations import Integration
from storage.links import Link
from tests.backends import database_target

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(backend: str, tmp_path: Path) -> Iterator[Path | str]:
    """The SQLite file, or the URL of a fresh PostgreSQL schema (`backend`): what `storage.connect` opens."""
    with database_target(backend, tmp_path, "snowbot.db") as target:
        yield target


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = storage.connect(db_path)
    storage.migrate(database)
    yield database
    database.close()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SecretBox.generate_key())


@pytest.fixture
def integration(db: Database, box: SecretBox) -> Integration:
    return integrations.save(
        db, box, instance_url="https://acme.service-now.com", username="svc", password=SecretStr("pw")
    )


@pytest.fixture
def make_link(db: Database, integration: Integration) -> Callable[..., Link]:
    counter = iter(range(1, 1_000_000))

    def make(anomaly_id: int = 1, ticket: str | None = None, **overrides: object) -> Link:
        n = next(counter)
        fields: dict[str, object] = {
            "anomaly_id": anomaly_id,
            "integration_id": integration.id,
            "ticket_sys_id": ticket or f"sys{n:04d}",
            "ticket_number": f"INC{n:07d}",
            "status": "New",
            "url": f"https://acme.service-now.com/incident/{n}",
            "created_by": "U123",
            "now": T0,
        }
        fields.update(overrides)
        return links.add(db, **fields)  # type: ignore[arg-type]

    return make
