"""The `snowbot` command line as an operator meets it: a bad setting or option is one line naming it, what
is wrong and the fix (exit 2), never a traceback; `snowbot run --help` lists the settings."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.settings import MIN_SECRET_KEY, Settings, describe_settings, load_settings
from snowbot.cli import main
from storage import SecretBox
from tests.bot.processes import PREFIXES, running, snowbot

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No snowbot setting from the developer's shell and no `.env`: a scratch working directory."""
    import os

    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another process is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


BAD_SETTINGS = [
    ("SNOWBOT_PORT", "abc", "is not a whole number: set it to a whole number from 1 to 65535"),
    ("SNOWBOT_PORT", "0", "is too small: set it to a whole number from 1 to 65535"),
    ("SNOWBOT_PORT", "70000", "is too large"),
    (
        "SNOWBOT_SYNC_INTERVAL",
        "0",
        "is too small: set it to a whole number of at least 1, or unset it (default 60)",
    ),
    ("SNOWBOT_SYNC_INTERVAL", "soon", "is not a whole number"),
    ("SNOWBOT_ALLOW_INSECURE_INSTANCE", "maybe", "is not true or false"),
    ("SNOWBOT_LOG_FORMAT", "xml", "set it to one of text, json"),
    ("SNOWBOT_SECRET_KEY", "hunter2", "is too short (7 characters, at least 16); run `snowbot secret-key`"),
    ("SNOWBOT_DB", "{tmp}/no/such/dir/snowbot.db", "does not exist; create it or point SNOWBOT_DB elsewhere"),
    ("SNOWBOT_DB", "{tmp}", "is a directory: name a file in it"),
    (
        "SERVICENOW_INSTANCE_URL",
        "dev1234.service-now.com",
        "SERVICENOW_INSTANCE_URL: the ServiceNow instance URL must start with https://",
    ),
]


@pytest.mark.parametrize(("variable", "value", "says"), BAD_SETTINGS)
def test_sync_once_names_the_bad_setting_in_one_line(
    clean: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.setenv(variable, value.format(tmp=clean))
    monkeypatch.setenv("SERVICENOW_CREDENTIALS", "admin:admin")
    if variable != "SERVICENOW_INSTANCE_URL":
        monkeypatch.setenv("SERVICENOW_INSTANCE_URL", "https://dev1234.service-now.com")

    assert main(["sync", "--once"]) == 2

    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith(f"snowbot sync: {variable}") and says in line, line
    assert "hunter2" not in line  # a secret is never echoed
    assert captured.out == ""


@pytest.mark.parametrize(
    ("variable", "value", "says"), [BAD_SETTINGS[0], BAD_SETTINGS[7], BAD_SETTINGS[8], BAD_SETTINGS[10]]
)
def test_run_names_the_bad_setting_in_one_line(tmp_path: Path, variable: str, value: str, says: str) -> None:
    done = snowbot(tmp_path, "run", **{variable: value.format(tmp=tmp_path), "SERVICENOW_CREDENTIALS": "a:b"})
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert line.startswith(f"snowbot run: {variable}") and says in line, line


def test_a_port_in_use_fails_before_the_scheduler_starts(tmp_path: Path, held_port: int) -> None:
    done = snowbot(
        tmp_path,
        "run",
        SNOWBOT_PORT=str(held_port),
        SNOWBOT_API_TOKEN="t" * 24,
        QUALYTICS_URL="http://127.0.0.1:9",  # configured: the scheduler would start and run a pass
        QUALYTICS_TOKEN="token",
    )
    assert done.returncode == 2, done.stderr
    assert "sync" not in done.stderr  # neither "sync scheduled" nor a pass: nothing started
    line = one_line(done.stderr)
    assert f"snowbot run: SNOWBOT_PORT={held_port}: 127.0.0.1:{held_port} is already in use" in line
    assert "set SNOWBOT_PORT to a free port" in line


def test_secret_key_prints_a_key_settings_and_the_secret_box_accept(
    clean: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["secret-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", key)
    monkeypatch.setenv("SNOWBOT_SECRET_KEY", key)
    settings = load_settings()
    assert settings.secret_key is not None and len(key) >= MIN_SECRET_KEY
    box = SecretBox(settings.secret_key)
    assert box.decrypt(box.encrypt("pw")) == "pw"
    assert main(["secret-key"]) == 0
    assert capsys.readouterr().out.strip() != key


def test_run_help_lists_every_setting_with_its_default_and_meaning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, default, description in describe_settings():
        assert name in text
        assert " ".join(description.split()) in text, name
        if default:
            assert f"(default: {default})" in text, name
    assert "SNOWBOT_PORT Port `snowbot run` listens on. (default: 3000)" in text


def test_every_setting_has_a_description_and_a_row_in_the_readme() -> None:
    readme = README.read_text()
    for name, _, description in describe_settings():
        assert description, f"{name} has no docstring in bot/settings.py"
        assert f"`{name}`" in readme, f"{name} is missing from the README's configuration table"
    assert len(describe_settings()) == len(Settings.model_fields)


# ---- snowbot emulate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["emulate", "slack", "--port", "70000"], "argument --port: 70000 is out of range: give 1 to 65535"),
        (["emulate", "slack", "--port", "eighty"], "argument --port: 'eighty' is not a port number"),
        (["emulate", "qualytics", "--token", ""], "--token is empty: give a token, or leave --token out"),
        (["emulate", "slack", "--token", "  "], "--token is empty"),
        (["emulate", "servicenow", "--token", "x"], "--token is for qualytics, slack and vault"),
    ],
)
def test_emulate_refuses_a_bad_option_in_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    try:
        code = main(args)
    except SystemExit as exited:  # argparse's refusal
        code = exited.code  # type: ignore[assignment]
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("snowbot emulate: ") and says in line, line


