"""A property of the real engine: whatever mix of changes, lost answers, 5xx, gateway errors, rate limits
and crashes, every change reaches each linked incident once, in order, and nothing is left failed.

Hypothesis writes the script; each step changes the anomaly in the Qualytics emulator or runs a sync
(`sync_anomalies`, so an archived anomaly is read too) with one fault armed on ServiceNow's writes.
A crash kills the pass right after ServiceNow applied a write, and the next sync is a new engine. The
clock moves 10 minutes a step (past the sending lease and the settle delay); at the end the faults are
cleared and syncs run until the outbox is empty.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

import storage
from bot.sync.engine import SyncConfig, SyncEngine
from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import QualyticsClient, QualyticsRetry
from servicenow import RetryPolicy, ServiceNowClient, parse_credentials
from storage import SecretBox, integrations, links, sync

from .conftest import DATASTORE, INSTANCE_URL, QUALYTICS_URL, TOKEN, Clock, no_sleep, notes_of

STATUSES = ("Active", "Acknowledged", "Resolved", "Duplicate")
OUTCOMES = ("ok", "lost_answer", "503", "502", "429", "crash")

step = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("comment"), st.just("")),
    st.tuples(st.just("sync"), st.sampled_from(OUTCOMES)),
)


class Killed(BaseException):
    """The process dies right after ServiceNow applied a write."""


class KillAfterWrite(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.armed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.armed and request.method == "PATCH":
            self.armed = False
            raise Killed
        return response


def _faults(outcome: str) -> Faults:
    patch = frozenset({"PATCH"})
    if outcome == "lost_answer":
        return Faults(drop_rate=1.0, methods=patch)
    if outcome in ("503", "502"):
        return Faults(error_rate=1.0, error_statuses=(int(outcome),), methods=patch)
    if outcome == "429":
        return Faults(rate_limit_rate=1.0, retry_after=60, methods=patch)
    return Faults()


async def _scenario(path: Path, steps: list[tuple[str, str]]) -> None:
    clock = Clock()
    sn = ServiceNowEmulator(base_url=INSTANCE_URL, seed=False, clock=clock)
    qe = QualyticsEmulator(base_url=QUALYTICS_URL, token=TOKEN, seed=False, clock=clock)
    qe.add_datastore(DATASTORE, "Sales Warehouse", "snowflake")
    anomaly = qe.add_anomaly({"status": "Active", "datastore": DATASTORE, "type": "record"})
    db = storage.connect(path)
    storage.migrate(db)
    box = SecretBox(SecretBox.generate_key())
    integration = integrations.save(
        db, box, instance_url=INSTANCE_URL, username="admin", password=SecretStr("admin")
    )
    link_ids, sys_ids = [], []
    for n in range(2):  # two incidents linked to one anomaly
        row = sn.add_incident(short_description=f"Anomaly {anomaly['id']} ({n})")
        link = links.add(
            db,
            anomaly_id=anomaly["id"],
            integration_id=integration.id,
            ticket_sys_id=row["sys_id"],
            ticket_number=row["number"],
            status="New",
            url="u",
            created_by="U1",
            now=clock(),
        )
        sync.init_state(db, link.id, "Active", False, [], now=clock())
        link_ids.append(link.id)
        sys_ids.append(row["sys_id"])
    kill = KillAfterWrite(sn.transport())
    sn_client = ServiceNowClient.connect(
        INSTANCE_URL,
        parse_credentials("admin:admin"),
        transport=kill,
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
    )
    q_client = QualyticsClient.connect(
        QUALYTICS_URL, SecretStr(TOKEN), transport=qe.transport(), retry=QualyticsRetry(sleep=no_sleep)
    )

    async def clients(integration_id: int) -> ServiceNowClient:
        return sn_client

    async def run_sync(outcome: str) -> None:
        engine = SyncEngine(db, q_client, clients, config=SyncConfig(concurrency=2), clock=clock)
        sn.faults = _faults(outcome)
        kill.armed = outcome == "crash"
        try:
            await engine.sync_anomalies([anomaly["id"]])
        except BaseExceptionGroup as group:
            assert group.subgroup(Exception) is None, group
            assert group.subgroup(Killed) is not None
        finally:
            sn.faults, kill.armed = Faults(), False

    comments = 0
    try:
        for kind, arg in steps:
            clock.advance(minutes=10)
            if kind == "status" and arg != anomaly["status"] and (arg == "Active" or not anomaly["archived"]):
                qe.set_status(anomaly["id"], arg)
            elif kind == "comment" and not anomaly["archived"]:
                comments += 1
                qe.add_comment(anomaly["id"], f"comment {comments}")
            elif kind == "sync":
                await run_sync(arg)
        for _ in range(20):
            clock.advance(hours=1)
            await run_sync("ok")
            if sync.counts(db)["pending"] == 0:
                break

        assert sync.counts(db)["pending"] == 0 and sync.counts(db)["failed"] == 0
        for link_id, sys_id in zip(link_ids, sys_ids, strict=True):
            journal = notes_of(sn, sys_id)
            rows = sync.items(db, link_id)
            assert [note.rsplit("ref ", 1)[1].rstrip(")") for note in journal] == [
                row.marker for row in rows
            ], "a note missing, written twice or out of order"
            lines = [note.split("\n")[0] for note in journal]
            assert [line.split(": ", 1)[1] for line in lines if "Comment from" in line] == [
                f"comment {n}" for n in range(1, comments + 1)
            ]
            statuses = ["Active"] + [line.rsplit(": ", 1)[1] for line in lines if "Anomaly Status" in line]
            assert statuses[-1] == anomaly["status"]
            assert all(a != b for a, b in zip(statuses, statuses[1:], strict=False))
    finally:
        await sn_client.aclose()
        await q_client.aclose()
        db.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=30))
def test_every_change_reaches_every_linked_incident_once_in_order(steps: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_scenario(Path(directory) / "sync.db", [*steps, ("sync", "ok")]))
