"""qualytics-cli 1.2.2 (Qualytics' own client, from PyPI) runs its anomaly commands against the emulator.

The CLI talks `requests` to a real loopback socket (`serve_in_thread`), with the QUALYTICS_URL /
QUALYTICS_TOKEN pair it reads before any config file; it decodes the token as a JWT before every command.
Each command's requests are those of its source (`qualytics/api/anomalies.py`, `qualytics/cli/anomalies.py`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import jwt
import pytest
from qualytics.cli.anomalies import anomalies_app
from typer.testing import CliRunner

from emulators.cli import build_emulator
from emulators.qualytics import DEMO_TOKEN, QualyticsEmulator
from emulators.serve import serve_in_thread


@pytest.fixture
def emulator() -> QualyticsEmulator:
    """The emulator exactly as `snowbot emulate qualytics` builds it (no --token: the demo token)."""
    emulator, who = build_emulator(
        argparse.Namespace(service="qualytics", token=None), "http://127.0.0.1:8001"
    )
    assert isinstance(emulator, QualyticsEmulator) and emulator.token == DEMO_TOKEN and DEMO_TOKEN in who
    return emulator


@pytest.fixture
def cli(emulator: QualyticsEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[CliRunner]:
    with serve_in_thread(emulator.app) as url:
        monkeypatch.setenv("QUALYTICS_URL", url)
        monkeypatch.setenv("QUALYTICS_TOKEN", DEMO_TOKEN)
        monkeypatch.setenv("QUALYTICS_CONFIG_HOME", str(tmp_path))
        monkeypatch.delenv("QUALYTICS_API_PATH", raising=False)
        yield CliRunner()


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(anomalies_app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_the_demo_token_is_a_jwt_without_expiry() -> None:
    claims = jwt.decode(DEMO_TOKEN, options={"verify_signature": False})
    assert "exp" not in claims and claims["sub"]


def test_get_and_list_with_every_filter_the_cli_sends(cli: CliRunner, emulator: QualyticsEmulator) -> None:
    assert '"id": 824' in run(cli, "get", "--id", "824", "--format", "json")
    assert "Found 5 anomalies." in run(cli, "list", "--datastore-id", "23")
    check_id = str(emulator.anomalies[824]["failed_checks"][0]["quality_check"]["id"])
    only_824 = run(
        cli,
        *("list", "--datastore-id", "23", "--check-id", check_id, "--type", "record", "--tag", "critical"),
        *("--start-date", "2026-01-01", "--end-date", "2026-12-31", "--no-source-enriched"),
    )
    assert "Found 1 anomalies." in only_824
    archived = run(cli, "list", "--datastore-id", "7", "--status", "Resolved,Invalid")
    assert "Found 2 anomalies." in archived
    lists = [r for r in emulator.requests if r.path == "/api/anomalies"]
    assert lists[1].query["quality_check"] == check_id and lists[1].query["source_enriched"] == "false"
    assert lists[2].query["archived"] == "only" and lists[2].query["status"] == ["Resolved", "Invalid"]


def test_update_one_and_many(cli: CliRunner, emulator: QualyticsEmulator) -> None:
    run(
        cli,
        *("update", "--id", "824", "--status", "Acknowledged", "--assignee-ids", "7"),
        *("--tags", "critical,pii", "--description", "looking"),
    )
    one = emulator.anomalies[824]
    assert (one["status"], one["description"]) == ("Acknowledged", "looking")
    assert [a["id"] for a in one["assignees"]] == [7] and [t["name"] for t in one["global_tags"]] == [
        "critical",
        "pii",
    ]

    run(cli, "update", "--ids", "820,822", "--status", "Acknowledged")
    assert emulator.requests[-1].method == "PATCH" and emulator.requests[-1].status == 200
    assert {emulator.anomalies[i]["status"] for i in (820, 822)} == {"Acknowledged"}


def test_archive_and_delete_one_and_many(cli: CliRunner, emulator: QualyticsEmulator) -> None:
    run(cli, "archive", "--id", "824", "--status", "Duplicate")
    run(cli, "archive", "--ids", "820,822", "--status", "Invalid")
    assert emulator.anomalies[824]["status"] == "Duplicate"
    assert {(emulator.anomalies[i]["status"], emulator.anomalies[i]["archived"]) for i in (820, 822)} == {
        ("Invalid", True)
    }

    run(cli, "delete", "--id", "825")
    run(cli, "delete", "--ids", "826,827")
    assert not {825, 826, 827} & set(emulator.anomalies)
    gone = cli.invoke(anomalies_app, ["get", "--id", "825"])
    assert gone.exit_code != 0 and "404" in str(gone.exception)
