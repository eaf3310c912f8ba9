"""`snowbot demo --keep-running` as a person uses it: every URL it prints answers, and the commands it
prints let a person acknowledge and comment in Qualytics and watch the sync write the work notes."""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

import httpx

from demo import ANOMALY_ID, READY, SERVICENOW_LOGIN
from tests.bot.processes import running

URL = re.compile(r"https?://[^\s'\"]+")


def curl(line: str) -> httpx.Request:
    """The request a printed `curl ...` line makes (its -X, -H and -d options)."""
    words = shlex.split(line)
    assert words[0] == "curl", line
    method, headers, data, url = "GET", {}, None, None
    options = iter(words[1:])
    for word in options:
        if word == "-X":
            method = next(options)
        elif word == "-H":
            name, _, value = next(options).partition(": ")
            headers[name] = value
        elif word == "-d":
            data = next(options)
        else:
            url = word
    assert url is not None, line
    if data is not None and method == "GET":
        method = "POST"  # as curl does with -d
    return httpx.Request(method, url, headers=headers, content=data)


def test_every_printed_url_answers_and_the_printed_commands_reach_servicenow(tmp_path: Path) -> None:
    with running(tmp_path, "demo", "--keep-running") as demo:
        lines = demo.read_until(READY, within=120)
        up = lines[lines.index("Up:") :]
        login = tuple(SERVICENOW_LOGIN.split(":", 1))
        with httpx.Client(timeout=10) as http:
            pages = [line for line in lines if URL.search(line) and not line.strip().startswith("curl")]
            assert len(pages) >= 10, lines  # the story's incident and anomaly links, then the "Up:" list
            for line in pages:
                url = URL.search(line).group(0)  # type: ignore[union-attr]
                if "POST only" in line:
                    answer = http.post(url, content=b"{}")  # unsigned: refused, but the route is there
                    assert answer.status_code == 401, (line, answer.status_code)
                    continue
                answer = http.get(url, auth=login if "nav_to.do" in url else None)
                assert answer.status_code == 200, (line, answer.status_code, answer.text[:300])

            commands = [line.strip() for line in up if line.strip().startswith("curl ")]
            assert len(commands) == 5, up
            for command in commands:
                answer = http.send(curl(command))
                assert answer.status_code < 300, (command, answer.status_code, answer.text[:300])

            incident = next(URL.search(line).group(0) for line in up if "nav_to.do" in line)  # type: ignore[union-attr]
            notes: list[str] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the webhook's sync runs after its 202: wait for its notes
                view = http.get(incident, auth=login, headers={"Accept": "application/json"}).json()
                notes = view["work_notes"]
                if any("Checked again by hand." in note for note in notes):
                    break
            assert any("Checked again by hand." in note for note in notes), notes
            assert any("Qualytics Anomaly Status: Acknowledged" in note for note in notes[3:]), notes
        assert demo.process.poll() is None  # still running until Ctrl-C
    assert demo.process.returncode == 0, demo.process.stderr.read() if demo.process.stderr else ""
    assert f"anomaly {ANOMALY_ID}" in "\n".join(lines)
