"""Sync pass cost: 10,000 linked anomalies of which 1% changed, against both emulators on loopback.

Each emulator runs in its own process (`serve_in_process`), seeded in the child by its factory: 10,000
anomalies (the changed ones already changed: acknowledged, commented or archived) and 10,000 incidents.
The database is set up with the storage functions directly (links and their baselines, as the use
cases store them), then copied fresh for every round so each round sees the same 100 events.

Figures:
- requests: every HTTP request the pass makes, counted by a transport wrapper on both clients, against
  the floor of one Qualytics read per watched anomaly plus one ServiceNow write per event (aim within
  5%; the rest is the incident read-back, 100 per request, and a GET before each resolve).
- wall time: the pass beside a bare httpx loop making the same anomaly reads, note writes and incident
  read-backs at the same concurrency, alternating in the same run (aim <= 1.5x).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

import storage
from benchmarks.common import Timer, add_bench_link, bench_integration, save, serve_in_process, sys_id
from bot.sync.engine import SyncConfig, SyncEngine
from qualytics_api import QualyticsClient
from servicenow import ServiceNowClient, parse_credentials

ANOMALIES = 10_000
CHANGED_EVERY = 100  # 1%
CONCURRENCY = 16
ROUNDS = 3
TOKEN = "demo-token"
T0 = datetime(2026, 1, 23, 12, 0, tzinfo=UTC)
PARAMS = {"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}


def change(i: int) -> str | None:
    """What happened to anomaly `i` since it was linked: None, "Acknowledged", "comment" or "Resolved"."""
    if i % CHANGED_EVERY:
        return None
    return ("Resolved", "comment", "Acknowledged", "Acknowledged")[(i // CHANGED_EVERY) % 4]


def make_qualytics(base_url: str) -> Any:
    from emulators.qualytics import QualyticsEmulator

    emulator = QualyticsEmulator(base_url=base_url, token=TOKEN, seed=False)
    emulator.add_datastore(1, "Bench Warehouse")
    for i in range(1, ANOMALIES + 1):
        what = change(i)
        status = what if what in ("Acknowledged", "Resolved") else "Active"
        emulator.add_anomaly({"id": i, "datastore": 1, "status": status, "created": "2026-01-20T00:00:00Z"})
        if what == "comment":
            emulator.add_comment(i, f"comment on {i}", created="2026-01-23T11:00:00Z")
    return emulator


def make_servicenow(base_url: str) -> Any:
    from emulators.servicenow import ServiceNowEmulator

    emulator = ServiceNowEmulator(base_url=base_url, seed=False)
    for i in range(1, ANOMALIES + 1):
        emulator.add_incident(sys_id=sys_id(i), number=f"INC{i:07d}", short_description=f"anomaly {i}")
    return emulator


class Counting(httpx.AsyncBaseTransport):
    """Counts requests by (method, first path segments) on their way out."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        )
        self.counts: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counts[f"{request.method} {_kind(request.url.path)}"] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _kind(path: str) -> str:
    """`/api/now/table/incident/<sys_id>` -> `incident/<id>`, `/api/anomalies/7` -> `api/anomalies`."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "now", "table"]:
        return parts[3] + ("/<id>" if len(parts) > 4 else "")
    return "/".join(parts[:2])


def build_template(path: Path, sn_url: str) -> None:
    """10,000 links with their baselines ("Active", no comments), stored directly."""
    db = storage.connect(path)
    storage.migrate(db)
    integration_id = bench_integration(db, sn_url)
    with storage.atomic(db):
        for i in range(1, ANOMALIES + 1):
            add_bench_link(db, integration_id, i, sn_url, status="Active", now=T0)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def fresh_copy(template: Path, target: Path) -> None:
    source, copy = sqlite3.connect(template), sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()


async def engine_round(db_path: Path, q_url: str, sn_url: str) -> dict[str, Any]:
    q_transport, sn_transport = Counting(), Counting()
    qualytics = QualyticsClient.connect(q_url, SecretStr(TOKEN), transport=q_transport)
    servicenow = ServiceNowClient.connect(
        sn_url, parse_credentials("admin:admin"), transport=sn_transport, allow_insecure=True
    )
    db = storage.connect(db_path)

    async def clients(integration_id: int) -> ServiceNowClient:
        return servicenow

    engine = SyncEngine(db, qualytics, clients, config=SyncConfig(concurrency=CONCURRENCY))
    try:
        with Timer() as timer:
            report = await engine.run_pass()
    finally:
        await qualytics.aclose()
        await servicenow.aclose()
        db.close()
    return {
        "seconds": timer.elapsed,
        "report": report,
        "qualytics": q_transport.total,
        "servicenow": sn_transport.counts,
    }


async def bare_round(q_url: str, sn_url: str, anomalies: int = ANOMALIES) -> dict[str, Any]:
    """The same anomaly reads, note writes and incident read-backs with plain httpx, same concurrency."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    q_http = httpx.AsyncClient(
        base_url=q_url, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits, timeout=10.0
    )
    sn_http = httpx.AsyncClient(
        base_url=sn_url, auth=("admin", "admin"), headers={"Accept": "application/json"}, limits=limits
    )
    sem = asyncio.Semaphore(CONCURRENCY)
    requests = 0

    async def call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> None:
        nonlocal requests
        async with sem:
            response = await client.request(method, url, **kwargs)
            response.raise_for_status()
            response.json()
            requests += 1

    async with q_http, sn_http:
        with Timer() as timer:
            await asyncio.gather(
                *(call(q_http, "GET", f"/api/anomalies/{i}") for i in range(1, ANOMALIES + 1))
            )
            writes = []
            for i in range(1, ANOMALIES + 1):
                what = change(i)
                if what is None:
                    continue
                body = {
                    "work_notes": f"[2026-01-23 12:00:00 UTC] bare note for {i}"
                }  # resolves left to the engine
                writes.append(
                    call(sn_http, "PATCH", f"/api/now/table/incident/{sys_id(i)}", params=PARAMS, json=body)
                )
            await asyncio.gather(*writes)
            ids = [sys_id(i) for i in range(1, anomalies + 1)]
            reads = [
                call(
                    sn_http,
                    "GET",
                    "/api/now/table/incident",
                    params={
                        **PARAMS,
                        "sysparm_query": "sys_idIN" + ",".join(ids[s : s + 100]),
                        "sysparm_limit": "100",
                    },
                )
                for s in range(0, len(ids), 100)
            ]
            await asyncio.gather(*reads)
    return {"seconds": timer.elapsed, "requests": requests}


