"""The sync engine: Qualytics anomaly changes -> ServiceNow work notes, exactly once.

A pass has three steps, each safe to stop at any point (a crash, a deploy, a cancelled task):

1. Detect. Every linked anomaly still worth watching is read from Qualytics once (bounded concurrency,
   shared by all its links) and compared with each link's stored sync state (`storage.sync`). What is
   new (a status change, an archive, comments not seen yet) becomes outbox rows, written by
   `sync.record_events` in the same transaction that advances the state: a crash before the commit
   leaves neither (the next pass detects the change again), a crash after leaves both (the next pass
   sees nothing new). A link without state yet records its baseline and sends nothing (no backfill).
   Comments go before the status change seen in the same read: they carry their own, earlier times,
   and an archived anomaly takes no comments, so this is their real order.

2. Push. Every due outbox row becomes one work note (`bot.sync.notes`; an archive also resolves the
   incident in the same PATCH). An attempt is claimed first (`sync.mark_sending`, a lease), so a process
   killed mid-request leaves the row "sending" and it comes back when the lease runs out. The client
   never retries these writes itself (`retry_safe=False`): a retry is only ever decided here, and every
   retry of a row that may have reached ServiceNow (`OutboxItem.maybe_sent`: a timeout, a dropped
   answer, a 5xx, a crash while sending) first looks for the row's marker in the incident's journal
   (`has_work_note`: sys_journal_field, else the incident's work_notes when the journal is closed to the
   account, 403 or an empty answer). Found: the row is only marked done (an archive still resolves).
   Not found: the earlier attempt wrote nothing, because the journal is read only once that attempt has
   surely ended: its lease ran out, or it failed and, when the write may have been applied anyway (a
   timeout, a dropped connection, any 5xx: a proxy may answer 502/504 while the instance is still
   writing; an unreadable answer), the retry waited at least `settle_delay` after the failure. So sending now cannot duplicate the note. Hence no note is
   lost (a row stays until done or visibly failed) and none is written twice.
   Failures back off exponentially with jitter up to `max_delay`, or as long as a 429's Retry-After says.
   Only a definite refusal (400/403/404: an ACL, a data policy, a deleted incident) marks a row failed,
   at once, with its reason in `last_error` (`sync.failures`; `snowbot sync --requeue` brings it back
   once fixed). Anything else (an outage of any length, a hibernating instance, a rate limit, refused
   credentials, a missing secret key) is retried for as long as it lasts, with its reason kept in
   `last_error` meanwhile (`sync.retrying`).
   An archive whose resolve PATCH is refused (403: a data policy naming the resolution code, an ACL)
   sends its note alone (a refused PATCH wrote nothing), so the note is never lost; the row then fails
   with the refusal, and a requeue finds the note and only resolves. A Closed (7) or Canceled (8)
   incident silently drops journal writes (servicenow-table-api.md, corrections): no note is written to
   one (the state the last refresh stored, the archive's own read, the PATCH's answer), and the row
   fails as "not delivered: INC… is Closed".
3. Refresh. The linked incidents are read back in batches of 100 (`get_incidents`); each link gets the
   state's label and the sync time. When an incident becomes Resolved, Closed or Canceled the notifier
   (the Slack thread) hears about it once: the flag is stored before the call, so a crash may skip a
   message but never repeats one. An anomaly that is archived and whose incidents are all resolved is
   no longer polled, until a webhook or Slack action names it again (`sync_anomalies`).

Qualytics' own ticketing integration writes its own work notes: when it also links tickets to a linked
anomaly (`GET /api/anomalies/{id}/ticket-links` not empty), every note arrives twice. That is asked when a
link is baselined or an anomaly has new events (when notes are about to be written, so a quiet pass costs
no extra request), at most once per `NATIVE_LINKS_RECHECK` per anomaly, and no more once Qualytics refuses
or lacks the endpoint. The pass report lists those anomalies (`native_ticket_links`); `/snow status` warns.

A hard-deleted anomaly (`DELETE ?archive=false`) answers 404 for good. When the token's own user can still
be read (`whoami`: so QUALYTICS_URL and the token are right, and the 404 is the anomaly's), each of its
links gets one "deleted in Qualytics" note (an outbox row with a fixed event key, so at most once), stops
being polled and records `anomaly_deleted_at`, all in one transaction.

Storage calls run on the database's own thread (`storage.store`: `await self.store.run(...)`), never on
the event loop; a step that must not interleave with others (`_observe`, the refresh's transaction) runs
there as one call. One engine runs one pass at a time (an asyncio lock): detection assumes a single detector. Two
processes at once stay correct for delivery (leases, unique event keys, markers); they may at worst
record a spurious status note when their reads of Qualytics interleave.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlite_utils import Database

from bot.models import state_label
from bot.sync import notes
from qualytics_api import (
    Anomaly,
    QualyticsAuthError,
    QualyticsBadRequestError,
    QualyticsError,
    QualyticsNotFoundError,
)
from servicenow import Incident, ServiceNowClient
from servicenow.errors import (
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    RateLimitError,
    ServerError,
    ServiceNowConnectionError,
    ServiceNowError,
)
from storage import atomic, links, store_for, sync
from storage.links import Link
from storage.sync import Event, OutboxItem, SyncState

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSED_STATES = frozenset({"6", "7", "8"})
"""Resolved, Closed, Canceled: an incident in one of these is not resolved again."""
NO_JOURNAL_STATES = frozenset({"7", "8"})
"""Closed, Canceled: journal writes may be dropped silently (PATCH 200, no journal row; reference,
corrections section), so a note is never written to, nor counted as delivered on, such an incident."""
NO_JOURNAL_LABELS = frozenset(state_label(code) for code in NO_JOURNAL_STATES)
PREFERRED_CLOSE_CODES = ("Solution provided", "Solved (Permanently)")
"""The resolution code, by value or label: Utah and later, then the legacy list; else the instance's first
active choice."""
FALLBACK_CLOSE_CODE = "Solution provided"
"""Used when sys_choice cannot be read (403 or no rows: field ACLs hide it from itil accounts; reference,
corrections section) and SNOWBOT_CLOSE_CODE is not set: in every release's list since Utah. A wrong code
meets the instance's data policy (403 "... mandatory: Resolution code"), which the failure reports."""
STATUS_CLOSE_CODES = {"Duplicate": "Duplicate"}
"""An archive status with a resolution code of its own, used when the instance lists that code."""
REFRESH_BATCH = 100
NATIVE_LINKS_RECHECK = timedelta(hours=1)
"""How often one anomaly's Qualytics-side ticket links are read again."""
DELETED_EVENT_KEY = "deleted"
"""The one outbox event of a link whose anomaly was deleted in Qualytics (unique per link: at most once)."""
PERMANENT_ERRORS = (BadRequestError, PermissionDeniedError, NotFoundError, QueryError)
"""Answers that will not change by trying again (an ACL, a data policy, a deleted incident): the row fails
at once. Every other error is retried until it goes away."""
MAYBE_APPLIED_ERRORS = (ServiceNowConnectionError, ServerError, InvalidResponseError)
"""Outcomes after which the write may have been applied, or may still be being applied: a timeout or a
dropped connection, any 5xx (a 502/504 from a proxy while the instance goes on writing), an answer that is
not the Table API's. Their retry waits at least `settle_delay` before it reads the journal."""
MAX_BACKOFF_DOUBLINGS = 32
"""The backoff's exponent stops growing here (`max_delay` caps it long before): a row retried for weeks
must not overflow a float."""


