"""Two replicas' engines on one database (issue 15): an outbox row is claimed by one replica at a time,
and a replica that stalled past its lease writes nothing once another took the row over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlite_utils import Database

import storage
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from servicenow import RetryPolicy, ServiceNowClient, parse_credentials
from storage import sync

from .conftest import INSTANCE_URL, Clock, no_sleep, notes_of

CHOICES_PATH = "/api/now/table/sys_choice"


class HeldRead(httpx.AsyncBaseTransport):
    """The first read of the resolution codes (sys_choice: read after the incident, before the resolve
    PATCH) waits until `release` is set (`arrived`: it is held): a replica stalled in the middle of an
    attempt, after its look at the journal and before its write (a slow instance, a paused VM)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.arrived, self.release = asyncio.Event(), asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == CHOICES_PATH and not self.arrived.is_set():
            self.arrived.set()
            await self.release.wait()
        return await self.inner.handle_async_request(request)


async def test_a_replica_stalled_past_its_lease_writes_nothing_once_another_took_the_row_over(
    db_path: Path,
    db: Database,
    qe: QualyticsEmulator,
    sn: ServiceNowEmulator,
    make_engine,
    link_anomaly,
    clock: Clock,
) -> None:
    linked = link_anomaly()
    qe.set_status(linked.anomaly_id, "Resolved")  # archived: the row resolves the incident with its note
    held = HeldRead(sn.transport())
    stalled = ServiceNowClient.connect(
        INSTANCE_URL, parse_credentials("admin:admin"), transport=held, retry=RetryPolicy(sleep=no_sleep)
    )
    other_db = storage.connect(db_path)  # the other replica: its own connection
    try:
        replica_a = asyncio.create_task(
            make_engine(servicenow=stalled, replica="a:3000", lease=60.0).run_pass()
        )
        await held.arrived.wait()
        [row] = sync.items(db, linked.link.id)
        assert (row.state, row.claimed_by) == ("sending", "a:3000")
        during = await make_engine(database=other_db, replica="b:3000", lease=60.0).run_pass()
        clock.advance(
            seconds=60
        )  # a's lease runs out while it is stalled: b looks in the journal, then sends
        taken = await make_engine(database=other_db, replica="b:3000", lease=60.0).run_pass()
        held.release.set()
        resumed = await replica_a
    finally:
        other_db.close()
        await stalled.aclose()

    assert (during.notes_sent, taken.notes_sent, resumed.notes_sent) == (0, 1, 0)
    assert len(notes_of(sn, linked.sys_id)) == 1
    assert sum(r.method == "PATCH" for r in sn.requests) == 1
    [row] = sync.items(db, linked.link.id)
    assert (row.state, row.claimed_by) == ("done", "b:3000")
