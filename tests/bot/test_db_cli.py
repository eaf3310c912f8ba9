"""`snowbot db migrate` and `snowbot db copy` as an operator runs them, on SQLite and PostgreSQL, and
SNOWBOT_DATABASE_URL's refusals (one line, exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

import storage
from snowbot.cli import main
from storage import (
    SecretBox,
    cards,
    create_keys,
    integrations,
    intents,
    links,
    rules,
    schedule,
    sync,
    syncback,
)
from storage.copy import tables_in_order
from storage.db import connect_sqlite
from tests.backends import fresh_schema, server_url
from tests.bot.processes import PREFIXES
from tests.storage.test_migrations import NAMES

KEY = SecretBox.generate_key()


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No snowbot setting from the developer's shell and no `.env`: a scratch working directory."""
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNOWBOT_DB", str(tmp_path / "snowbot.db"))
    return tmp_path


def test_migrate_prints_what_it_applied_then_that_it_is_up_to_date(
    clean: Path, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_schema(server_url()) if backend == "postgresql" else _nothing() as url:
        if url:
            monkeypatch.setenv("SNOWBOT_DATABASE_URL", url)
        assert main(["db", "migrate"]) == 0
        first = capsys.readouterr().out.splitlines()
        assert first[:-1] == [f"applied {name}" for name in NAMES]
        assert first[-1].endswith(f": {len(NAMES)} applied now")
        assert main(["db", "migrate"]) == 0
        assert capsys.readouterr().out.strip().endswith(": up to date")
    assert (clean / "snowbot.db").exists() == (backend == "sqlite")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://db/snowbot", "SNOWBOT_DATABASE_URL is not a PostgreSQL URL: set it to postgresql://"),
        (
            "postgresql://snowbot:pw@127.0.0.1:1/none",
            "SNOWBOT_DATABASE_URL: cannot connect to PostgreSQL at postgresql://snowbot:***@127.0.0.1:1/none",
        ),
    ],
)
def test_a_database_url_snowbot_cannot_use_is_one_line(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    monkeypatch.setenv("SNOWBOT_DATABASE_URL", url)
    assert main(["db", "migrate"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err and "Traceback" not in err and ":pw@" not in err


def test_run_help_lists_the_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "SNOWBOT_DATABASE_URL" in capsys.readouterr().out


def _fill(path: Path) -> dict[str, object]:
    """A SQLite database with a row in every table, as snowbot stores them; what to expect after a copy."""
    db = storage.connect(path)
    storage.migrate(db)
    box = SecretBox(KEY)
    integration = integrations.save(
        db, box, instance_url="https://acme.service-now.com", username="svc", password=SecretStr("pw!")
    )
    ids = []
    for n in range(3):
        link = links.add(
            db,
            anomaly_id=800 + n,
            integration_id=integration.id,
            ticket_sys_id=f"sys{n}",
            ticket_number=f"INC{n:07d}",
            status="New",
            url=f"https://acme.service-now.com/{n}",
            created_by="U1",
        )
        sync.init_state(db, link.id, "Active", False, [1, 2])
        ids.append(link.id)
    links.delete(db, ids[0])  # a gap: ids are kept, not renumbered
    sync.record_events(
        db,
        ids[1],
        "Acknowledged",
        False,
        [3],
        [{"event_key": "status:1", "kind": "status", "payload": {"a": 1}}],
    )
    sync.record_run(db, started_at=storage.db.aware(), finished_at=storage.db.aware(), summary={"n": 1})
    intent = intents.record(
        db,
        kind="create",
        anomaly_id=801,
        integration_id=integration.id,
        fields={},
        baseline={},
        actor="U1",
        correlation_id="snowbot:801:x",
    )
    intents.mark_linked(db, intent.id, ids[1])  # intents reference links: copied after them, not by name
    order = tables_in_order(db)  # type: ignore[arg-type]
    assert order.index("links") < order.index("intents") and order.index("integrations") < order.index(
        "links"
    )
    cards.watch(db, "C1", "U1")
    cards.claim(db, channel_id="C1", thread_ts="1.2", anomaly_id=801)
    _fill_the_rest(db, integration.id, ids[1])
    expected = {name: list(db.query(f'SELECT * FROM "{name}" ORDER BY 1')) for name in _tables(db)}
    db.close()
    return expected


def _fill_the_rest(db: storage.Database, integration_id: int, link_id: int) -> None:
    """A row in each table of the sync back, the creation rules and the read schedule."""
    now = storage.db.aware()
    syncback.advance_watermark(db, integration_id, "incident", "2026-03-19 10:00:00")
    syncback.record_ticket(
        db,
        integration_id=integration_id,
        table="incident",
        sys_id="sys1",
        updated_on="2026-03-19 10:00:00",
        state="2",
        closed=False,
        items=[
            {
                "link_id": link_id,
                "entry_key": "j1",
                "kind": "note",
                "payload": {},
                "slack": True,
                "qualytics": False,
            }
        ],
    )
    rule = rules.add(db, {"name": "r", "match": {}, "template": {"short_description": "{id}"}}, actor="U1")
    rules.claim(db, [802], now=now)
    rules.set_rule(db, 802, rule.id)
    rules.advance(db, 802, now=now)
    rules.remember(db, anomaly_id=802, fingerprint="fp", container_id=231, check_ids=[9001], created=now)
    rules.add_recurrence(
        db, anomaly_id=802, first_anomaly_id=801, link_id=link_id, ticket_number="INC0000001"
    )
    create_keys.remember(db, "key-801", anomaly_id=801, link_id=link_id)
    schedule.save(
        db,
        [
            schedule.ReadSchedule(
                anomaly_id=801, next_read_at=now, interval_seconds=60, last_read_at=now, changed_at=None
            )
        ],
    )


def _tables(db: object) -> list[str]:
    return [name for name in tables_in_order(db) if name != "_migrations"]  # type: ignore[arg-type]


def test_copy_moves_every_row_with_its_id_and_the_next_ids_follow(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _fill(clean / "snowbot.db")
    assert all(expected.values())  # a row in every table
    with fresh_schema(server_url()) as url:
        monkeypatch.setenv("SNOWBOT_DATABASE_URL", url)
        assert main(["db", "copy"]) == 0
        out = capsys.readouterr().out
        assert "links: 2 rows" in out and out.strip().splitlines()[-1].startswith("copied ")
        target = storage.connect(url)
        for name, rows in expected.items():
            assert list(target.query(f'SELECT * FROM "{name}" ORDER BY 1')) == rows, name
        (integration,) = integrations.list_all(target)
        assert integrations.password(target, SecretBox(KEY), integration).get_secret_value() == "pw!"
        link = links.add(
            target,
            anomaly_id=9,
            integration_id=integration.id,
            ticket_sys_id="new",
            ticket_number="INC9",
            status="New",
            url="u",
            created_by="U1",
        )
        assert link.id == max(row["id"] for row in expected["links"]) + 1  # type: ignore[union-attr]
        target.close()

        assert main(["db", "copy", "--to", url]) == 2  # a target holding rows is refused, whole
        err = capsys.readouterr().err
        assert "already holds rows" in err and len(err.strip().splitlines()) == 1


def test_copy_refuses_a_target_that_is_not_postgresql(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connect_sqlite(clean / "snowbot.db").close()
    assert main(["db", "copy", "--to", str(clean / "other.db")]) == 2
    assert "--to must be a PostgreSQL URL" in capsys.readouterr().err
