"""Fixtures for the sync: both emulators in-process, a file database, an injected clock, an engine factory.

The engine talks to the emulators through their `.transport()`; retries inside the clients never sleep,
and the engine's own retry times are made due by advancing `clock`, never by waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlite_utils import Database

import storage
from bot.sync.engine import Notifier, SyncConfig, SyncEngine
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import QualyticsClient, QualyticsRetry
from servicenow import Incident, RetryPolicy, ServiceNowClient, parse_credentials
from storage import SecretBox, integrations, links, sync
from storage.integrations import Integration
from storage.links import Link
from tests.backends import database_target

INSTANCE_URL = "https://dev-snowbot.service-now.com"
QUALYTICS_URL = "https://demo.qualytics.io"
TOKEN = "demo-token"
T0 = datetime(2026, 1, 23, 19, 51, 23, tzinfo=UTC)
DATASTORE = 23
JANE = {"id": 7, "name": "Jane Doe", "email": "jane.doe@acme.example"}


async def no_sleep(_seconds: float) -> None:
    return None


class Clock:
    """A settable clock: `clock()` is now, `clock.advance(minutes=5)` moves it on."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Linked:
    anomaly_id: int
    sys_id: str
    number: str
    link: Link


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls: list[tuple[Link, Incident]] = []

    async def incident_closed(self, link: Link, incident: Incident) -> None:
        self.calls.append((link, incident))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(backend: str, tmp_path: Path) -> Iterator[Path | str]:
    """The SQLite file, or the URL of a fresh PostgreSQL schema (`backend`): what `storage.connect` opens."""
    with database_target(backend, tmp_path, "sync.db") as target:
        yield target


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = storage.connect(db_path)
    storage.migrate(database)
    yield database
    database.close()


@pytest.fixture
def sn(clock: Clock) -> ServiceNowEmulator:
    return ServiceNowEmulator(base_url=INSTANCE_URL, seed=False, clock=clock)


@pytest.fixture
def qe(clock: Clock) -> QualyticsEmulator:
    emulator = QualyticsEmulator(base_url=QUALYTICS_URL, token=TOKEN, seed=False, clock=clock)
    emulator.add_datastore(DATASTORE, "Sales Warehouse", "snowflake")
    return emulator


@pytest.fixture
async def sn_client(sn: ServiceNowEmulator) -> AsyncIterator[ServiceNowClient]:
    client = ServiceNowClient.connect(
        INSTANCE_URL,
        parse_credentials("admin:admin"),
        transport=sn.transport(),
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
    )
    async with client:
        yield client


@pytest.fixture
async def q_client(qe: QualyticsEmulator) -> AsyncIterator[QualyticsClient]:
    client = QualyticsClient.connect(
        QUALYTICS_URL, SecretStr(TOKEN), transport=qe.transport(), retry=QualyticsRetry(sleep=no_sleep)
    )
    async with client:
        yield client


@pytest.fixture
def integration(db: Database) -> Integration:
    return integrations.save(
        db,
        SecretBox("test-secret-key"),
        instance_url=INSTANCE_URL,
        username="admin",
        password=SecretStr("admin"),
    )


@pytest.fixture
def make_engine(
    db: Database, q_client: QualyticsClient, sn_client: ServiceNowClient, clock: Clock
) -> Callable[..., SyncEngine]:
    """`make_engine(db=..., notifier=..., servicenow=..., **SyncConfig fields)`: jitter 0, the test clock."""

    def make(
        *,
        database: Database | None = None,
        notifier: Notifier | None = None,
        servicenow: ServiceNowClient | None = None,
        **config: Any,
    ) -> SyncEngine:
        client = servicenow or sn_client

        async def clients(integration_id: int) -> ServiceNowClient:
            return client

        return SyncEngine(
            database or db,
            q_client,
            clients,
            config=SyncConfig(**{"concurrency": 4, **config}),
            clock=clock,
            notifier=notifier,
            jitter=lambda: 0.0,
        )

    return make


@pytest.fixture
def link_anomaly(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, integration: Integration, clock: Clock
) -> Callable[..., Linked]:
    """`link_anomaly(status="Active", incident={...}, thread=True, baseline=True)`: an anomaly in the
    Qualytics emulator, an incident in the ServiceNow emulator, and the link with its baseline, stored the
    way the use cases store it."""

    def make(
        status: str = "Active",
        *,
        anomaly_id: int | None = None,
        incident: dict[str, Any] | None = None,
        thread: bool = False,
        baseline: bool = True,
    ) -> Linked:
        data: dict[str, Any] = {"status": status, "datastore": DATASTORE, "type": "record"}
        if anomaly_id is not None:
            data["id"] = anomaly_id
        existing = qe.anomalies.get(anomaly_id) if anomaly_id is not None else None
        anomaly = existing or qe.add_anomaly(data)
        row = sn.add_incident(short_description=f"Anomaly {anomaly['id']}", **(incident or {}))
        with storage.atomic(db):
            link = links.add(
                db,
                anomaly_id=anomaly["id"],
                integration_id=integration.id,
                ticket_sys_id=row["sys_id"],
                ticket_number=row["number"],
                status="New",
                url=f"{INSTANCE_URL}/incident/{row['sys_id']}",
                created_by="U123",
                channel_id="C1" if thread else None,
                thread_ts="1700000000.000100" if thread else None,
                now=clock(),
            )
            if baseline:
                sync.init_state(
                    db,
                    link.id,
                    anomaly["status"],
                    anomaly["archived"],
                    [c["id"] for c in anomaly["comments"]],
                    now=clock(),
                )
        return Linked(anomaly["id"], row["sys_id"], row["number"], link)

    return make


def notes_of(sn: ServiceNowEmulator, sys_id: str) -> list[str]:
    """The incident's work notes, oldest first, exactly as stored."""
    return [row["value"] for row in sn.journal(sys_id)]


def expected_note(db: Database, link_id: int, index: int, line: str) -> str:
    """`line` followed by the trailer of the link's `index`-th outbox row (its anomaly, a comment's author,
    its marker)."""
    item = sync.items(db, link_id)[index]
    author = item.payload.get("author") if item.kind == "comment" else None
    by = f", comment by {author}" if author else ""
    return f"{line}\n(Qualytics anomaly {item.payload['anomaly_id']}{by}, ref {item.marker})"