async def _bench(q_url: str, sn_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        with Timer() as setup:
            build_template(template, sn_url)
        engine_runs, bare_runs = [], []
        await bare_round(q_url, sn_url, anomalies=500)  # warm both emulators and the pools up
        for n in range(ROUNDS):
            db_path = Path(tmp) / f"round{n}.db"
            fresh_copy(template, db_path)
            bare_runs.append(await bare_round(q_url, sn_url))
            engine_runs.append(await engine_round(db_path, q_url, sn_url))
    events = sum(1 for i in range(1, ANOMALIES + 1) if change(i))
    first = engine_runs[0]  # the round that also resolves the archived anomalies' incidents
    sn_counts: Counter[str] = first["servicenow"]
    writes = sum(n for key, n in sn_counts.items() if key.startswith("PATCH"))
    total = first["qualytics"] + sum(sn_counts.values())
    floor = ANOMALIES + events
    engine_s = statistics.median(run["seconds"] for run in engine_runs)
    bare_s = statistics.median(run["seconds"] for run in bare_runs)
    report = first["report"]
    return {
        "anomalies": ANOMALIES,
        "events": events,
        "concurrency": CONCURRENCY,
        "setup_links_s": round(setup.elapsed, 2),
        "requests": total,
        "request_floor": floor,
        "requests_vs_floor": round(total / floor, 4),
        "qualytics_reads": first["qualytics"],
        "servicenow_writes": writes,
        "servicenow_other": dict(sorted((k, n) for k, n in sn_counts.items() if not k.startswith("PATCH"))),
        "bare_requests": bare_runs[-1]["requests"],
        "engine_s": round(engine_s, 3),
        "bare_httpx_s": round(bare_s, 3),
        "wall_vs_bare": round(engine_s / bare_s, 3),
        "notes_sent": report.notes_sent,
        "resolved": report.resolved,
        "summary": report.summary(),
    }


def main() -> None:
    with serve_in_process(make_qualytics) as q_url, serve_in_process(make_servicenow) as sn_url:
        figures = asyncio.run(_bench(q_url, sn_url))
    print(
        f"sync pass over {figures['anomalies']:,} linked anomalies, {figures['events']} changed "
        f"(concurrency {figures['concurrency']}, median of {ROUNDS} rounds):"
    )
    print(
        f"  requests   {figures['requests']:,} vs floor {figures['request_floor']:,} "
        f"({figures['qualytics_reads']:,} Qualytics reads + {figures['events']} writes): "
        f"{figures['requests_vs_floor']:.3f}x (aim <= 1.05x); other ServiceNow requests: {figures['servicenow_other']}"
    )
    print(
        f"  wall time  engine {figures['engine_s']:.2f}s vs bare httpx {figures['bare_httpx_s']:.2f}s "
        f"({figures['bare_requests']:,} requests): {figures['wall_vs_bare']:.2f}x (aim <= 1.5x)"
    )
    print(f"  setup of {figures['anomalies']:,} links via storage: {figures['setup_links_s']:.2f}s")
    print(f"  {figures['summary']}")
    save("sync", figures)


if __name__ == "__main__":
    main()
