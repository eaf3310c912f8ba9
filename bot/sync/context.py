"""What the steps of a sync pass share: the tuning, what the engine needs from its peers, one pass's context
and working memory, and bounded concurrency.

The steps (`bot.sync.detect`, `push`, `refresh`, `watch`) are functions of a `Context` (the engine's
collaborators as they are when the pass starts, and the memories the engine keeps across passes) and a
`Run` (what this pass has read and decided so far). This module never reads Qualytics, ServiceNow or the
database itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.sync.close_codes import CloseCodes
from bot.sync.native_links import NativeLinks
from bot.sync.report import PassReport
from qualytics_api import Anomaly
from servicenow import Incident, ServiceNowClient
from storage.db import Database
from storage.links import Link
from storage.store import Store
from storage.sync import SyncState

if TYPE_CHECKING:
    from bot.settings import Settings

T = TypeVar("T")


class AnomalyReader(Protocol):
    """What the engine needs from Qualytics (`qualytics_api.QualyticsClient` is one)."""

    async def get_anomaly(self, anomaly_id: int) -> Anomaly: ...

    async def whoami(self) -> object:
        """Raises a `QualyticsError` when the API cannot be read with the token at all."""
        ...


class ServiceNowClients(Protocol):
    """The ServiceNow client of an integration; raises a `ServiceNowError` when it cannot be built."""

    def __call__(self, integration_id: int) -> Awaitable[ServiceNowClient]: ...


class Unauthorized(Protocol):
    """Told that ServiceNow refused an integration's credentials (401): read them again from where they
    live (a `_FILE` or Vault, after a rotation); the row's retry then uses the new ones."""

    def __call__(self, integration_id: int) -> Awaitable[object]: ...


class Notifier(Protocol):
    """Told once when a linked incident becomes Resolved, Closed or Canceled (links with a Slack thread)."""

    async def incident_closed(self, link: Link, incident: Incident) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SyncConfig:
    """Tuning; `from_settings` takes SNOWBOT_SYNC_CONCURRENCY, SNOWBOT_CLOSE_CODE, the read schedule's
    SNOWBOT_SYNC_MIN_READ_INTERVAL, SNOWBOT_SYNC_MAX_READ_INTERVAL and SNOWBOT_SYNC_HOT_WINDOW, and the
    replicas' timings (SNOWBOT_RETRY_BASE, SNOWBOT_RETRY_MAX, SNOWBOT_WRITE_SETTLE, SNOWBOT_OUTBOX_LEASE)."""

    concurrency: int = 16
    close_code: str | None = None
    base_delay: float = 30.0
    """Seconds before the first retry; doubles per attempt (with jitter) up to `max_delay`, and a row is
    retried at that pace for as long as the failure lasts (only a definite refusal fails it)."""
    max_delay: float = 1800.0
    max_retry_after: float = 86400.0
    settle_delay: float = 120.0
    """Least wait, counted from the failure, after an outcome that may have applied the write (a timeout,
    a dropped connection, a 5xx, an unreadable answer; `bot.sync.push.MAYBE_APPLIED_ERRORS`): the write may
    still be running on the instance, and the journal is read only once it has surely finished."""
    journal_lookback: int = 100
    """Newest work notes read when looking for a marker (an incident would need more new notes than this
    between an attempt and its retry to hide one)."""
    outbox_batch: int = 500
    min_read_interval: float = 0.0
    """Seconds before an anomaly that just changed is read again (`bot.sync.schedule`); with
    `max_read_interval`, 0 reads every watched anomaly on every pass."""
    max_read_interval: float = 0.0
    """Longest wait between two reads of a quiet anomaly (the wait doubles per quiet read up to it)."""
    hot_window: float = 0.0
    """Seconds an anomaly stays at `min_read_interval` after its last change."""
    lease: float = 300.0
    """Seconds an outbox row this replica claimed is its own (`storage.sync.mark_sending`); renewed just
    before the write, so a write and its settling end inside the lease (SNOWBOT_OUTBOX_LEASE)."""
    replica: str | None = None
    """This replica's name in the rows it claims (`claimed_by`); None: claims name no one."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SyncConfig:
        """SNOWBOT_SYNC_CONCURRENCY, SNOWBOT_CLOSE_CODE, SNOWBOT_RETRY_BASE/MAX, SNOWBOT_WRITE_SETTLE and
        SNOWBOT_OUTBOX_LEASE; `overrides` win (the replica's name, tests)."""
        values: dict[str, Any] = {
            "concurrency": settings.sync_concurrency,
            "close_code": (settings.close_code or "").strip() or None,
            "min_read_interval": settings.sync_min_read_interval,
            "max_read_interval": settings.sync_max_read_interval,
            "hot_window": settings.sync_hot_window,
            "base_delay": settings.retry_base,
            "max_delay": settings.retry_max,
            "settle_delay": settings.write_settle,
            "lease": settings.outbox_lease,
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class Context:
    """What the steps of one pass work with: the engine's collaborators as they are when the pass starts,
    and the memories it keeps from pass to pass (Qualytics' own ticket links, the resolution codes)."""

    db: Database
    store: Store
    qualytics: AnomalyReader
    servicenow: ServiceNowClients
    config: SyncConfig
    clock: Callable[[], datetime]
    jitter: Callable[[], float]
    notifier: Notifier | None
    unauthorized: Unauthorized | None
    native_links: NativeLinks
    close_codes: CloseCodes

    async def each(self, items: Iterable[T], work: Callable[[T], Awaitable[None]]) -> None:
        """`work(item)` for every item, at most `concurrency` at a time. Expected remote failures are
        handled inside `work`; anything else ends the pass (a TaskGroup cancels the other workers)."""
        queue = iter(items)

        async def worker() -> None:
            for item in queue:  # one shared iterator: each item is taken by exactly one worker
                await work(item)

        async with asyncio.TaskGroup() as group:
            for _ in range(self.config.concurrency):
                group.create_task(worker())


@dataclass
class Run:
    """The working memory of one pass."""

    report: PassReport
    polling: bool
    """True for a scheduled pass (only watched links were loaded), False for named anomalies."""
    groups: dict[int, list[Link]]
    refresh_groups: dict[int, list[Link]] | None = None
    """The links whose incidents are read back, by anomaly (a scheduled pass: every watched link, due or
    not; None: `groups`)."""
    anomalies: dict[int, Anomaly] = field(default_factory=dict)
    states: dict[int, SyncState] = field(default_factory=dict)
    detected: set[int] = field(default_factory=set)
    """Anomalies whose Qualytics side changed this pass (events recorded, or a link baselined)."""
    changed: set[int] = field(default_factory=set)
    """Anomalies whose state or incidents' states changed this pass (the notifier's cards show both)."""
    back: Any = None
    """What the ServiceNow-side step read this pass (`bot.sync.back.BackPass`)."""
    api_answers: asyncio.Task[bool] | None = None
    """Whether Qualytics answers for the token (one `whoami` per pass, asked at the first 404)."""
    _by_id: dict[int, Link] | None = None

    def link(self, link_id: int) -> Link | None:
        if self._by_id is None:  # built after detect, which is the only step that adds links
            self._by_id = {link.id: link for group in self.groups.values() for link in group}
        return self._by_id.get(link_id)
