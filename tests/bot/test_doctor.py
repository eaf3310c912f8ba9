"""`snowbot doctor` (issue 12 item 5) against the emulators: ServiceNow users with and without each role
and read ACL, Qualytics tokens, Slack scopes and channels, the database; it only reads."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from bot.app import build_app
from bot.cli import run_doctor
from bot.doctor import BOT_SCOPES, Report, token_expiry
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from emulators.slack import DEFAULT_SCOPES, SlackEmulator
from snowbot.cli import main
from storage import links
from tests.conftest import QUALYTICS_TOKEN

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-doctor-test"


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def _by_name(report: Report) -> dict[str, tuple[bool, str, str]]:
    return {check.name: (check.ok, check.detail, check.fix) for check in report.checks}


@pytest.fixture
def slack() -> Iterator[tuple[SlackEmulator, str]]:
    emulator = SlackEmulator(bot_token=BOT_TOKEN)
    with serve_in_thread(emulator.app) as base_url:
        yield emulator, base_url + "/api/"


async def _doctor(settings: Settings, sn: ServiceNowEmulator, q: QualyticsEmulator) -> Report:
    return await run_doctor(settings, servicenow_transport=sn.transport(), qualytics_transport=q.transport())


async def test_everything_holds_for_an_admin_account(
    snowbot: Snowbot,
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
    slack: tuple[SlackEmulator, str],
) -> None:
    settings = make_settings(slack_bot_token=BOT_TOKEN, slack_signing_secret="s", slack_api_url=slack[1])
    report = await _doctor(settings, sn_emulator, q_emulator)

    assert report.ok, report.text()
    names = [check.name for check in report.checks]
    for expected in ("settings", "database", "migrations", "outbox", "servicenow auth", "qualytics token"):
        assert expected in names
    assert "servicenow create incidents" in names and "slack scopes" in names
    assert all(line.startswith("ok ") for line in report.text().splitlines())
    assert _by_name(report)["servicenow auth"][1] == "basic as admin signed in"


async def test_an_itil_account_is_told_to_grant_sys_choice_and_sys_journal_field(
    snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    sn_emulator.add_user("admin", "admin", ["itil"])
    checks = _by_name(await _doctor(settings, sn_emulator, q_emulator))

    assert checks["servicenow create incidents"][0] and checks["servicenow work notes"][0]
    ok, detail, fix = checks["servicenow sys_choice"]
    assert not ok and "Field(s) present in the query do not have permission to be read" in detail
    assert "sys_choice's name, element and value" in fix and "SNOWBOT_CLOSE_CODE" in fix
    ok, _, fix = checks["servicenow sys_journal_field"]
    assert not ok and "falls back to work_notes" in fix

    sn_emulator.grant_read("itil", "sys_choice.name", "sys_choice.element", "sys_choice.value")
    sn_emulator.grant_read("itil", "sys_journal_field")
    checks = _by_name(await _doctor(settings, sn_emulator, q_emulator))
    assert checks["servicenow sys_choice"][0] and checks["servicenow sys_journal_field"][0]


async def test_an_account_without_itil_cannot_create_incidents(
    snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    sn_emulator.add_user("admin", "admin", ["snc_read_only"])
    report = await _doctor(settings, sn_emulator, q_emulator)
    ok, detail, fix = _by_name(report)["servicenow create incidents"]
    assert not ok and "roles: snc_read_only" in detail and fix == "give the account the itil role"
    assert not _by_name(report)["servicenow work notes"][0]
    assert not report.ok


async def test_a_wrong_password_is_one_auth_line(
    snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    sn_emulator.add_user("admin", "changed", ["admin"])
    checks = _by_name(await _doctor(settings, sn_emulator, q_emulator))
    ok, detail, fix = checks["servicenow auth"]
    assert not ok and detail.startswith("basic as admin: ") and "password" in fix
    assert "servicenow create incidents" not in checks


async def test_doctor_only_reads(
    snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    sn_emulator.reset_log()
    q_emulator.reset_log()
    await _doctor(settings, sn_emulator, q_emulator)
    assert sn_emulator.requests and {r.method for r in sn_emulator.requests} == {"GET"}
    assert q_emulator.requests and {r.method for r in q_emulator.requests} == {"GET"}


async def test_qualytics_tokens_invalid_expired_and_a_refused_datastore(
    snowbot: Snowbot,
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
) -> None:
    checks = _by_name(await _doctor(make_settings(qualytics_token="wrong"), sn_emulator, q_emulator))
    assert not checks["qualytics token"][0] and "token" in checks["qualytics token"][2]

    expired = _jwt({"sub": "svc", "exp": int((datetime.now(UTC) - timedelta(days=1)).timestamp())})
    q_emulator.add_person(expired, "Old Token", "old@acme.example")
    checks = _by_name(await _doctor(make_settings(qualytics_token=expired), sn_emulator, q_emulator))
    ok, detail, fix = checks["qualytics token expiry"]
    assert not ok and detail.startswith("expired ") and "QUALYTICS_TOKEN" in fix

    # a linked anomaly whose datastore the token's user may not read: the emulator's 403 fault stands in
    # for the team permission (qualytics_api/client.py: reads need Viewer)
    links.add(
        snowbot.storage.db,
        anomaly_id=824,
        integration_id=1,
        ticket_sys_id="a" * 32,
        ticket_number="INC0010001",
        status="New",
        url="https://x",
        created_by="U1",
    )
    checks = _by_name(await _doctor(make_settings(), sn_emulator, q_emulator))
    assert checks["qualytics datastores"] == (True, "linked anomalies readable (1 datastores)", "")
    q_emulator.faults.paths, q_emulator.faults.error_statuses = ("/api/anomalies/824",), (403,)
    q_emulator.faults.error_rate = 1.0
    checks = _by_name(await _doctor(make_settings(), sn_emulator, q_emulator))
    ok, detail, fix = checks["qualytics datastores"]
    assert not ok and detail.startswith("anomaly 824: ") and "Viewer" in fix


def test_token_expiry_reads_the_jwt_exp() -> None:
    assert token_expiry(_jwt({"exp": 1_800_000_000})) == datetime.fromtimestamp(1_800_000_000, UTC)
    assert token_expiry(QUALYTICS_TOKEN) is None
    assert token_expiry(_jwt({"sub": "x"})) is None


async def test_slack_missing_scope_and_a_channel_snowbot_is_not_in(
    snowbot: Snowbot,
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
) -> None:
    emulator = SlackEmulator(
        bot_token=BOT_TOKEN, scopes=[s for s in DEFAULT_SCOPES if s != "users:read.email"] + ["channels:read"]
    )
    from storage import cards

    cards.watch(snowbot.storage.db, "C_GENERAL", "U1")
    with serve_in_thread(emulator.app) as base_url:
        settings = make_settings(
            slack_bot_token=BOT_TOKEN, slack_signing_secret="s", slack_api_url=base_url + "/api/"
        )
        checks = _by_name(await _doctor(settings, sn_emulator, q_emulator))
        bad = _by_name(
            await _doctor(
                make_settings(
                    slack_bot_token="xoxb-wrong", slack_signing_secret="s", slack_api_url=base_url + "/api/"
                ),
                sn_emulator,
                q_emulator,
            )
        )
    assert checks["slack token"][0]
    assert checks["slack scopes"][:2] == (False, "missing users:read.email")
    ok, detail, fix = checks["slack channels"]
    assert not ok and detail == "not a member of C_GENERAL" and "/invite" in fix
    assert bad["slack token"][:2] == (False, "auth.test answered invalid_auth")


async def test_socket_mode_app_token_is_checked(
    snowbot: Snowbot,
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
    slack: tuple[SlackEmulator, str],
) -> None:
    emulator, url = slack
    good = make_settings(slack_bot_token=BOT_TOKEN, slack_app_token=emulator.app_token, slack_api_url=url)
    wrong = make_settings(slack_bot_token=BOT_TOKEN, slack_app_token="xapp-1-wrong", slack_api_url=url)
    assert _by_name(await _doctor(good, sn_emulator, q_emulator))["slack connection"][0]
    ok, detail, _ = _by_name(await _doctor(wrong, sn_emulator, q_emulator))["slack connection"]
    assert not ok and detail == "apps.connections.open answered invalid_auth"


async def test_the_database_missing_behind_and_a_failed_note(
    snowbot: Snowbot,
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
    tmp_path: Path,
) -> None:
    absent = _by_name(await _doctor(make_settings(db_path=tmp_path / "none.db"), sn_emulator, q_emulator))
    assert absent["database"][0] is False and "snowbot run" in absent["database"][2]
    assert not (tmp_path / "none.db").exists()  # doctor never creates it

    db = snowbot.storage.db
    link = links.add(
        db,
        anomaly_id=824,
        integration_id=1,
        ticket_sys_id="b" * 32,
        ticket_number="INC0010002",
        status="New",
        url="https://x",
        created_by="U1",
    )
    for n, error in ((1, "403 ACL Exception Update Failed"), (2, "later")):
        db.execute(
            "INSERT INTO outbox (link_id, event_key, kind, payload, state, next_attempt_at, last_error, "
            "created_at, marker) VALUES (?, ?, 'comment', '{}', 'failed', ?, ?, ?, ?)",
            [link.id, f"c{n}", "2026-01-01T00:00:00+00:00", error, "2026-01-01T00:00:00+00:00", f"m{n}"],
        )
    db.execute(
        "DELETE FROM _migrations WHERE name = (SELECT name FROM _migrations ORDER BY rowid DESC LIMIT 1)"
    )
    checks = _by_name(await _doctor(make_settings(), sn_emulator, q_emulator))
    ok, detail, fix = checks["outbox"]
    assert not ok and detail == (
        f"0 pending, 2 failed; oldest failure: comment (link {link.id}): 403 ACL Exception Update Failed"
    )
    assert "snowbot sync --requeue" in fix
    assert not checks["migrations"][0] and "1 not applied" in checks["migrations"][1]


def test_the_manifest_scopes_are_the_ones_doctor_wants() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES


def test_snowbot_doctor_prints_lines_or_json_and_exits_1_until_every_check_holds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sn = ServiceNowEmulator()
    sn.add_user("svc", "pw", ["itil"])
    q = QualyticsEmulator()
    with serve_in_thread(sn.app) as sn_url, serve_in_thread(q.app) as q_url:
        sn.base_url = sn_url
        monkeypatch.chdir(tmp_path)  # no .env
        for name, value in {
            "SNOWBOT_DB": str(tmp_path / "snowbot.db"),
            "SERVICENOW_INSTANCE_URL": sn_url,
            "SERVICENOW_CREDENTIALS": "svc:pw",
            "SNOWBOT_ALLOW_INSECURE_INSTANCE": "true",
            "QUALYTICS_URL": q_url,
            "QUALYTICS_TOKEN": q.token,
        }.items():
            monkeypatch.setenv(name, value)
        from storage import connect, migrate

        migrate(connect(tmp_path / "snowbot.db"))
        code = main(["doctor"])
        text = capsys.readouterr().out
        sn.grant_read(
            "itil", "sys_choice.name", "sys_choice.element", "sys_choice.value", "sys_journal_field"
        )
        code_json = main(["doctor", "--json"])
        body = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "FAIL servicenow sys_choice: " in text and "ok   servicenow auth: basic as svc signed in" in text
    assert code_json == 0  # once granted, every check holds
    assert set(body) == {"checks"} and all(set(c) == {"name", "ok", "detail", "fix"} for c in body["checks"])
    assert all(c["ok"] for c in body["checks"]) and "servicenow sys_choice" in {
        c["name"] for c in body["checks"]
    }


async def test_the_diagnosis_route_gives_the_same_report_for_an_integration(
    api_client: httpx.AsyncClient, sn_emulator: ServiceNowEmulator, snowbot: Snowbot, settings: Settings
) -> None:
    sn_emulator.add_user("admin", "admin", ["itil"])
    response = await api_client.get("/api/integrations/ticketing/1/diagnosis")
    assert response.status_code == 200
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert set(response.json()) == {"checks"}
    assert checks["servicenow auth"]["ok"] and not checks["servicenow sys_choice"]["ok"]
    assert "SNOWBOT_CLOSE_CODE" in checks["servicenow sys_choice"]["fix"]

    missing = await api_client.get("/api/integrations/ticketing/7/diagnosis")
    assert missing.status_code == 404 and "no integration 7" in missing.text
    spec = build_app(settings, snowbot=snowbot).openapi()
    operation = spec["paths"]["/api/integrations/ticketing/{integration_id}/diagnosis"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Diagnosis"
    }


async def test_nothing_connected_says_how_to_connect(
    make_settings: Callable[..., Settings], sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    bare = make_settings(servicenow_instance_url=None, servicenow_credentials=None, qualytics_token=None)
    report = await _doctor(bare, sn_emulator, q_emulator)
    checks = _by_name(report)
    assert checks["servicenow"][:2] == (False, "not connected") and "/snow connect" in checks["servicenow"][2]
    assert not checks["qualytics"][0] and "QUALYTICS_TOKEN" in checks["qualytics"][2]
    assert not report.ok
    not_an_instance = _by_name(await _doctor(make_settings(qualytics_url="ftp://x"), sn_emulator, q_emulator))
    ok, detail, _ = not_an_instance["qualytics"]
    assert not ok and detail.startswith("QUALYTICS_URL must be the instance's address")
