"""Chaos: 200 linked anomalies, a scripted series of changes, ServiceNow failing 30% of requests, and the
sync killed mid-pass again and again. At the end every incident's journal holds exactly the notes the
script implies, each once, in order.

The script changes anomalies through the Qualytics API (one status change at most per anomaly per step,
comments before it), then syncs: a first pass detects everything (detection touches no ServiceNow, so a
kill, armed on ServiceNow requests, always lands in push or refresh), then zero to two restarts after
kills. Every restart is a new engine over a new connection to the same database file, with a new client,
and the clock moved past the sending lease. Once the script is done, the faults are cleared and passes
run until the outbox is empty. Retry delays come due by advancing the injected clock: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlite_utils import Database

import storage
from bot.sync.engine import SyncConfig, SyncEngine
from emulators.faults import Faults
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import QualyticsClient
from servicenow import RetryPolicy, ServiceNowClient, parse_credentials
from storage import links, sync

from .conftest import INSTANCE_URL, Clock, Linked, no_sleep, notes_of

ANOMALIES = 200
STEPS = 6
SEED = 20260123
ARCHIVE = ("Resolved", "Duplicate", "Invalid", "Discarded")


class Killed(BaseException):
    """The process dies (right after ServiceNow applied a request)."""


class KillSwitch(httpx.AsyncBaseTransport):
    """Passes requests to ServiceNow; after the `after`-th answer arrives, the process "dies"."""

    def __init__(self, inner: httpx.AsyncBaseTransport, after: int | None) -> None:
        self.inner = inner
        self.left = after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # on the wire: other workers run meanwhile, so a kill finds some in flight
        response = await self.inner.handle_async_request(request)
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                raise Killed
        return response


@dataclass
class Expected:
    """What the test believes about one anomaly, and the note lines its incident must end up with."""

    linked: Linked
    status: str = "Active"
    ever_archived: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def archived(self) -> bool:
        return self.status in ARCHIVE


def _stamp(clock: Clock) -> str:
    return f"[{clock():%Y-%m-%d %H:%M:%S} UTC]"


async def _script_step(
    rng: random.Random,
    anomalies: list[Expected],
    q_client: QualyticsClient,
    qe: QualyticsEmulator,
    clock: Clock,
) -> list[int]:
    """Change some anomalies through the API; returns the reopened ones (a webhook would name them)."""
    reopened = []
    for item in anomalies:
        if rng.random() < 0.6:
            continue
        anomaly_id = item.linked.anomaly_id
        if not item.archived:
            for n in range(rng.choice((0, 0, 1, 2))):
                text = f"step {clock():%H}:{n} on {anomaly_id}"
                await q_client.add_comment(anomaly_id, text)
                item.lines.append(f"{_stamp(clock)} Comment from Qualytics: {text}")
        if item.archived:  # a restore: Qualytics brings it back as Acknowledged
            new_status = "Acknowledged" if rng.random() < 0.5 else None
        else:
            options = [s for s in ("Active", "Acknowledged", *ARCHIVE) if s != item.status]
            new_status = rng.choice([*options, None, None])
        if new_status is None:
            continue
        if new_status in ARCHIVE:
            await q_client.archive(anomaly_id, new_status)
            item.ever_archived = True
        elif item.archived:
            reopened.append(anomaly_id)
            await q_client.restore(anomaly_id)
        elif new_status == "Acknowledged":
            await q_client.acknowledge(anomaly_id)
        else:
            qe.set_status(anomaly_id, "Active")  # snowbot never sets Active; a person in Qualytics does
        item.status = new_status
        item.lines.append(f"{_stamp(clock)} Qualytics Anomaly Status: {new_status}")
    return reopened


async def test_chaos_every_note_exactly_once_in_order(
    db_path: Path,
    db: Database,
    sn: ServiceNowEmulator,
    q_client: QualyticsClient,
    qe: QualyticsEmulator,
    link_anomaly: Callable[..., Linked],
    clock: Clock,
) -> None:
    rng = random.Random(SEED)
    anomalies = [Expected(link_anomaly()) for _ in range(ANOMALIES)]
    sn.faults = Faults(
        error_rate=0.1, error_statuses=(500, 502, 503), rate_limit_rate=0.1, drop_rate=0.1, seed=SEED
    )
    kills = 0

    async def run(kill_after: int | None = None, anomaly_ids: list[int] | None = None) -> bool:
        """One engine "process" over its own connection and client; True when it was killed."""
        database = storage.connect(db_path)
        client = ServiceNowClient.connect(
            INSTANCE_URL,
            parse_credentials("admin:admin"),
            transport=KillSwitch(sn.transport(), kill_after),
            retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
        )

        async def clients(integration_id: int) -> ServiceNowClient:
            return client

        engine = SyncEngine(
            database,
            q_client,
            clients,
            config=SyncConfig(concurrency=8),
            clock=clock,
            jitter=rng.random,
        )
        try:
            if anomaly_ids is not None:
                await engine.sync_anomalies(anomaly_ids)
            else:
                await engine.run_pass()
        except BaseExceptionGroup as group:
            assert group.subgroup(Killed) is not None and group.subgroup(Exception) is None, group
            return True
        finally:
            await client.aclose()
            database.close()
        return False

    for _ in range(STEPS):
        clock.advance(hours=1)
        reopened = await _script_step(rng, anomalies, q_client, qe, clock)
        if reopened:
            await run(anomaly_ids=reopened)  # what the Qualytics webhook does for them
        for _ in range(rng.choice((1, 2, 3))):
            killed = await run(kill_after=rng.randint(1, 60))
            kills += killed
            clock.advance(minutes=6)  # past the lease of the attempt that died
        await run()

    sn.faults.clear()
    for _ in range(10):
        if sync.counts(db)["pending"] == 0:
            break
        clock.advance(hours=1)
        await run()

    assert kills >= STEPS  # the restarts really happened
    assert sync.counts(db)["pending"] == 0 and sync.counts(db)["failed"] == 0
    assert sum(len(item.lines) for item in anomalies) > 300
    for item in anomalies:
        journal = notes_of(sn, item.linked.sys_id)
        assert [note.split("\n")[0] for note in journal] == item.lines, item.linked.anomaly_id
        rows = sync.items(db, item.linked.link.id)
        by = {"comment": ", comment by Snowbot Service", "status": "", "resolve": ""}
        trailers = [
            f"(Qualytics anomaly {item.linked.anomaly_id}{by[row.kind]}, ref {row.marker})" for row in rows
        ]
        assert [note.split("\n")[1] for note in journal] == trailers
        incident = sn.incidents[item.linked.sys_id]
        assert incident["state"] == ("6" if item.ever_archived else "1")
        link = links.get(db, item.linked.link.id)
        assert link is not None and link.status == ("Resolved" if item.ever_archived else "New")
