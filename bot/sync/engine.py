"""The sync engine: Qualytics anomaly changes -> ServiceNow work notes, exactly once.

A pass has four steps, each safe to stop at any point (a crash, a deploy, a cancelled task), each in its
own module, where its reasoning is written down:

1. Detect (`bot.sync.detect`). Every linked anomaly still worth watching is read from Qualytics once and
   compared with each link's stored sync state; what is new becomes outbox rows in the same transaction
   that advances the state. A deleted anomaly gives each of its links one note. Qualytics' own ticket
   links are looked for when notes are about to be written (`bot.sync.native_links`).
2. Push (`bot.sync.push`). Every due outbox row becomes one work note (an archive also resolves the
   incident, with the code `bot.sync.close_codes` picks): claimed with a lease, never retried blindly (a
   retry after an uncertain outcome first looks for the row's marker in the journal), backed off while a
   failure lasts, failed at once only on a definite refusal, never written to a Closed or Canceled ticket.
3. Refresh (`bot.sync.refresh`). The linked incidents are read back; each link gets its state's label and
   the notifier hears once of an incident that closed.
4. Watch (`bot.sync.watch`). An archived anomaly whose incidents are all resolved is no longer polled,
   until it is named again (`sync_anomalies`).

Between detect and push, each anomaly read gets its next read time (`bot.sync.schedule`): soon after a
change or a webhook / Slack action, less and less often while it stays quiet; a pass reads only the due.

The steps are functions of a `Context` (the engine's collaborators as they are when the pass starts, and
the memories it keeps across passes) and the pass's working memory (`Run`: `bot.sync.context`); the pass
is told in a `PassReport` (`bot.sync.report`), stored and logged at its end.

Storage calls run on the database's own thread (`storage.store`: `await store.run(...)`), never on the
event loop; a step that must not interleave with others (the detect step's `_observe`, the refresh's
transaction) runs there as one call. One engine runs one pass at a time (an asyncio lock): detection
assumes a single detector: with several replicas only the leader runs the scheduled passes
(`bot.sync.leader`). Two engines at once stay correct for delivery (leases held by one replica, unique event
keys, markers); they may at worst record a spurious status note when their reads of Qualytics interleave.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from bot.sync.back import deliver_back, record_back
from bot.sync.close_codes import CloseCodes
from bot.sync.context import (
    AnomalyReader,
    Context,
    Notifier,
    Run,
    ServiceNowClients,
    SyncConfig,
    Unauthorized,
    utcnow,
)
from bot.sync.detect import detect
from bot.sync.native_links import NativeLinks
from bot.sync.push import push
from bot.sync.refresh import refresh, tell_changed
from bot.sync.report import PassReport, named
from bot.sync.schedule import adaptive, schedule_reads
from bot.sync.watch import update_watch
from storage import links, schedule, store_for, sync
from storage.db import Database
from storage.links import Link

__all__ = ["AnomalyReader", "Notifier", "PassReport", "ServiceNowClients", "SyncConfig", "SyncEngine"]

log = logging.getLogger(__name__)


class SyncEngine:
    """Runs sync passes over one database. See the module docstring for the steps.

    Public surface: `run_pass()`, `sync_anomalies(ids)`; the notifier is given at construction
    (`bot.composition`). `qualytics`, `servicenow` and `notifier` are read when a pass
    starts (`context()`).
    """

    def __init__(
        self,
        db: Database,
        qualytics: AnomalyReader,
        servicenow: ServiceNowClients,
        *,
        config: SyncConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
        jitter: Callable[[], float] = random.random,
        unauthorized: Unauthorized | None = None,
        observer: Callable[[PassReport, float], None] | None = None,
    ) -> None:
        self.db = db
        self.store = store_for(db)
        self.qualytics = qualytics
        self.servicenow = servicenow
        self.config = config or SyncConfig()
        self.clock = clock
        self.notifier = notifier
        self.unauthorized = unauthorized
        self.observer = observer
        """Told each finished pass and its duration in seconds (`bot.metrics.Metrics.pass_finished`)."""
        self._jitter = jitter
        self._lock = asyncio.Lock()
        self._native_links = NativeLinks()
        self._close_codes = CloseCodes()

    async def run_pass(self) -> PassReport:
        """Detect, push, refresh over every watched link whose anomaly is due (`bot.sync.schedule`; all of
        them when the schedule is off); the summary is also stored (`sync.record_run`)."""
        async with self._lock:
            started = self.clock()
            watched: dict[int, list[Link]] = defaultdict(list)
            for link in await self.store.run(links.watched, self.db):
                watched[link.anomaly_id].append(link)
            due = set(watched)
            if adaptive(self.config):
                due = {link.anomaly_id for link in await self.store.run(schedule.due_links, self.db, started)}
            groups = {anomaly_id: group for anomaly_id, group in watched.items() if anomaly_id in due}
            run = Run(PassReport("pass", started), polling=True, groups=groups, refresh_groups=dict(watched))
            await self._sync(run, push_only=None)
            return run.report

    async def sync_anomalies(self, anomaly_ids: Iterable[int]) -> PassReport:
        """Sync the named anomalies now, watched or not (webhook, Slack buttons): read them, record and
        push their events, refresh their incidents. Each one read is hot again (read after the least
        interval, `bot.sync.schedule`). Naming an anomaly that was set aside polls it again when it is open
        or one of its incidents is open."""
        ids = list(dict.fromkeys(int(i) for i in anomaly_ids))
        async with self._lock:
            groups = {}
            for anomaly_id in ids:
                found = await self.store.run(links.for_anomaly, self.db, anomaly_id)
                if found:
                    groups[anomaly_id] = found
            run = Run(PassReport(named(ids), self.clock()), polling=False, groups=groups)
            link_ids = {link.id for group in groups.values() for link in group}
            await self._sync(run, push_only=link_ids)
            return run.report

    async def sync_ticket(self, table: str, sys_id: str) -> PassReport | None:
        """A ServiceNow webhook named this ticket: sync the anomalies linked to it now (its state and
        journal entries are read whatever the watermark); None when no link has the ticket."""
        found = await self.store.run(links.for_ticket, self.db, sys_id)
        ids = [link.anomaly_id for link in found if link.kind.table == table]
        return await self.sync_anomalies(ids) if ids else None

    def context(self) -> Context:
        """What the steps of a pass starting now work with."""
        return Context(
            db=self.db,
            store=self.store,
            qualytics=self.qualytics,
            servicenow=self.servicenow,
            config=self.config,
            clock=self.clock,
            jitter=self._jitter,
            notifier=self.notifier,
            unauthorized=self.unauthorized,
            native_links=self._native_links,
            close_codes=self._close_codes,
        )

    async def _read_unread_changed(self, ctx: Context, run: Run) -> None:
        """A scheduled pass: the anomalies not due whose incidents changed in ServiceNow are read now
        (their cards show both; an archived one may be set aside) and scheduled as read."""
        if run.refresh_groups is None:
            return
        unread = sorted(a for a in run.changed if a not in run.groups and a in run.refresh_groups)
        if not unread:
            return
        run.groups.update((anomaly_id, run.refresh_groups[anomaly_id]) for anomaly_id in unread)
        await detect(ctx, run, only=unread)
        await self.store.run(schedule_reads, ctx, run, unread)

    async def _sync(self, run: Run, push_only: set[int] | None) -> None:
        ctx = self.context()
        started = time.perf_counter()
        await detect(ctx, run)
        await self.store.run(schedule_reads, ctx, run)
        await push(ctx, run, only=push_only)
        await refresh(ctx, run)
        await self._read_unread_changed(ctx, run)
        await record_back(ctx, run)
        await deliver_back(ctx, run)
        await tell_changed(ctx, run)
        await self.store.run(update_watch, ctx, run)
        run.report.finished_at = self.clock()
        if run.polling or run.groups:  # a scheduled pass is always on record, even with nothing linked
            await self.store.run(
                sync.record_run,
                self.db,
                started_at=run.report.started_at,
                finished_at=run.report.finished_at,
                summary=run.report.as_dict(),
            )
        log.info("%s", run.report.summary(), extra=run.report.log_fields())
        if self.observer is not None:
            self.observer(run.report, time.perf_counter() - started)
