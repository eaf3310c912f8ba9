"""The detect step: what changed in Qualytics becomes outbox rows, in the transaction that advances the state.

Every linked anomaly still worth watching is read from Qualytics once (bounded concurrency, shared by all
its links) and compared with each link's stored sync state (`storage.sync`). What is new (a status change,
an archive, comments not seen yet) becomes outbox rows, written by `sync.record_events` in the same
transaction that advances the state: a crash before the commit leaves neither (the next pass detects the
change again), a crash after leaves both (the next pass sees nothing new). A link without state yet records
its baseline and sends nothing (no backfill). Comments go before the status change seen in the same read:
they carry their own, earlier times, and an archived anomaly takes no comments, so this is their real order.

A hard-deleted anomaly (`DELETE ?archive=false`) answers 404 for good. When the token's own user can still
be read (`whoami`: so QUALYTICS_URL and the token are right, and the 404 is the anomaly's), each of its
links gets one "deleted in Qualytics" note (an outbox row with a fixed event key, so at most once), stops
being polled and records `anomaly_deleted_at`, all in one transaction.

When notes are about to be written for an anomaly, Qualytics' own ticket links of it are checked
(`bot.sync.native_links`). Storage work runs on the database thread as one call per anomaly (`_observe`,
`_deleted`: no awaits inside, so their transactions never interleave with other coroutines).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from bot.sync import notes
from bot.sync.context import Context, Run
from bot.sync.report import reason_of
from qualytics_api import Anomaly, QualyticsError, QualyticsNotFoundError
from storage import atomic, links, sync
from storage.links import Link
from storage.sync import Event, SyncState

log = logging.getLogger("bot.sync.engine")  # the name the sync's log lines have always carried

DELETED_EVENT_KEY = "deleted"
"""The one outbox event of a link whose anomaly was deleted in Qualytics (unique per link: at most once)."""


async def detect(ctx: Context, run: Run, only: list[int] | None = None) -> None:
    """Read every anomaly of the pass (or `only` these of its groups) once, at most `concurrency` at a
    time, record what is new for its links and note the anomalies Qualytics links tickets to as well
    (`report.native_ticket_links`)."""

    async def one(anomaly_id: int) -> None:
        try:
            anomaly = await ctx.qualytics.get_anomaly(anomaly_id)
        except QualyticsNotFoundError as err:
            if await _api_answers(ctx, run):
                await ctx.store.run(_deleted, ctx, run, anomaly_id)
                return
            run.report.read_failures += 1
            reason = reason_of(err)
            run.report.add_error(f"reading anomaly {anomaly_id}: {reason}")
            log.warning("sync: anomaly %s not read: %s", anomaly_id, reason)
            return
        except QualyticsError as err:
            run.report.read_failures += 1
            reason = reason_of(err)
            run.report.add_error(f"reading anomaly {anomaly_id}: {reason}")
            level = logging.WARNING if isinstance(err, QualyticsNotFoundError) else logging.INFO
            log.log(level, "sync: anomaly %s not read: %s", anomaly_id, reason)
            return
        run.report.anomalies_read += 1
        run.anomalies[anomaly_id] = anomaly
        if await ctx.store.run(_observe_counted, ctx, run, anomaly):  # notes are about to be written
            await ctx.native_links.check(ctx.qualytics, anomaly_id, now=ctx.clock())

    await ctx.each(list(run.groups) if only is None else only, one)
    if ctx.native_links.checked_any:
        linked = set(await ctx.store.run(links.anomaly_ids, ctx.db))
        run.report.native_ticket_links = ctx.native_links.doubled(linked)


async def _api_answers(ctx: Context, run: Run) -> bool:
    """True when the token's user can be read: a 404 then means the anomaly is gone, not a wrong URL."""
    if run.api_answers is None:

        async def ask() -> bool:
            try:
                await ctx.qualytics.whoami()
            except QualyticsError as err:
                log.warning("sync: Qualytics answers 404 and its API cannot be read: %s", reason_of(err))
                return False
            return True

        run.api_answers = asyncio.ensure_future(ask())
    return await run.api_answers


