"""`snowbot run` as a real process on loopback: how it starts and stops when Slack or ServiceNow misbehave.

The emulators run in this process (threads on loopback ports); snowbot runs as a child process
(`python -m snowbot run`) with its settings in the environment. Every wait is bounded: a line in the
child's log, an answer from it, or its exit, each with a deadline; a child still running at the end is
killed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from emulators.slack import SlackEmulator
from tests.conftest import API_TOKEN, QUALYTICS_TOKEN

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-test-token"
STARTED = re.compile(r"Application startup complete")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Snowbot:
    """A `snowbot run` child process and its log (stderr and stdout, line by line)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        full = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
            "SNOWBOT_HOST": "127.0.0.1",
            "SNOWBOT_PORT": str(self.port),
            "SNOWBOT_DB": str(cwd / "snowbot.db"),
            "SNOWBOT_API_TOKEN": API_TOKEN,
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "snowbot", "run"],
            cwd=cwd,  # no .env of the developer's is read
            env={**full, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for_line(self, pattern: re.Pattern[str], within: float) -> str:
        """The first log line matching `pattern` (fails after `within` seconds or when the child exits)."""
        deadline = time.monotonic() + within
        with self._changed:
            while True:
                found = next((line for line in self.lines if pattern.search(line)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    raise AssertionError(f"no line matching {pattern.pattern!r}:\n" + self.log())
                self._changed.wait(timeout=remaining)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5, **kwargs)  # type: ignore[arg-type]

    def stop(self, within: float) -> tuple[int, float]:
        """SIGTERM, then the exit code and the seconds it took (fails after `within` seconds)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        return self.exit_code(within), time.monotonic() - started

    def exit_code(self, within: float) -> int:
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {within}s:\n" + self.log()) from None

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def run_snowbot(tmp_path: Path) -> Iterator[type[Snowbot]]:
    started: list[Snowbot] = []

    def start(**env: str) -> Snowbot:
        bot = Snowbot(env, tmp_path)
        started.append(bot)
        return bot

    yield start  # type: ignore[misc]
    for bot in started:
        bot.kill()


# ------------------------------------------------------------------------------------- Socket Mode


@pytest.fixture
def slack() -> Iterator[tuple[SlackEmulator, str]]:
    emulator = SlackEmulator(bot_token=BOT_TOKEN)
    with serve_in_thread(emulator.app) as base_url:
        yield emulator, f"{base_url}/api/"


def test_a_bot_token_in_slack_app_token_ends_the_process_with_one_line(
    run_snowbot, slack: tuple[SlackEmulator, str]
) -> None:
    emulator, api_url = slack
    bot = run_snowbot(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=BOT_TOKEN, SLACK_API_URL=api_url)

    code = bot.exit_code(within=20)

    assert code == 2  # a configuration error, as for a bad setting
    named = [line for line in bot.lines if "SLACK_APP_TOKEN" in line]
    assert len(named) == 1, bot.log()
    assert "not_allowed_token_type" in named[0] and "SLACK_BOT_TOKEN" in named[0]
    assert not any("Traceback" in line for line in bot.lines), bot.log()
    assert BOT_TOKEN not in bot.log()
    assert [call.error for call in emulator.calls_to("apps.connections.open")] == ["not_allowed_token_type"]


def test_slack_unreachable_leaves_the_rest_running_and_sigterm_stops_it(run_snowbot) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    bot = run_snowbot(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN="xapp-1-A_SNOWBOT-1-test", SLACK_API_URL=closed
    )
    bot.wait_for_line(STARTED, within=20)
    bot.wait_for_line(re.compile(r"Slack Socket Mode: Slack unreachable"), within=20)

    health = bot.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["slack"].startswith("reconnecting (Slack unreachable: ")
    answer = bot.get("/api/anomalies/824/ticket-links", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 503 and "QUALYTICS_URL" in answer.json()["detail"]  # served: not set up

    code, seconds = bot.stop(within=10)
    print(f"SIGTERM with Slack unreachable: stopped in {seconds:.1f}s")
    assert code in (0, -signal.SIGTERM), bot.log()


def test_a_slack_that_fails_then_recovers_is_reconnected_and_sigterm_stops_it(
    run_snowbot, slack: tuple[SlackEmulator, str]
) -> None:
    emulator, api_url = slack
    emulator.refuse_next("apps.connections.open", "internal_error", count=2)
    bot = run_snowbot(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=emulator.app_token, SLACK_API_URL=api_url)
    bot.wait_for_line(STARTED, within=20)

    bot.wait_for_line(re.compile(r"Slack Socket Mode connected"), within=20)  # after 1 s and 2 s of backoff
    assert bot.get("/healthz").json() == {"status": "ok", "slack": "connected"}
    assert emulator.socket_connections == 1
    assert [c.error for c in emulator.calls_to("apps.connections.open")] == ["internal_error"] * 2 + [None]

    code, seconds = bot.stop(within=10)
    print(f"SIGTERM while connected over Socket Mode: stopped in {seconds:.1f}s")
    assert code in (0, -signal.SIGTERM), bot.log()


# ------------------------------------------------------------------------------------- shutdown


def create_ticket(bot: Snowbot) -> None:
    """POST a create through the REST API; its answer (none: the process stops) does not matter."""
    try:
        httpx.post(
            f"{bot.url}/api/integrations/ticketing/anomalies/824/tickets",
            json={"title": "Orders load is broken", "priority": "3", "urgency": "3", "impact": "3"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=60,
        )
    except httpx.HTTPError:
        pass


def test_sigterm_during_a_create_servicenow_never_answers_stops_within_the_timeout(
    run_snowbot, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    """The create's POST reaches ServiceNow, which never answers: the shutdown still ends in time and
    names the create it cut short."""
    sn_emulator.drop_hang = 300
    with serve_in_thread(sn_emulator.app) as sn_url, serve_in_thread(q_emulator.app) as q_url:
        bot = run_snowbot(
            SERVICENOW_INSTANCE_URL=sn_url,
            SERVICENOW_CREDENTIALS="admin:admin",
            SNOWBOT_ALLOW_INSECURE_INSTANCE="true",
            QUALYTICS_URL=q_url,
            QUALYTICS_TOKEN=QUALYTICS_TOKEN,
            SNOWBOT_HTTP_TIMEOUT="120",  # ServiceNow's silence outlasts any shutdown
            SNOWBOT_SHUTDOWN_TIMEOUT="4",
            SNOWBOT_SYNC_INTERVAL="3600",
        )
        bot.wait_for_line(STARTED, within=20)
        sn_emulator.faults.methods = frozenset({"POST"})
        sn_emulator.faults.drop_rate = 1.0  # applied, and the answer held
        threading.Thread(target=create_ticket, args=(bot,), daemon=True).start()
        deadline = time.monotonic() + 20
        while not any(r.method == "POST" and r.path.endswith("/incident") for r in sn_emulator.requests):
            assert time.monotonic() < deadline, "the create never reached ServiceNow:\n" + bot.log()
            time.sleep(0.02)

        code, seconds = bot.stop(within=4 + 6)

    print(f"shutdown with a hung ServiceNow create: {seconds:.1f}s (SNOWBOT_SHUTDOWN_TIMEOUT=4)")
    assert seconds < 4 + 2.5, bot.log()
    assert code in (0, 1, -signal.SIGTERM), bot.log()
    cut = [line for line in bot.lines if "unfinished at shutdown, cancelled" in line]
    assert len(cut) == 1, bot.log()
    assert "Snowbot.create_ticket_for_anomaly" in cut[0] and "ServiceNowClient" in cut[0]
    assert not any("Traceback" in line for line in bot.lines), bot.log()