class AnomalyReader(Protocol):
    """What the engine needs from Qualytics (`qualytics_api.QualyticsClient` is one)."""

    async def get_anomaly(self, anomaly_id: int) -> Anomaly: ...

    async def whoami(self) -> object:
        """Raises a `QualyticsError` when the API cannot be read with the token at all."""
        ...


class ServiceNowClients(Protocol):
    """The ServiceNow client of an integration; raises a `ServiceNowError` when it cannot be built."""

    def __call__(self, integration_id: int) -> Awaitable[ServiceNowClient]: ...


class Notifier(Protocol):
    """Told once when a linked incident becomes Resolved, Closed or Canceled (links with a Slack thread)."""

    async def incident_closed(self, link: Link, incident: Incident) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SyncConfig:
    """Tuning; `from_settings` takes SNOWBOT_SYNC_CONCURRENCY and SNOWBOT_CLOSE_CODE."""

    concurrency: int = 16
    close_code: str | None = None
    base_delay: float = 30.0
    """Seconds before the first retry; doubles per attempt (with jitter) up to `max_delay`, and a row is
    retried at that pace for as long as the failure lasts (only a definite refusal fails it)."""
    max_delay: float = 1800.0
    max_retry_after: float = 86400.0
    settle_delay: float = 120.0
    """Least wait, counted from the failure, after an outcome that may have applied the write (a timeout,
    a dropped connection, a 5xx, an unreadable answer; `MAYBE_APPLIED_ERRORS`): the write may still be
    running on the instance, and the journal is read only once it has surely finished."""
    journal_lookback: int = 100
    """Newest work notes read when looking for a marker (an incident would need more new notes than this
    between an attempt and its retry to hide one)."""
    outbox_batch: int = 500

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SyncConfig:
        values: dict[str, Any] = {
            "concurrency": settings.sync_concurrency,
            "close_code": (settings.close_code or "").strip() or None,
        }
        return cls(**{**values, **overrides})