def test_emulate_on_a_port_in_use_names_the_option(
    held_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulate", "qualytics", "--port", str(held_port)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"snowbot emulate: --port={held_port}: 127.0.0.1:{held_port} is already in use" in line


def test_emulate_warns_loudly_about_admin_admin_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("uvicorn.Server.run", lambda server, sockets=None: sockets[0].close())
    assert main(["emulate", "servicenow", "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING: the servicenow emulator listens on 0.0.0.0") and "admin:admin" in err

    assert main(["emulate", "servicenow", "--port", "0"]) == 0  # loopback: no warning
    assert capsys.readouterr().err == ""


def test_emulate_slack_accepts_the_token_it_was_started_with_and_prints_it(tmp_path: Path) -> None:
    with running(tmp_path, "emulate", "slack", "--port", "0", "--token", "xoxb-mine-123") as emulator:
        (banner,) = emulator.read_until(lambda line: line.startswith("slack emulator on "))
        assert "bot token xoxb-mine-123 (from --token)" in banner
        url = re.search(r"on (http://127\.0\.0\.1:\d+) ", banner).group(1)  # type: ignore[union-attr]
        ok = httpx.post(f"{url}/api/auth.test", headers={"Authorization": "Bearer xoxb-mine-123"}).json()
        refused = httpx.post(
            f"{url}/api/auth.test", headers={"Authorization": "Bearer xoxb-test-token"}
        ).json()
        index = httpx.get(f"{url}/api/")
    assert ok["ok"] is True and refused == {"ok": False, "error": "invalid_auth"} | {
        k: v for k, v in refused.items() if k not in ("ok", "error")
    }
    assert index.status_code == 200 and "auth.test" in index.json()["methods"]


# ---- logs -----------------------------------------------------------------------------------------------


def test_run_logs_json_lines_including_uvicorns(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running(tmp_path, "run", stream="stderr", SNOWBOT_PORT=str(port), SNOWBOT_LOG_FORMAT="json") as bot:
        lines = bot.read_until(lambda line: "Application startup complete" in line)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        lines += bot.read_until(lambda line: "/healthz" in line)
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    by_logger = {record["logger"] for record in records}
    assert {"bot.app", "uvicorn.error", "uvicorn.access"} <= by_logger, by_logger
    messages = [record["message"] for record in records]
    assert any(m.startswith("SNOWBOT_API_TOKEN is not set") for m in messages)
    assert f"snowbot listening on http://127.0.0.1:{port} (Ctrl+C stops it)" in messages
