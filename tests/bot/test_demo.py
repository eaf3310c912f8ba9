"""`snowbot demo`: the story plays through the bot's real endpoints and ends with what ServiceNow holds."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import pytest

from demo import ANOMALY_ID, COMMENT, QUALYTICS_PERSON, demo_world, play_story, run_demo
from emulators.faults import Faults
from emulators.servicenow import ServiceNowEmulator

CREATED = "INC0010001"  # the emulator numbers new incidents from INC0010001
OLDER = "INC0000002"  # the seeded "Nightly orders_daily load failed"
MARKER = re.compile(r"ref (snowbot-[0-9a-f]+)\)")


def steps(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"[✓✗] \d/8 ", line)]


def journal(sn: ServiceNowEmulator, number: str) -> list[str]:
    incident = sn.get_by_number(number)
    assert incident is not None
    return [entry["value"] for entry in sn.journal(incident["sys_id"])]


async def test_the_demo_tells_the_whole_story_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = io.StringIO()

    code = await run_demo(keep_running=False, out=out, debug=True)

    output = out.getvalue()
    assert code == 0, output
    told = steps(output)
    assert [line[:5] for line in told] == [f"✓ {n}/8" for n in range(1, 9)], output
    first, prefilled, created, synced, linked, archived, tickets, held = told
    assert f"anomaly {ANOMALY_ID} in orders_daily" in first
    assert "“[Qualytics] record anomaly 824 in orders_daily”" in prefilled
    assert f"“{CREATED} created and linked to anomaly 824”" in created and "Data Quality" in created
    assert f"a sync pass wrote 2 work notes on {CREATED}" in synced
    assert f"/snow link 824 {OLDER}" in linked and "Nightly orders_daily load failed" in linked
    assert (
        f"resolved {CREATED} and {OLDER}" in archived and f"“{CREATED} is resolved (anomaly 824)”" in archived
    )
    assert (
        f"{CREATED} · Incident · Resolved · changed " in tickets
        and f"{OLDER} · Incident · Resolved" in tickets
    )
    assert held.endswith(f"ServiceNow holds {CREATED}: Resolved, 3 work notes")
    incident = output[output.index(held) :]
    assert f"{CREATED} · Resolved · [Qualytics] record anomaly 824 in orders_daily" in incident
    assert "**Anomaly ID:** 824" in incident
    notes = re.findall(r"^ +\d\. (.*)$", incident, flags=re.MULTILINE)
    assert [re.sub(r"^\[[^]]+ UTC\] ", "", note) for note in notes] == [
        f"Comment from Qualytics: {COMMENT}",
        "Qualytics Anomaly Status: Acknowledged",
        "Qualytics Anomaly Status: Resolved",
    ]
    assert "Traceback" not in output and "✗" not in output
    assert not any(os.scandir(tmp_path))  # the temporary database went with the demo


async def test_servicenow_holds_each_note_exactly_once(tmp_path: Path) -> None:
    async with demo_world(tmp_path) as world:
        code = await play_story(world, io.StringIO())
        sn = world.servicenow

    assert code == 0
    created = journal(sn, CREATED)
    assert [note.splitlines()[0].split(" UTC] ", 1)[1] for note in created] == [
        f"Comment from Qualytics: {COMMENT}",
        "Qualytics Anomaly Status: Acknowledged",
        "Qualytics Anomaly Status: Resolved",
    ]
    assert f"comment by {QUALYTICS_PERSON[0]}" in created[0]
    older = journal(sn, OLDER)
    assert len(older) == 3
    assert older[0] == "Added a datafile to the tablespace; the next run will tell."  # seeded
    assert older[1].startswith(f"Linked to Qualytics anomaly {ANOMALY_ID} by jane.doe via Slack: http://")
    assert older[2].splitlines()[0].endswith("Qualytics Anomaly Status: Resolved")
    markers = [m for note in created + older for m in MARKER.findall(note)]
    assert len(markers) == 4 and len(set(markers)) == 4  # one outbox row, one note
    assert {sn.get_by_number(n)["state"] for n in (CREATED, OLDER)} == {"6"}  # type: ignore[index]
    assert sum(1 for row in sn.incidents.values() if "anomaly 824" in row["short_description"]) == 1


async def test_a_failing_step_says_which_and_why_without_a_traceback(tmp_path: Path) -> None:
    out = io.StringIO()
    async with demo_world(tmp_path) as world:
        world.servicenow.faults = Faults(error_rate=1.0, error_statuses=(500,), methods=frozenset({"POST"}))
        code = await play_story(world, out)

    output = out.getvalue()
    assert code == 1
    assert [line[:5] for line in steps(output)] == ["✓ 1/8", "✓ 2/8", "✗ 3/8"]
    failed = steps(output)[-1]
    assert failed.startswith(
        "✗ 3/8 submitting the create form failed: nothing was said in the alert's thread"
    )
    assert "ServiceNow" in failed  # the reason the bot showed in the modal
    assert "Traceback" not in output