def _deleted(ctx: Context, run: Run, anomaly_id: int) -> None:
    """The anomaly is gone from Qualytics: in one transaction, one note per link (never a second: the
    event key is fixed), polling stops and the links say so. No awaits: see `_observe`."""
    group = links.for_anomaly(ctx.db, anomaly_id)
    run.groups[anomaly_id] = group
    observed_at = ctx.clock()
    payload = {
        "anomaly_id": anomaly_id,
        "status": "Deleted",
        "deleted": True,
        "observed_at": observed_at.astimezone(UTC).isoformat(),
    }
    event: Event = {"event_key": DELETED_EVENT_KEY, "kind": "status", "payload": payload}
    with atomic(ctx.db):
        recorded = 0
        for link in group:
            state = sync.get_state(ctx.db, link.id)
            if state is None:
                state = sync.init_state(ctx.db, link.id, "Deleted", False, [], now=observed_at)
            recorded += sync.record_events(
                ctx.db, link.id, "Deleted", state.archived, [], [event], now=observed_at
            )
            run.states[link.id] = sync.get_state(ctx.db, link.id) or state
        run.report.unwatched += sync.set_watch(ctx.db, [link.id for link in group], False, now=observed_at)
        newly = links.mark_anomaly_deleted(ctx.db, anomaly_id, now=observed_at)
    run.report.events_recorded += recorded
    if newly or recorded:
        run.report.deleted += 1
        log.warning(
            "sync: anomaly %s was deleted in Qualytics: %d incidents told, no longer polled",
            anomaly_id,
            recorded,
        )


def _observe_counted(ctx: Context, run: Run, anomaly: Anomaly) -> bool:
    """`_observe`, and whether it recorded events or baselined a link (notes are about to be written).
    One call on the database thread, so the counters moved for this anomaly only."""
    before = (run.report.events_recorded, run.report.baselined)
    _observe(ctx, run, anomaly)
    return (run.report.events_recorded, run.report.baselined) != before


def _observe(ctx: Context, run: Run, anomaly: Anomaly) -> None:
    """Compare one anomaly with its links' states and record what is new. No awaits in here: the
    storage transactions must not interleave with other coroutines on the same connection."""
    group = run.groups[anomaly.id]
    for link in group:
        state = sync.get_state(ctx.db, link.id)
        if state is not None:
            run.states[link.id] = state
    changed = any(link.id not in run.states or _changed(run.states[link.id], anomaly) for link in group)
    if run.polling and changed:
        # A link added to an anomaly that was set aside is watched while its older links are not:
        # a change must reach those too, and they are watched again below.
        known = {link.id for link in group}
        group.extend(link for link in links.for_anomaly(ctx.db, anomaly.id) if link.id not in known)
        for link in group:
            if link.id not in known and (state := sync.get_state(ctx.db, link.id)) is not None:
                run.states[link.id] = state
    if not changed:
        return
    run.changed.add(anomaly.id)
    run.detected.add(anomaly.id)
    observed_at = ctx.clock()
    for link in group:
        state = run.states.get(link.id)
        if state is None or _changed(state, anomaly):
            run.states[link.id] = _record(ctx, run, link, anomaly, observed_at)


def _record(ctx: Context, run: Run, link: Link, anomaly: Anomaly, observed_at: datetime) -> SyncState:
    """Baseline a new link, or queue its events and advance its state, in one transaction; returns the
    state as it is now."""
    with atomic(ctx.db):
        state = sync.get_state(ctx.db, link.id)  # again, now under the write lock
        if state is None:
            run.report.baselined += 1
            return sync.init_state(
                ctx.db,
                link.id,
                anomaly.status,
                anomaly.archived,
                [comment.id for comment in anomaly.comments],
                now=observed_at,
            )
        events, comment_ids = _events(state, anomaly, observed_at)
        if not events and not comment_ids and state.archived == anomaly.archived:
            return state
        run.report.events_recorded += sync.record_events(
            ctx.db, link.id, anomaly.status, anomaly.archived, comment_ids, events, now=observed_at
        )
        advanced = sync.get_state(ctx.db, link.id)
        assert advanced is not None
        return advanced


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
        if notes.is_from_servicenow(comment.message):  # snowbot's own, from ServiceNow: no loop
            continue
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
