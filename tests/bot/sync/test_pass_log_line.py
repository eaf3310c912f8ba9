"""Each sync pass logs one INFO line with its figures, as text and as fields for a log shipper."""

from __future__ import annotations

import logging

import pytest
from sqlite_utils import Database

from emulators.qualytics import QualyticsEmulator


async def test_a_pass_logs_one_info_line_with_its_figures(
    db: Database, qe: QualyticsEmulator, make_engine, link_anomaly, caplog: pytest.LogCaptureFixture
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Acknowledged")

    with caplog.at_level(logging.DEBUG):
        await make_engine().run_pass()

    lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("bot.sync")]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    (line,) = lines
    assert line.levelno == logging.INFO
    assert line.getMessage().startswith("sync pass: 1 anomalies read, 1 events recorded, 1 notes sent")
    fields = {
        key: getattr(line, key, None)
        for key in ("anomalies_read", "events_recorded", "notes_sent", "failures")
    }
    assert fields == {"anomalies_read": 1, "events_recorded": 1, "notes_sent": 1, "failures": 0}
    assert isinstance(line.seconds, float) and line.sync_trigger == "pass"  # type: ignore[attr-defined]
