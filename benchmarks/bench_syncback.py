"""ServiceNow requests per refresh pass: 10,000 linked tickets of which 1% changed since the last pass.

The ServiceNow emulator runs in process (its transport, wrapped by a counter), with 10,000 incidents; the
database holds 10,000 links stored with the storage functions. A first pass reads every ticket (nothing is
known yet) and sets the watermark; then 1% of the tickets get a comment written by a person
(`ServiceNowEmulator.update_as`), the clock moves on, and the measured pass runs the refresh step and the
ServiceNow-side step (`bot.sync.refresh`, `bot.sync.back.record_back`), as a polling pass does.

Figures: ServiceNow requests of the measured pass, by kind, against the floor of one watermark query per
100 linked tickets plus one read per changed ticket (the issue's "100 watermark queries plus the changed
reads"); the journal of the changed tickets is read 100 tickets per query, so the pass may go under it.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

import storage
from benchmarks.common import Timer, add_bench_link, bench_integration, save, sys_id
from bot.sync.back import record_back
from bot.sync.context import Run
from bot.sync.engine import SyncConfig, SyncEngine
from bot.sync.refresh import refresh
from bot.sync.report import PassReport
from servicenow import ServiceNowClient, parse_credentials
from storage import links

TICKETS = 10_000
CHANGED_EVERY = 100  # 1%
BASE_URL = "https://bench.service-now.com"
T0 = datetime(2026, 1, 23, 12, 0, tzinfo=UTC)


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.counts: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        table = request.url.path.strip("/").split("/")[3]
        self.counts[f"{request.method} {table}"] += 1
        return await self.inner.handle_async_request(request)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def _bench(db_path: Path) -> dict[str, Any]:
    from emulators.servicenow import ServiceNowEmulator

    clock = Clock()
    emulator = ServiceNowEmulator(base_url=BASE_URL, seed=False, clock=clock)
    for i in range(1, TICKETS + 1):
        emulator.add_incident(sys_id=sys_id(i), number=f"INC{i:07d}", short_description=f"anomaly {i}")
    db = storage.connect(db_path)
    storage.migrate(db)
    integration_id = bench_integration(db, BASE_URL)
    with storage.atomic(db):
        for i in range(1, TICKETS + 1):
            add_bench_link(db, integration_id, i, BASE_URL, status="Active", now=T0)
    counting = Counting(emulator.transport())
    client = ServiceNowClient.connect(BASE_URL, parse_credentials("admin:admin"), transport=counting)

    async def clients(integration_id: int) -> ServiceNowClient:
        return client

    engine = SyncEngine(db, object(), clients, config=SyncConfig(concurrency=16), clock=clock)  # type: ignore[arg-type]

    async def refresh_pass() -> Run:
        group = {link.anomaly_id: [link] for link in links.watched(db)}
        run = Run(PassReport("pass", clock()), polling=True, groups=group)
        ctx = engine.context()
        await refresh(ctx, run)
        await record_back(ctx, run)
        return run

    try:
        await refresh_pass()  # everything is read once: the baseline and the watermark
        first = sum(counting.counts.values())
        clock.now += timedelta(minutes=1)
        changed = range(CHANGED_EVERY, TICKETS + 1, CHANGED_EVERY)
        for i in changed:
            emulator.update_as("beth.anglin", sys_id(i), comments=f"a person's comment on {i}")
        clock.now += timedelta(minutes=1)
        counting.counts.clear()
        with Timer() as timer:
            run = await refresh_pass()
    finally:
        await client.aclose()
        db.close()
    total = sum(counting.counts.values())
    floor = TICKETS // 100 + len(changed)
    return {
        "tickets": TICKETS,
        "changed": len(changed),
        "first_pass_requests": first,
        "requests": total,
        "request_floor": floor,
        "requests_vs_floor": round(total / floor, 4),
        "by_kind": dict(sorted(counting.counts.items())),
        "entries_recorded": run.report.events_recorded,
        "pass_s": round(timer.elapsed, 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(_bench(Path(tmp) / "syncback.db"))
    print(
        f"refresh pass over {figures['tickets']:,} linked tickets, {figures['changed']} changed since the last "
        f"(a person's comment each):"
    )
    print(
        f"  ServiceNow requests {figures['requests']} vs floor {figures['request_floor']} "
        f"({figures['tickets'] // 100} watermark queries + {figures['changed']} changed reads): "
        f"{figures['requests_vs_floor']:.3f}x; by kind {figures['by_kind']}"
    )
    print(
        f"  {figures['entries_recorded']} entries recorded in {figures['pass_s']:.2f}s; the first pass "
        f"(nothing known yet) made {figures['first_pass_requests']} requests"
    )
    save("syncback", figures)


if __name__ == "__main__":
    main()