@dataclass
class PassReport:
    """What one pass (or one `sync_anomalies`) did."""

    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    anomalies_read: int = 0
    read_failures: int = 0
    baselined: int = 0
    events_recorded: int = 0
    notes_sent: int = 0
    confirmed: int = 0
    """Notes found already in the journal after an uncertain attempt (marked done, not sent again)."""
    resolved: int = 0
    retried: int = 0
    failed: int = 0
    not_delivered: int = 0
    """Notes not written because their incident is Closed or Canceled (the row fails with that reason)."""
    links_refreshed: int = 0
    refresh_failures: int = 0
    incidents_closed: int = 0
    notified: int = 0
    unwatched: int = 0
    rewatched: int = 0
    deleted: int = 0
    """Anomalies found deleted in Qualytics in this pass (each gets its one note)."""
    native_ticket_links: list[int] = field(default_factory=list)
    """Linked anomalies that Qualytics' own ticketing integration links tickets to as well (notes twice)."""
    errors: list[str] = field(default_factory=list)
    """A few distinct failure reasons, for the summary."""

    def add_error(self, reason: str) -> None:
        if reason not in self.errors and len(self.errors) < 5:
            self.errors.append(reason)

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    def summary(self) -> str:
        """One line: `sync pass: 200 anomalies read, 12 events recorded, 12 notes sent, ...`."""
        parts = [
            f"{self.anomalies_read} anomalies read",
            f"{self.events_recorded} events recorded",
            f"{self.notes_sent} notes sent",
            f"{self.resolved} resolved",
            f"{self.retried} retried",
            f"{self.failed} failed",
            f"{self.links_refreshed} links refreshed",
        ]
        if self.read_failures:
            parts.insert(1, f"{self.read_failures} reads failed")
        if self.confirmed:
            parts.insert(-3, f"{self.confirmed} found already sent")
        if self.not_delivered:
            parts.insert(-1, f"{self.not_delivered} not delivered (incident closed)")
        return f"sync {self.trigger}: {', '.join(parts)} in {self.seconds:.2f}s"

    def log_fields(self) -> dict[str, Any]:
        """The figures the pass's log line carries as fields (`SNOWBOT_LOG_FORMAT=json`)."""
        return {
            "sync_trigger": self.trigger,
            "anomalies_read": self.anomalies_read,
            "events_recorded": self.events_recorded,
            "notes_sent": self.notes_sent,
            "resolved": self.resolved,
            "retried": self.retried,
            "failures": self.read_failures + self.failed + self.refresh_failures,
            "links_refreshed": self.links_refreshed,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """One line per kind of work, then the summary (what `snowbot sync --once` prints)."""
        out = [
            f"anomalies read:     {self.anomalies_read}"
            + (f" ({self.read_failures} could not be read)" if self.read_failures else ""),
            f"links baselined:    {self.baselined}",
            f"events recorded:    {self.events_recorded}",
            f"work notes sent:    {self.notes_sent}"
            + (f" (+{self.confirmed} found already in the journal)" if self.confirmed else ""),
            f"incidents resolved: {self.resolved}",
            f"retries scheduled:  {self.retried}",
            f"given up (failed):  {self.failed}",
            f"not delivered:      {self.not_delivered} (incident Closed or Canceled)",
            f"links refreshed:    {self.links_refreshed}"
            + (f" ({self.refresh_failures} batches failed)" if self.refresh_failures else ""),
            f"incidents closed:   {self.incidents_closed} ({self.notified} Slack threads told)",
            f"polling stopped:    {self.unwatched} links; resumed: {self.rewatched}",
        ]
        if self.deleted:
            out.append(f"deleted anomalies:  {self.deleted} (told their incidents once, no longer polled)")
        if self.native_ticket_links:
            out.append(
                "warning: Qualytics' own ticketing integration also links tickets to anomalies "
                f"{', '.join(map(str, self.native_ticket_links[:10]))}: every work note arrives twice"
            )
        out += [f"error: {reason}" for reason in self.errors]
        out.append(self.summary())
        return out

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        data["seconds"] = round(self.seconds, 3)
        return data

    def __str__(self) -> str:
        return self.summary()


@dataclass
class _Run:
    """The working memory of one pass."""

    report: PassReport
    polling: bool
    """True for a scheduled pass (only watched links were loaded), False for named anomalies."""
    groups: dict[int, list[Link]]
    anomalies: dict[int, Anomaly] = field(default_factory=dict)
    states: dict[int, SyncState] = field(default_factory=dict)
    changed: set[int] = field(default_factory=set)
    """Anomalies whose state or incidents' states changed this pass (the notifier's cards show both)."""
    api_answers: asyncio.Task[bool] | None = None
    """Whether Qualytics answers for the token (one `whoami` per pass, asked at the first 404)."""
    _by_id: dict[int, Link] | None = None

    def link(self, link_id: int) -> Link | None:
        if self._by_id is None:  # built after detect, which is the only step that adds links
            self._by_id = {link.id: link for group in self.groups.values() for link in group}
        return self._by_id.get(link_id)


@dataclass(frozen=True)
class _Sent:
    """What a row's write did: resolved the incident; found it Closed/Canceled (its label: the note was
    not delivered); or had its resolve refused after the note went alone."""

    resolved: bool = False
    closed: str | None = None
    refused: PermissionDeniedError | None = None


@dataclass(frozen=True)
class _CloseCodes:
    """An instance's resolution codes: value and label -> value, and the one used by default."""

    known: dict[str, str]
    default: str


class SyncEngine:
    """Runs sync passes over one database. See the module docstring for the exactly-once reasoning.

    Public surface: `run_pass()`, `sync_anomalies(ids)`, and the `notifier` attribute (assignable after
    construction, e.g. by the Slack part).
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
    ) -> None:
        self.db = db
        self.store = store_for(db)
        self.qualytics = qualytics
        self.servicenow = servicenow
        self.config = config or SyncConfig()
        self.clock = clock
        self.notifier = notifier
        self._jitter = jitter
        self._lock = asyncio.Lock()
        self._close_codes: dict[int, _CloseCodes] = {}
        self._close_code_lock = asyncio.Lock()
        self._native_links: dict[int, tuple[datetime, int]] = {}  # anomaly -> (checked at, Qualytics' links)
        self._native_links_readable = True

    # ------------------------------------------------------------------------------------------ public

    async def run_pass(self) -> PassReport:
        """Detect, push, refresh over every watched link; the summary is also stored (`sync.record_run`)."""
        async with self._lock:
            groups: dict[int, list[Link]] = defaultdict(list)
            for link in await self.store.run(links.watched, self.db):
                groups[link.anomaly_id].append(link)
            run = _Run(PassReport("pass", self.clock()), polling=True, groups=dict(groups))
            await self._sync(run, push_only=None)
            return run.report

    async def sync_anomalies(self, anomaly_ids: Iterable[int]) -> PassReport:
        """Sync the named anomalies now, watched or not (webhook, Slack buttons): read them, record and
        push their events, refresh their incidents. Naming an anomaly that was set aside polls it again
        when it is open or one of its incidents is open."""
        named = list(dict.fromkeys(int(i) for i in anomaly_ids))
        async with self._lock:
            groups = {}
            for anomaly_id in named:
                found = await self.store.run(links.for_anomaly, self.db, anomaly_id)
                if found:
                    groups[anomaly_id] = found
            run = _Run(PassReport(_named(named), self.clock()), polling=False, groups=groups)
            link_ids = {link.id for group in groups.values() for link in group}
            await self._sync(run, push_only=link_ids)
            return run.report

    # ------------------------------------------------------------------------------------------ pass

    async def _sync(self, run: _Run, push_only: set[int] | None) -> None:
        await self._detect(run)
        await self._push(run, push_only)
        await self._refresh(run)
        await self._tell_changed(run)
        await self.store.run(self._update_watch, run)
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

    async def _each(self, items: Iterable[T], work: Callable[[T], Awaitable[None]]) -> None:
        """`work(item)` for every item, at most `concurrency` at a time. Expected remote failures are
        handled inside `work`; anything else ends the pass (a TaskGroup cancels the other workers)."""
        queue = iter(items)

        async def worker() -> None:
            for item in queue:  # one shared iterator: each item is taken by exactly one worker
                await work(item)

        async with asyncio.TaskGroup() as group:
            for _ in range(self.config.concurrency):
                group.create_task(worker())

    # ------------------------------------------------------------------------------------------ detect

    async def _detect(self, run: _Run) -> None:
        async def one(anomaly_id: int) -> None:
            try:
                anomaly = await self.qualytics.get_anomaly(anomaly_id)
            except QualyticsNotFoundError as err:
                if await self._api_answers(run):
                    await self.store.run(self._deleted, run, anomaly_id)
                    return
                run.report.read_failures += 1
                reason = _reason(err)
                run.report.add_error(f"reading anomaly {anomaly_id}: {reason}")
                log.warning("sync: anomaly %s not read: %s", anomaly_id, reason)
                return
            except QualyticsError as err:
                run.report.read_failures += 1
                reason = _reason(err)
                run.report.add_error(f"reading anomaly {anomaly_id}: {reason}")
                level = logging.WARNING if isinstance(err, QualyticsNotFoundError) else logging.INFO
                log.log(level, "sync: anomaly %s not read: %s", anomaly_id, reason)
                return
            run.report.anomalies_read += 1
            run.anomalies[anomaly_id] = anomaly
            if await self.store.run(self._observe_counted, run, anomaly):
                await self._check_native_links(anomaly_id)  # notes are about to be written

        await self._each(list(run.groups), one)
        linked = set(await self.store.run(links.anomaly_ids, self.db)) if self._native_links else set()
        run.report.native_ticket_links = sorted(
            anomaly_id
            for anomaly_id, (_, count) in self._native_links.items()
            if count and anomaly_id in linked
        )

    async def _check_native_links(self, anomaly_id: int) -> None:
        """Read Qualytics' own ticket links of the anomaly when the last look is `NATIVE_LINKS_RECHECK` old.
        A refusal or a missing endpoint (an older Qualytics, a token without the permission) ends the
        checks for this process: they are a warning, never a failure of the sync."""
        reader = getattr(self.qualytics, "ticket_links", None)
        checked = self._native_links.get(anomaly_id)
        now = self.clock()
        if (
            reader is None
            or not self._native_links_readable
            or (checked and now - checked[0] < NATIVE_LINKS_RECHECK)
        ):
            return
        try:
            found = await reader(anomaly_id)
        except (QualyticsAuthError, QualyticsNotFoundError, QualyticsBadRequestError) as err:
            self._native_links_readable = False
            log.info("sync: Qualytics' own ticket links cannot be read, not checked again: %s", _reason(err))
            return
        except QualyticsError as err:
            log.debug(
                "sync: Qualytics' own ticket links of anomaly %s not read: %s", anomaly_id, _reason(err)
            )
            return
        self._native_links[anomaly_id] = (now, len(found))
        if found:
            log.warning(
                "sync: Qualytics' own ticketing integration links %d tickets to anomaly %s: it writes its own "
                "work notes, so they arrive twice (snowbot replaces that integration)",
                len(found),
                anomaly_id,
            )

    async def _api_answers(self, run: _Run) -> bool:
        """True when the token's user can be read: a 404 then means the anomaly is gone, not a wrong URL."""
        if run.api_answers is None:

            async def ask() -> bool:
                try:
                    await self.qualytics.whoami()
                except QualyticsError as err:
                    log.warning("sync: Qualytics answers 404 and its API cannot be read: %s", _reason(err))
                    return False
                return True

            run.api_answers = asyncio.ensure_future(ask())
        return await run.api_answers

    def _deleted(self, run: _Run, anomaly_id: int) -> None:
        """The anomaly is gone from Qualytics: in one transaction, one note per link (never a second: the
        event key is fixed), polling stops and the links say so. No awaits: see `_observe`."""
        group = links.for_anomaly(self.db, anomaly_id)
        run.groups[anomaly_id] = group
        observed_at = self.clock()
        payload = {
            "anomaly_id": anomaly_id,
            "status": "Deleted",
            "deleted": True,
            "observed_at": observed_at.astimezone(UTC).isoformat(),
        }
        event: Event = {"event_key": DELETED_EVENT_KEY, "kind": "status", "payload": payload}
        with atomic(self.db):
            recorded = 0
            for link in group:
                state = sync.get_state(self.db, link.id)
                if state is None:
                    state = sync.init_state(self.db, link.id, "Deleted", False, [], now=observed_at)
                recorded += sync.record_events(
                    self.db, link.id, "Deleted", state.archived, [], [event], now=observed_at
                )
                run.states[link.id] = sync.get_state(self.db, link.id) or state
            run.report.unwatched += sync.set_watch(
                self.db, [link.id for link in group], False, now=observed_at
            )
            newly = links.mark_anomaly_deleted(self.db, anomaly_id, now=observed_at)
        run.report.events_recorded += recorded
        if newly or recorded:
            run.report.deleted += 1
            log.warning(
                "sync: anomaly %s was deleted in Qualytics: %d incidents told, no longer polled",
                anomaly_id,
                recorded,
            )

    def _observe_counted(self, run: _Run, anomaly: Anomaly) -> bool:
        """`_observe`, and whether it recorded events or baselined a link (notes are about to be written).
        One call on the database thread, so the counters moved for this anomaly only."""
        before = (run.report.events_recorded, run.report.baselined)
        self._observe(run, anomaly)
        return (run.report.events_recorded, run.report.baselined) != before

    def _observe(self, run: _Run, anomaly: Anomaly) -> None:
        """Compare one anomaly with its links' states and record what is new. No awaits in here: the
        storage transactions must not interleave with other coroutines on the same connection."""
        group = run.groups[anomaly.id]
        for link in group:
            state = sync.get_state(self.db, link.id)
            if state is not None:
                run.states[link.id] = state
        changed = any(link.id not in run.states or _changed(run.states[link.id], anomaly) for link in group)
        if run.polling and changed:
            # A link added to an anomaly that was set aside is watched while its older links are not:
            # a change must reach those too, and they are watched again below.
            known = {link.id for link in group}
            group.extend(link for link in links.for_anomaly(self.db, anomaly.id) if link.id not in known)
            for link in group:
                if link.id not in known and (state := sync.get_state(self.db, link.id)) is not None:
                    run.states[link.id] = state
        if not changed:
            return
        run.changed.add(anomaly.id)
        observed_at = self.clock()
        for link in group:
            state = run.states.get(link.id)
            if state is None or _changed(state, anomaly):
                run.states[link.id] = self._record(run, link, anomaly, observed_at)

    def _record(self, run: _Run, link: Link, anomaly: Anomaly, observed_at: datetime) -> SyncState:
        """Baseline a new link, or queue its events and advance its state, in one transaction; returns the
        state as it is now."""
        with atomic(self.db):
            state = sync.get_state(self.db, link.id)  # again, now under the write lock
            if state is None:
                run.report.baselined += 1
                return sync.init_state(
                    self.db,
                    link.id,
                    anomaly.status,
                    anomaly.archived,
                    [comment.id for comment in anomaly.comments],
                    now=observed_at,
                )
            events, comment_ids = _events(state, anomaly, observed_at)
            if not events and state.archived == anomaly.archived:
                return state
            run.report.events_recorded += sync.record_events(
                self.db, link.id, anomaly.status, anomaly.archived, comment_ids, events, now=observed_at
            )
            advanced = sync.get_state(self.db, link.id)
            assert advanced is not None
            return advanced

    # ------------------------------------------------------------------------------------------ push

    async def _push(self, run: _Run, only: set[int] | None) -> None:
        """Deliver due outbox rows, one per link at a time (a link's notes go out in order), until none
        is due. A row is attempted at most once per pass; a retry waits for its next attempt time."""
        attempted: set[int] = set()
        while True:
            due = await self.store.run(
                sync.due, self.db, self.clock(), limit=self.config.outbox_batch, link_ids=only
            )
            batch = [item for item in due if item.id not in attempted]
            if not batch:
                return
            attempted.update(item.id for item in batch)
            await self._each(batch, lambda item: self._deliver(run, item))

    async def _deliver(self, run: _Run, item: OutboxItem) -> None:
        now = self.clock()
        if not await self.store.run(sync.mark_sending, self.db, item.id, now=now):
            return  # another sender claimed it since `due`
        link = run.link(item.link_id) or await self.store.run(links.get, self.db, item.link_id)
        if link is None:
            return  # unlinked meanwhile: its outbox rows went with it
        note = notes.work_note(item.kind, item.payload, item.marker)
        try:
            client = await self.servicenow(link.integration_id)
            noted = item.maybe_sent and await self._in_journal(client, link.ticket_sys_id, item.marker)
            if noted:
                log.info(
                    "sync: %s note for %s was already there (ref %s)",
                    item.kind,
                    link.ticket_number,
                    item.marker,
                )
            if not noted and link.status in NO_JOURNAL_LABELS:  # as the last refresh saw it: no write
                sent = _Sent(closed=link.status)
            else:
                sent = await self._send(client, link, item, note, noted=noted)
        except ServiceNowError as err:
            await self.store.run(self._attempt_failed, run, item, link, err, now)
            return
        if sent.closed:
            await self.store.run(self._not_delivered, run, item, link, sent.closed)
            return
        run.report.confirmed += noted
        run.report.notes_sent += not noted
        run.report.resolved += sent.resolved
        if sent.refused is not None:
            reason = f"{link.ticket_number}: work note delivered; resolving refused: {sent.refused}"
            self._close_codes.pop(link.integration_id, None)
            await self.store.run(sync.mark_failed, self.db, item.id, reason[:500])
            run.report.failed += 1
            run.report.add_error(reason[:500])
            log.warning("sync: resolving %s failed for good: %s", link.ticket_number, reason)
            return
        await self.store.run(sync.mark_done, self.db, item.id, now=self.clock())

    async def _send(
        self, client: ServiceNowClient, link: Link, item: OutboxItem, note: str, *, noted: bool
    ) -> _Sent:
        """The row's write: the note (unless `noted`: already in the journal), and for an archive the
        resolution, in the same PATCH. A refused resolve PATCH wrote nothing, so the note then goes alone
        and the refusal is returned. No note is written to a Closed or Canceled incident."""
        sys_id = link.ticket_sys_id
        if item.kind == "resolve":
            incident = await client.get_incident(sys_id)
            if incident.state in NO_JOURNAL_STATES:  # nothing to resolve; a note would be dropped
                return _Sent() if noted else _Sent(closed=state_label(incident.state, incident.state_label))
            if incident.state not in CLOSED_STATES:
                status = item.payload["status"]
                code = await self._close_code(client, link.integration_id, status)
                close = notes.close_notes(item.payload["anomaly_id"], status)
                try:
                    await client.resolve(
                        sys_id, code, close, work_note=None if noted else note, retry_safe=noted
                    )
                except PermissionDeniedError as err:
                    refused = _resolve_refusal(err, code, configured=bool(self.config.close_code))
                    if noted:
                        raise refused from err
                    return replace(await self._note(client, link, note, item.marker), refused=refused)
                return _Sent(resolved=True)
        if noted:
            return _Sent()
        return await self._note(client, link, note, item.marker)

    async def _note(self, client: ServiceNowClient, link: Link, note: str, marker: str) -> _Sent:
        """Write one work note. The PATCH answers with the incident's state: on a Closed or Canceled
        incident the note may have been dropped silently, so it counts only if the journal shows it."""
        updated = await client.add_work_note(link.ticket_sys_id, note, retry_safe=False)
        if updated.state in NO_JOURNAL_STATES and not await self._in_journal(
            client, link.ticket_sys_id, marker
        ):
            return _Sent(closed=state_label(updated.state, updated.state_label))
        return _Sent()

    def _not_delivered(self, run: _Run, item: OutboxItem, link: Link, state: str) -> None:
        reason = f"not delivered: {link.ticket_number} is {state}"
        sync.mark_failed(self.db, item.id, reason)
        run.report.not_delivered += 1
        run.report.add_error(reason)
        log.info("sync: %s note for %s %s", item.kind, link.ticket_number, reason)

    async def _in_journal(self, client: ServiceNowClient, sys_id: str, marker: str) -> bool:
        """Whether a note carrying `marker` is on the incident: sys_journal_field, or the incident's
        work_notes when the journal refuses or answers no rows (`ServiceNowClient.has_work_note`)."""
        return await client.has_work_note(sys_id, marker, lookback=self.config.journal_lookback)

    async def _close_code(self, client: ServiceNowClient, integration_id: int, status: str) -> str:
        """SNOWBOT_CLOSE_CODE; else the code of the archive status when the instance lists one (Duplicate);
        else "Solution provided", "Solved (Permanently)" or the first active code; "Solution provided" when
        sys_choice cannot be read (403 or no rows). The instance's codes are read once per integration
        (the lock keeps concurrent resolves from each reading the list)."""
        if self.config.close_code:
            return self.config.close_code
        async with self._close_code_lock:
            codes = self._close_codes.get(integration_id)
            if codes is None:
                try:
                    choices = await client.list_choices("incident", "close_code")
                except PermissionDeniedError as err:  # field ACLs on sys_choice: see FALLBACK_CLOSE_CODE
                    log.info("sync: resolution codes unreadable, using %r: %s", FALLBACK_CLOSE_CODE, err)
                    choices = []
                known = {choice.value: choice.value for choice in choices}
                known.update({choice.label: choice.value for choice in choices if choice.label not in known})
                preferred = (known[name] for name in PREFERRED_CLOSE_CODES if name in known)
                first = choices[0].value if choices else FALLBACK_CLOSE_CODE
                codes = _CloseCodes(known, next(preferred, first))
                self._close_codes[integration_id] = codes
        own = STATUS_CLOSE_CODES.get(status)
        return codes.known[own] if own in codes.known else codes.default

    def _attempt_failed(
        self, run: _Run, item: OutboxItem, link: Link, err: ServiceNowError, started: datetime
    ) -> None:
        """A definite refusal fails the row at once; anything else schedules a retry, however long the
        failure has lasted, with the reason kept in `last_error`."""
        attempts = item.attempts + 1  # this one included
        reason = f"{link.ticket_number}: {_reason(err)}"
        if isinstance(err, PERMANENT_ERRORS):
            if item.kind == "resolve":
                self._close_codes.pop(link.integration_id, None)  # a data policy may refuse a stale code
            sync.mark_failed(self.db, item.id, reason)
            run.report.failed += 1
            run.report.add_error(reason)
            log.warning("sync: %s note for %s failed for good: %s", item.kind, link.ticket_number, reason)
            return
        next_at = started + self._retry_delay(attempts, err)
        if isinstance(err, MAYBE_APPLIED_ERRORS):
            next_at = max(next_at, self.clock() + timedelta(seconds=self.config.settle_delay))
        sync.mark_retry(self.db, item.id, reason, next_at)
        run.report.retried += 1
        run.report.add_error(reason)
        log.debug(
            "sync: %s note for %s retried at %s (attempt %d): %s",
            item.kind,
            link.ticket_number,
            next_at,
            attempts,
            reason,
        )

    def _retry_delay(self, attempts: int, err: ServiceNowError) -> timedelta:
        """Retry-After when ServiceNow sent one, else exponential backoff with jitter (half to all of it),
        capped at `max_delay` however many attempts there were. (`_attempt_failed` adds the settle delay.)"""
        if isinstance(err, RateLimitError) and err.retry_after is not None:
            return timedelta(seconds=min(err.retry_after, self.config.max_retry_after))
        doublings = min(attempts - 1, MAX_BACKOFF_DOUBLINGS)
        cap = min(self.config.max_delay, self.config.base_delay * 2**doublings)
        return timedelta(seconds=cap * (0.5 + 0.5 * self._jitter()))

    # ------------------------------------------------------------------------------------------ refresh

    async def _refresh(self, run: _Run) -> None:
        """Read the linked incidents back (100 per request), store each link's state label and sync
        time, record resolved transitions and tell the notifier about closed ones."""
        by_integration: dict[int, list[Link]] = defaultdict(list)
        for group in run.groups.values():
            for link in group:
                by_integration[link.integration_id].append(link)
        batches = [
            (integration_id, group[start : start + REFRESH_BATCH])
            for integration_id, group in by_integration.items()
            for start in range(0, len(group), REFRESH_BATCH)
        ]
        found: list[tuple[Link, Incident]] = []

        async def read(batch: tuple[int, list[Link]]) -> None:
            integration_id, group = batch
            try:
                client = await self.servicenow(integration_id)
                incidents = await client.get_incidents([link.ticket_sys_id for link in group])
            except ServiceNowError as err:
                run.report.refresh_failures += 1
                run.report.add_error(f"reading incidents back: {_reason(err)}")
                log.info("sync: refresh of %d incidents failed: %s", len(group), _reason(err))
                return
            by_sys_id = {incident.sys_id: incident for incident in incidents}
            found.extend(
                (link, by_sys_id[link.ticket_sys_id]) for link in group if link.ticket_sys_id in by_sys_id
            )

        await self._each(batches, read)
        now = self.clock()
        closed: list[tuple[Link, Incident]] = []

        def record() -> dict[int, str]:  # one transaction, on the database thread
            with atomic(self.db):
                for link, incident in found:
                    state = run.states.get(link.id) or sync.get_state(self.db, link.id)
                    is_closed = incident.state in CLOSED_STATES
                    if state is None or state.resolved == is_closed:
                        continue
                    sync.set_resolved(self.db, link.id, is_closed, now=now)
                    run.states[link.id] = state.model_copy(update={"resolved": is_closed})
                    if is_closed:
                        run.report.incidents_closed += 1
                        if link.channel_id and link.thread_ts:
                            closed.append((link, incident))
                statuses = {
                    link.id: state_label(incident.state, incident.state_label) for link, incident in found
                }
                links.update_statuses(self.db, statuses, synced_at=now)
                return statuses

        statuses = await self.store.run(record)
        run.changed.update(  # a new link (never refreshed) or a new state
            link.anomaly_id
            for link, _ in found
            if link.last_synced_at is None or statuses[link.id] != link.status
        )
        run.report.links_refreshed = len(found)
        await self._notify(run, closed)

    async def _notify(self, run: _Run, closed: Sequence[tuple[Link, Incident]]) -> None:
        if self.notifier is None:
            return
        for link, incident in closed:
            try:
                await self.notifier.incident_closed(link, incident)
            except Exception:  # a Slack failure must not stop the sync; the flag is stored already
                log.exception("sync: telling the Slack thread that %s closed failed", incident.number)
            else:
                run.report.notified += 1

    async def _tell_changed(self, run: _Run) -> None:
        """A notifier with `anomaly_changed(anomaly)` (Slack's keeps its anomaly cards current) hears of
        every anomaly read this pass whose state or incidents changed; a failure is only logged."""
        tell = getattr(self.notifier, "anomaly_changed", None)
        if tell is None:
            return
        for anomaly_id in sorted(run.changed):
            anomaly = run.anomalies.get(anomaly_id)
            if anomaly is None:
                continue
            try:
                await tell(anomaly)
            except Exception:
                log.exception("sync: telling Slack that anomaly %s changed failed", anomaly_id)

    # ------------------------------------------------------------------------------------------ watch

    def _update_watch(self, run: _Run) -> None:
        """Stop polling anomalies that are archived with every incident resolved; poll again the ones
        that are open or have an open incident."""
        stop: list[int] = []
        resume: list[int] = []
        for anomaly_id, anomaly in run.anomalies.items():
            group = run.groups[anomaly_id]
            settled = anomaly.archived and all(self._resolved(run, link) for link in group)
            if settled and run.polling:
                group = links.for_anomaly(self.db, anomaly_id)  # its links not polled this pass count too
                settled = all(self._resolved(run, link) for link in group)
            for link in group:
                state = run.states.get(link.id) or sync.get_state(self.db, link.id)
                if state is None:
                    continue
                if settled and state.watch:
                    stop.append(link.id)
                elif not settled and not state.watch:
                    resume.append(link.id)
        if stop or resume:
            now = self.clock()
            with atomic(self.db):
                run.report.unwatched += sync.set_watch(self.db, stop, False, now=now)
                run.report.rewatched += sync.set_watch(self.db, resume, True, now=now)

    def _resolved(self, run: _Run, link: Link) -> bool:
        state = run.states.get(link.id) or sync.get_state(self.db, link.id)
        return state is not None and state.resolved


# ---------------------------------------------------------------------------------------------- helpers


def _changed(state: SyncState, anomaly: Anomaly) -> bool:
    return (
        state.last_status != anomaly.status
        or state.archived != anomaly.archived
        or any(comment.id not in state.seen_comment_ids for comment in anomaly.comments)
    )


def _events(state: SyncState, anomaly: Anomaly, observed_at: datetime) -> tuple[list[Event], list[int]]:
    """The outbox events that take `state` to `anomaly`: new comments (oldest first), then the status."""
    events: list[Event] = []
    comment_ids = []
    for comment in anomaly.comments:
        if comment.id in state.seen_comment_ids:
            continue
        comment_ids.append(comment.id)
        payload = {
            "anomaly_id": anomaly.id,
            "comment_id": comment.id,
            "message": comment.message,
            "author": comment.user.name or comment.user.email or "",
            "created": comment.created.isoformat(),
        }
        events.append(
            {"event_key": sync.comment_event_key(comment.id), "kind": "comment", "payload": payload}
        )
    if anomaly.status != state.last_status:
        archiving = anomaly.archived and not state.archived
        payload = {
            "anomaly_id": anomaly.id,
            "status": anomaly.status,
            "previous": state.last_status,
            "observed_at": observed_at.astimezone(UTC).isoformat(),
        }
        events.append(
            {
                "event_key": sync.status_event_key(state, anomaly.status),
                "kind": "resolve" if archiving else "status",
                "payload": payload,
            }
        )
    return events, comment_ids


def _resolve_refusal(err: PermissionDeniedError, code: str, *, configured: bool) -> PermissionDeniedError:
    """The refusal of a resolve, saying which resolution code was sent when a data policy names it."""
    said = f"{err.detail or ''} {err.message}".lower()
    if "resolution code" not in said and "close_code" not in said:
        return err
    source = "SNOWBOT_CLOSE_CODE" if configured else "snowbot's default"
    message = (
        f"{err.message} The resolution code {code!r} ({source}) is not one this instance accepts: set "
        "SNOWBOT_CLOSE_CODE to one of its resolution codes (Incident → Resolution code), then run "
        "`snowbot sync --requeue`."
    )
    return PermissionDeniedError(message, status_code=err.status_code, detail=err.detail)


def _named(anomaly_ids: list[int]) -> str:
    shown = ", ".join(map(str, anomaly_ids[:5])) + (", ..." if len(anomaly_ids) > 5 else "")
    return f"of anomal{'y' if len(anomaly_ids) == 1 else 'ies'} {shown}"


def _reason(err: ServiceNowError | QualyticsError) -> str:
    status = f"HTTP {err.status_code} " if err.status_code else ""
    return f"{status}{type(err).__name__}: {err.message}"[:500]
