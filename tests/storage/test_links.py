from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlite_utils import Database

import storage
from servicenow.kinds import INCIDENT
from storage import SecretBox, integrations, links, migrations, sync
from storage.integrations import Integration
from storage.links import DuplicateLinkError, Link

from .conftest import T0

MakeLink = Callable[..., Link]


def test_add_and_read_back(db: Database, integration: Integration, make_link: MakeLink) -> None:
    link = make_link(anomaly_id=42, channel_id="C1", thread_ts="1700000000.000100")
    assert links.get(db, link.id) == link
    assert (link.anomaly_id, link.integration_id, link.created_at, link.last_synced_at) == (
        42,
        integration.id,
        T0,
        None,
    )
    assert (link.channel_id, link.thread_ts) == ("C1", "1700000000.000100")
    assert links.get(db, 999) is None


def test_duplicate_link_names_the_ticket_and_anomaly(make_link: MakeLink) -> None:
    link = make_link(anomaly_id=7, ticket="abc")
    with pytest.raises(
        DuplicateLinkError, match=f"{link.ticket_number} is already linked to anomaly 7"
    ) as caught:
        make_link(anomaly_id=7, ticket="abc", ticket_number=link.ticket_number)
    assert (caught.value.ticket_number, caught.value.anomaly_id) == (link.ticket_number, 7)


def test_many_to_many(db: Database, make_link: MakeLink) -> None:
    a = make_link(anomaly_id=1, ticket="t1")
    b = make_link(anomaly_id=1, ticket="t2")
    c = make_link(anomaly_id=2, ticket="t1")
    assert links.for_anomaly(db, 1) == [a, b]
    assert links.for_ticket(db, "t1") == [a, c]
    assert links.anomaly_ids(db) == [1, 2]
    assert links.recent(db, limit=2) == [c, b]


def test_unknown_integration_is_refused(make_link: MakeLink) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        make_link(integration_id=999)


def test_delete_cascades_to_sync_state_and_outbox(db: Database, make_link: MakeLink) -> None:
    link, other = make_link(), make_link()
    for each in (link, other):
        sync.init_state(db, each.id, "Active", False, [1, 2])
        sync.record_events(
            db,
            each.id,
            "Acknowledged",
            False,
            [3],
            [{"event_key": "comment:3", "kind": "comment", "payload": {"text": "hi"}}],
        )
    assert links.delete(db, link.id) is True
    assert links.delete(db, link.id) is False
    for table in ("sync_state", "sync_seen_comments", "outbox"):
        assert db[table].count_where("link_id = ?", [link.id]) == 0
        assert db[table].count_where("link_id = ?", [other.id]) > 0


def test_update_status(db: Database, make_link: MakeLink) -> None:
    a, b = make_link(), make_link()
    links.update_status(db, a.id, "In Progress", T0)
    links.update_statuses(db, {b.id: "Resolved"}, T0 + timedelta(minutes=1))
    assert (links.get(db, a.id).status, links.get(db, a.id).last_synced_at) == ("In Progress", T0)  # type: ignore[union-attr]
    assert links.get(db, b.id).status == "Resolved"  # type: ignore[union-attr]


def test_watched_skips_links_turned_off_but_not_new_ones(db: Database, make_link: MakeLink) -> None:
    on, off, fresh = make_link(), make_link(), make_link()
    sync.init_state(db, on.id, "Active", False, [])
    sync.init_state(db, off.id, "Active", False, [])
    assert sync.set_watch(db, [off.id], False) == 1
    assert links.watched(db) == [on, fresh]
    assert sync.get_state(db, fresh.id) is None  # the sync records its baseline first
    sync.set_watch(db, off.id, True)
    assert links.watched(db) == [on, off, fresh]


def test_a_link_names_its_ticket_kind_incident_by_default(db: Database, make_link) -> None:  # type: ignore[no-untyped-def]
    link = make_link()

    assert link.ticket_kind == "incident" and link.kind is INCIDENT
    assert links.get(db, link.id).ticket_kind == "incident"  # type: ignore[union-attr]
    assert db.execute("SELECT ticket_kind FROM links WHERE id = ?", [link.id]).fetchone() == ("incident",)


def test_a_link_of_an_unknown_ticket_kind_is_refused(make_link) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError):
        make_link(ticket_kind="spaceship")


def test_links_stored_before_the_column_are_incidents(
    tmp_path: Path, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = storage.connect(tmp_path / "old.db")
    before = [m for m in migrations.MIGRATIONS if m[0] != "m009_links_ticket_kind"]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    storage.migrate(db)
    integration = integrations.save(
        db, box, instance_url="https://acme.service-now.com", username="svc", password=SecretStr("pw")
    )
    db["links"].insert(  # a row as snowbot stored it before m009: no ticket_kind
        {
            "anomaly_id": 1,
            "integration_id": integration.id,
            "ticket_sys_id": "s1",
            "ticket_number": "INC0000001",
            "status": "New",
            "url": "u",
            "created_by": "U1",
            "created_at": "2026-01-01T00:00:00+00:00",
        }
    )
    monkeypatch.undo()

    assert storage.migrate(db) == ["m009_links_ticket_kind"]
    [link] = links.for_anomaly(db, 1)
    assert link.ticket_kind == "incident"
