"""Fault tests against a real `snowbot run` process (issue 10, items 1-3).

The ServiceNow and Qualytics emulators serve on loopback ports in this process (so the test can arm
their faults and read their records); the bot is a child process over a database file in tmp_path.

- kill -9 while ServiceNow holds the create's POST (applied, the answer held until the client hangs up:
  the emulator's "drop" fault on a real socket), restart, the retry: one incident, linked.
- another connection holds `BEGIN IMMEDIATE` during a create: 503 "nothing was created", no POST, and
  /healthz keeps answering meanwhile (its latency is printed: run with `-s` to see the figure).
- the database file unlinked while running: /healthz and a create answer 503 naming SNOWBOT_DB.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx

from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from tests.conftest import API_TOKEN

from .processes import snowbot_run, wait_until

CREATE = "/api/integrations/ticketing/anomalies/{}/tickets"
LINKS = "/api/anomalies/{}/ticket-links"
HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def incidents_of(sn: ServiceNowEmulator, anomaly_id: int) -> list[dict[str, str]]:
    prefix = f"snowbot:{anomaly_id}:"
    return [row for row in list(sn.incidents.values()) if row.get("correlation_id", "").startswith(prefix)]


def test_kill_9_during_a_held_create_then_the_retry_links_the_one_incident(
    tmp_path: Path, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    db_path = tmp_path / "snowbot.db"
    sn_emulator.drop_hang = 60.0
    with serve_in_thread(sn_emulator.app) as sn_url, serve_in_thread(q_emulator.app) as q_url:
        sn_emulator.base_url = sn_url
        with snowbot_run(tmp_path, db_path, sn_url, q_url) as first, ThreadPoolExecutor(1) as pool:
            sn_emulator.faults.drop_next()  # the next request (the POST) is applied, its answer held
            with httpx.Client(base_url=first.url, headers=HEADERS, timeout=60) as client:
                pending: Future[httpx.Response] = pool.submit(
                    client.post, CREATE.format(824), json={"title": "Null values in orders"}
                )
                wait_until(lambda: incidents_of(sn_emulator, 824), "the POST to reach ServiceNow")
                first.kill9()
                assert isinstance(pending.exception(timeout=30), httpx.TransportError)
        [made] = incidents_of(sn_emulator, 824)

        # restarted in its place (the same port: the same replica, which takes its own claims back at once)
        with snowbot_run(tmp_path, db_path, sn_url, q_url, port=first.port) as second:
            second.wait_for_line(f"reconciled: {made['number']}")  # at start-up, before anyone retries
            with httpx.Client(base_url=second.url, headers=HEADERS, timeout=60) as client:
                listed = client.get(LINKS.format(824)).json()
                retry = client.post(CREATE.format(824), json={"title": "Null values in orders"})
                again = client.get(LINKS.format(824)).json()

    assert [link["ticket_number"] for link in listed] == [made["number"]]
    assert retry.status_code == 201, retry.text
    assert retry.json()["ticket"]["ticket_number"] == made["number"]
    assert "no second incident" in retry.json()["message"]
    assert [link["ticket_number"] for link in again] == [made["number"]]
    assert len(incidents_of(sn_emulator, 824)) == 1
    assert [r.method for r in sn_emulator.requests].count("POST") == 1


def test_a_held_write_lock_answers_503_before_any_post_and_healthz_stays_quick(
    tmp_path: Path, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    db_path = tmp_path / "snowbot.db"
    with serve_in_thread(sn_emulator.app) as sn_url, serve_in_thread(q_emulator.app) as q_url:
        sn_emulator.base_url = sn_url
        with snowbot_run(tmp_path, db_path, sn_url, q_url) as bot, ThreadPoolExecutor(1) as pool:
            other = sqlite3.connect(db_path, isolation_level=None)
            with httpx.Client(base_url=bot.url, headers=HEADERS, timeout=60) as client:
                other.execute("BEGIN IMMEDIATE")  # another writer holds the database (for >5 s)
                sn_emulator.reset_log()
                started = time.perf_counter()
                pending = pool.submit(client.post, CREATE.format(824), json={"title": "x"})
                latencies, answered_while_waiting = [], 0
                while not pending.done():  # /healthz while the create waits for the lock
                    sent = time.perf_counter()
                    assert client.get("/healthz").status_code == 200
                    latencies.append(time.perf_counter() - sent)
                    answered_while_waiting += not pending.done()
                busy = pending.result()
                waited = time.perf_counter() - started
                other.execute("ROLLBACK")
                posts_while_locked = [r.method for r in sn_emulator.requests].count("POST")
                retry = client.post(CREATE.format(824), json={"title": "x"})
            other.close()

    print(
        f"\n/healthz under a held BEGIN IMMEDIATE: {answered_while_waiting} probes answered while the create waited "
        f"{waited:.2f}s; max {max(latencies) * 1000:.1f} ms, median "
        f"{sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms"
    )
    assert busy.status_code == 503, busy.text
    assert "database is busy" in busy.json()["detail"] and "nothing was created" in busy.json()["detail"]
    assert posts_while_locked == 0
    # The create waited the whole busy timeout (5 s); a blocked event loop would have answered no probe
    # in that time, a free one answers hundreds.
    assert answered_while_waiting >= 20
    assert retry.status_code == 201, retry.text


def test_the_database_file_deleted_while_running_is_refused_by_healthz_and_creates(
    tmp_path: Path, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    db_path = tmp_path / "snowbot.db"
    with serve_in_thread(sn_emulator.app) as sn_url, serve_in_thread(q_emulator.app) as q_url:
        sn_emulator.base_url = sn_url
        with snowbot_run(tmp_path, db_path, sn_url, q_url) as bot:
            with httpx.Client(base_url=bot.url, headers=HEADERS, timeout=60) as client:
                assert client.post(CREATE.format(824), json={"title": "x"}).status_code == 201
                db_path.unlink()
                sn_emulator.reset_log()
                health = client.get("/healthz")
                refused = client.post(CREATE.format(825), json={"title": "y"})

    assert health.status_code == 503
    for answer in (health, refused):
        detail = answer.json()["detail"]
        assert "SNOWBOT_DB" in detail and "deleted" in detail and "restart snowbot" in detail, detail
    assert refused.status_code == 503
    assert [r.method for r in sn_emulator.requests if r.method != "GET"] == []
