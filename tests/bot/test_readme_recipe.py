"""The README's recipe, `snowbot run` against `snowbot emulate …`, run as written (on free ports instead of
8081-8083 and 3000, which may be busy): its exports are settings snowbot accepts, its commands create an
incident, acknowledge the anomaly in Qualytics, sync at once, and the work note reaches ServiceNow."""

from __future__ import annotations

import re
import shlex
import socket
from contextlib import ExitStack
from pathlib import Path

import httpx

from bot.settings import Settings, variable
from emulators.cli import DEFAULT_PORTS, DEFAULT_TOKENS
from storage import SecretBox
from tests.bot.processes import running
from tests.bot.test_demo_keep_running import curl

README = Path(__file__).resolve().parents[2] / "README.md"
RUN_PORT = 3000


def recipe() -> tuple[list[str], list[str]]:
    """The two sh blocks after "### `snowbot run` against the emulators": set-up lines and curl commands."""
    section = README.read_text().split("### `snowbot run` against the emulators", 1)[1]
    setup, commands = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)[:2]
    joined = commands.replace("\\\n", " ")
    return setup.splitlines(), [line.strip() for line in joined.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_recipe_in_the_readme_works_as_written(tmp_path: Path) -> None:
    setup, commands = recipe()
    ports = {DEFAULT_PORTS[name]: free_port() for name in DEFAULT_PORTS} | {RUN_PORT: free_port()}

    def moved(text: str) -> str:
        return re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{ports[int(m.group(1))]}", text)

    env: dict[str, str] = {}
    emulate: list[list[str]] = []
    for line in setup:
        line = line.replace("$(snowbot secret-key)", SecretBox.generate_key())  # what the command prints
        words = [word for word in shlex.split(line.split("#", 1)[0]) if word != "&"]
        if words[:2] == ["snowbot", "emulate"]:
            emulate.append([*words[1:], "--port", str(ports[DEFAULT_PORTS[words[2]]])])
        elif words[:1] == ["export"]:
            for pair in words[1:]:
                name, _, value = pair.partition("=")
                env[name] = moved(value)
    known = {variable(name) for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known

    def token_of(service: str) -> str:  # what the recipe's `snowbot emulate <service>` accepts
        [words] = [words for words in emulate if words[1] == service]
        return words[words.index("--token") + 1] if "--token" in words else DEFAULT_TOKENS[service]

    assert env["QUALYTICS_TOKEN"] == token_of("qualytics") and env["SLACK_BOT_TOKEN"] == token_of("slack")
    env["SNOWBOT_DB"] = str(tmp_path / "snowbot-local.db")
    env["SNOWBOT_PORT"] = str(ports[RUN_PORT])

    with ExitStack() as stack:
        for args in emulate:
            emulator = stack.enter_context(running(tmp_path, *args))
            emulator.read_until(lambda line: " emulator on http://" in line)
        bot = stack.enter_context(running(tmp_path, "run", stream="stderr", **env))
        bot.read_until(lambda line: "Application startup complete" in line)
        with httpx.Client(timeout=10) as http:
            answers = []
            for command in commands:
                command = moved(command.replace("$SNOWBOT_API_TOKEN", env["SNOWBOT_API_TOKEN"]))
                command = command.replace("$SNOWBOT_WEBHOOK_SECRET", env["SNOWBOT_WEBHOOK_SECRET"])
                answer = http.send(curl(command))
                assert answer.status_code < 300, (command, answer.status_code, answer.text)
                answers.append(answer)
            incident = answers[0].json()["ticket"]["url"]
            bot.read_until(lambda line: "sync of anomaly 824: " in line)  # the webhook's sync, after its 202
            view = http.get(incident, auth=("admin", "admin"), headers={"Accept": "application/json"}).json()
    assert any("Qualytics Anomaly Status: Acknowledged" in note for note in view["work_notes"]), view
