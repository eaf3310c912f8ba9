"""The whole bot on PostgreSQL (SNOWBOT_DATABASE_URL): creates through the use cases, side by side on the
store's threads, and a sync pass that writes the work note; no SQLite file is made."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.sync.wiring import build_engine
from bot.usecases import Snowbot, TicketForm
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import dialect, links, sync
from tests.backends import fresh_schema, server_url


@pytest.fixture
def pg_settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    with fresh_schema(server_url()) as url:
        yield make_settings(database_url=url)


async def test_creates_at_once_and_a_sync_pass_on_postgresql(
    pg_settings: Settings,
    make_snowbot: Callable[..., Snowbot],
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
    tmp_path: Path,
) -> None:
    snowbot = make_snowbot(pg_settings)
    assert dialect(snowbot.db) == "postgresql"
    anomaly_ids = [q_emulator.add_anomaly({"status": "Active", "datastore": 23, "type": "record"})["id"]]
    anomaly_ids += [q_emulator.add_anomaly({"status": "Active", "datastore": 23, "type": "record"})["id"]]
    created = await asyncio.gather(
        *(snowbot.create_ticket_for_anomaly(a, TicketForm(f"Anomaly {a}"), actor="U1") for a in anomaly_ids)
    )
    for anomaly_id, done in zip(anomaly_ids, created, strict=True):
        [link] = links.for_anomaly(snowbot.db, anomaly_id)
        assert link.ticket_sys_id == done.incident.sys_id

    q_emulator.set_status(anomaly_ids[0], "Acknowledged")
    report = await build_engine(pg_settings, snowbot).run_pass()
    assert (report.events_recorded, report.notes_sent) == (1, 1)
    sys_id = created[0].incident.sys_id
    assert any("Acknowledged" in row["value"] for row in sn_emulator.journal(sys_id))
    assert sync.last_run(snowbot.db) is not None
    assert not (tmp_path / "snowbot.db").exists()  # SNOWBOT_DB is not touched


def test_doctor_reads_postgresql_and_says_when_it_does_not_answer(pg_settings: Settings) -> None:
    from bot.doctor import database_checks, open_read_only

    db = open_read_only(pg_settings.database)
    assert db is not None
    found = {check.name: check for check in database_checks(db, pg_settings.database)}
    assert found["database"].ok and "PostgreSQL at" in found["database"].detail
    assert not found["migrations"].ok  # a fresh schema: the doctor never migrates
    db.close()
    url = "postgresql://snowbot:pw@127.0.0.1:1/none"
    [check] = database_checks(open_read_only(url), url)
    assert not check.ok and ":***@" in check.detail and "SNOWBOT_DATABASE_URL" in check.fix
