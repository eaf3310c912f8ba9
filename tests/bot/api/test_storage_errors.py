"""The database as the REST API reports it: busy or gone is 503 with what to do, /healthz never waits."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import httpx

from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.servicenow import ServiceNowEmulator

CREATE = "/api/integrations/ticketing/anomalies/{}/tickets"


async def test_a_replaced_database_file_is_503_on_healthz_and_on_a_create(
    api_client: httpx.AsyncClient, settings: Settings, sn_emulator: ServiceNowEmulator, tmp_path: Path
) -> None:
    copy = tmp_path / "restored-from-backup.db"
    shutil.copy(settings.db_path, copy)
    os.replace(copy, settings.db_path)
    before = len(sn_emulator.incidents)

    health = await api_client.get("/healthz")
    created = await api_client.post(CREATE.format(824), json={"title": "x"})

    for answer in (health, created):
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert f"{settings.db_path} (SNOWBOT_DB) was replaced by another file" in detail
        assert "restart snowbot" in detail
    assert len(sn_emulator.incidents) == before


async def test_a_busy_database_is_503_and_nothing_is_created(
    api_client: httpx.AsyncClient, snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    snowbot.db.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(settings.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        created = await api_client.post(CREATE.format(824), json={"title": "x"})
        health = await api_client.get("/healthz")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert created.status_code == 503 and "nothing was created" in created.json()["detail"]
    assert health.json() == {"status": "ok"}
    assert not [r for r in sn_emulator.requests if r.method == "POST"]
