from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

import storage
from storage import migrations

NAMES = [
    "m001_integrations",
    "m002_links",
    "m003_sync_state",
    "m004_outbox",
    "m005_sync_runs",
    "m006_slack_cards",
    "m007_intents",
    "m008_links_anomaly_deleted",
    "m009_links_ticket_kind",
    "m010_integrations_oauth",
    "m011_integrations_credentials_ref",
    "m012_syncback_state",
    "m013_rules_creation_rules",
    "m014_adaptive_read_schedule",
    "m015_kinds_intent_kind_and_ticket_change",
    "m016_replicas_claims",
    "m017_intents_one_open_create",
    "m018_create_keys",
]


def test_fresh_database_gets_every_migration_in_order(tmp_path: Path) -> None:
    db = storage.connect(tmp_path / "fresh.db")
    assert storage.migrate(db) == NAMES
    assert migrations.applied(db) == NAMES
    assert set(db.table_names()) >= {
        "_migrations",
        "integrations",
        "links",
        "sync_state",
        "outbox",
        "sync_runs",
    }
    assert all(row["applied_at"].endswith("+00:00") for row in db["_migrations"].rows)


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own schema text
def test_rerunning_is_a_no_op(db: Database, db_path: Path) -> None:
    schema = db.schema
    assert storage.migrate(db) == []
    reopened = storage.connect(db_path)
    assert storage.migrate(reopened) == []
    assert reopened.schema == schema
    assert migrations.applied(reopened) == NAMES


def test_applied_is_empty_before_migrating(tmp_path: Path) -> None:
    assert migrations.applied(storage.connect(tmp_path / "new.db")) == []


def test_a_failing_migration_leaves_nothing_behind(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    def m999_broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m999_broken", m999_broken)])
    with pytest.raises(RuntimeError):
        storage.migrate(db)
    assert not db["half_done"].exists()
    assert migrations.applied(db) == NAMES


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's own PRAGMA
def test_foreign_keys_cascade_from_links(db: Database) -> None:
    for table in ("sync_state", "sync_seen_comments", "outbox"):
        (fk,) = db.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        assert (fk[2], fk[3], fk[4], fk[6]) == ("links", "link_id", "id", "CASCADE")
    (fk,) = db.execute("PRAGMA foreign_key_list(links)").fetchall()
    assert (fk[2], fk[3]) == ("integrations", "integration_id")
