"""The push step: every due outbox row becomes one work note, exactly once.

Every due outbox row becomes one work note (`bot.sync.notes`; an archive also resolves the incident in the
same PATCH). An attempt is claimed first (`sync.mark_sending`, a lease of SNOWBOT_OUTBOX_LEASE held by this
replica), so a process killed mid-request leaves the row "sending" and it comes back, to any replica, when
the lease runs out. The lease is renewed just before the write (`sync.renew_lease`; lost: nothing is
written), and it outlasts a write and its settling (`bot.settings.check_timings`), so a replica taking a
row over reads the journal only once the earlier write has surely ended. The client never retries these writes
itself (`retry_safe=False`): a retry is only ever decided here, and every retry of a row that may have
reached ServiceNow (`OutboxItem.maybe_sent`: a timeout, a dropped answer, a 5xx, a crash while sending)
first looks for the row's marker in the incident's journal (`has_work_note`: sys_journal_field, else the
incident's work_notes when the journal is closed to the account, 403 or an empty answer). Found: the row is
only marked done (an archive still resolves). Not found: the earlier attempt wrote nothing, because the
journal is read only once that attempt has surely ended: its lease ran out, or it failed and, when the
write may have been applied anyway (a timeout, a dropped connection, any 5xx: a proxy may answer 502/504
while the instance is still writing; an unreadable answer), the retry waited at least `settle_delay` after
the failure. So sending now cannot duplicate the note. Hence no note is lost (a row stays until done or
visibly failed) and none is written twice.

Failures back off exponentially with jitter up to `max_delay`, or as long as a 429's Retry-After says. Only
a definite refusal (400/403/404: an ACL, a data policy, a deleted incident) marks a row failed, at once,
with its reason in `last_error` (`sync.failures`; `snowbot sync --requeue` brings it back once fixed).
Anything else (an outage of any length, a hibernating instance, a rate limit, refused credentials, a
missing secret key) is retried for as long as it lasts, with its reason kept in `last_error` meanwhile
(`sync.retrying`).

An archive whose resolve PATCH is refused (403: a data policy naming the resolution code, an ACL) sends its
note alone (a refused PATCH wrote nothing), so the note is never lost; the row then fails with the refusal,
and a requeue finds the note and only resolves (`bot.sync.close_codes`). A ticket in one of its kind's
no-journal states (an incident Closed 7 or Canceled 8) silently drops journal writes
(servicenow-table-api.md, corrections; `servicenow.kinds`): no note is written to one (the state the last
refresh stored, the archive's own read, the PATCH's answer), and the row fails as "not delivered: INC… is
Closed".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.sync import notes
from bot.sync.close_codes import resolve_refusal
from bot.sync.context import Context, Run, SyncConfig
from bot.sync.report import reason_of
from servicenow import ServiceNowClient
from servicenow.errors import (
    AuthenticationError,
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
from storage import links, sync
from storage.links import Link
from storage.sync import OutboxItem

log = logging.getLogger("bot.sync.engine")  # the name the sync's log lines have always carried

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


@dataclass(frozen=True)
class _Sent:
    """What a row's write did: resolved the incident; found it Closed/Canceled (its label: the note was
    not delivered); or had its resolve refused after the note went alone."""

    resolved: bool = False
    closed: str | None = None
    refused: PermissionDeniedError | None = None


async def push(ctx: Context, run: Run, *, only: set[int] | None) -> None:
    """Deliver due outbox rows, one per link at a time (a link's notes go out in order), until none
    is due. A row is attempted at most once per pass; a retry waits for its next attempt time."""
    attempted: set[int] = set()
    while True:
        due = await ctx.store.run(sync.due, ctx.db, ctx.clock(), limit=ctx.config.outbox_batch, link_ids=only)
        batch = [item for item in due if item.id not in attempted]
        if not batch:
            return
        attempted.update(item.id for item in batch)
        await ctx.each(batch, lambda item: _deliver(ctx, run, item))


class LeaseLost(Exception):
    """The row's claim ran out before its write and another sender may hold it: write nothing."""


async def _deliver(ctx: Context, run: Run, item: OutboxItem) -> None:
    now = ctx.clock()
    by, lease = ctx.config.replica, timedelta(seconds=ctx.config.lease)
    if not await ctx.store.run(sync.mark_sending, ctx.db, item.id, now=now, lease=lease, by=by):
        return  # another sender (of this process or another replica) claimed it since `due`

    async def renew() -> None:
        """Just before a write: the lease again in full, so the write and its settling end inside it."""
        if not await ctx.store.run(sync.renew_lease, ctx.db, item.id, by=by, now=ctx.clock(), lease=lease):
            raise LeaseLost(f"{item.kind} note {item.marker}: the claim ran out before the write")

    link = run.link(item.link_id) or await ctx.store.run(links.get, ctx.db, item.link_id)
    if link is None:
        return  # unlinked meanwhile: its outbox rows went with it
    note = notes.work_note(item.kind, item.payload, item.marker)
    try:
        client = await ctx.servicenow(link.integration_id)
        noted = item.maybe_sent and await _in_journal(ctx, client, link, item.marker)
        if noted:
            log.info(
                "sync: %s note for %s was already there (ref %s)",
                item.kind,
                link.ticket_number,
                item.marker,
            )
        if not noted and link.status in link.kind.no_journal_labels:  # as the last refresh saw it: no write
            sent = _Sent(closed=link.status)
        else:
            sent = await _send(ctx, client, link, item, note, noted=noted, renew=renew)
    except LeaseLost as lost:
        log.warning("sync: %s; another sender takes it over", lost)
        return
    except ServiceNowError as err:
        if isinstance(err, AuthenticationError) and ctx.unauthorized is not None:
            await ctx.unauthorized(link.integration_id)  # a rotated secret: the retry uses the new one
        await ctx.store.run(_attempt_failed, ctx, run, item, link, err, now)
        return
    if sent.closed:
        await ctx.store.run(_not_delivered, ctx, run, item, link, sent.closed)
        return
    run.report.confirmed += noted
    run.report.notes_sent += not noted
    run.report.resolved += sent.resolved
    if sent.refused is not None:
        reason = f"{link.ticket_number}: work note delivered; resolving refused: {sent.refused}"
        ctx.close_codes.forget(link.integration_id)
        await ctx.store.run(sync.mark_failed, ctx.db, item.id, reason[:500], by=by)
        run.report.failed += 1
        run.report.add_error(reason[:500])
        log.warning("sync: resolving %s failed for good: %s", link.ticket_number, reason)
        return
    await ctx.store.run(sync.mark_done, ctx.db, item.id, now=ctx.clock(), by=by)


Renew = Callable[[], Awaitable[None]]


async def _send(
    ctx: Context,
    client: ServiceNowClient,
    link: Link,
    item: OutboxItem,
    note: str,
    *,
    noted: bool,
    renew: Renew,
) -> _Sent:
    """The row's write: the note (unless `noted`: already in the journal), and for an archive the
    resolution, in the same PATCH. A refused resolve PATCH wrote nothing, so the note then goes alone
    and the refusal is returned. No note is written to a Closed or Canceled incident."""
    sys_id, kind = link.ticket_sys_id, link.kind
    if item.kind == "resolve":
        incident = await client.get_incident(sys_id, kind=kind)
        if incident.state in kind.no_journal_states:  # nothing to resolve; a note would be dropped
            return _Sent() if noted else _Sent(closed=kind.state_label(incident.state, incident.state_label))
        if incident.state not in kind.resolved_states:
            status = item.payload["status"]
            code = await ctx.close_codes.code_for(
                client,
                integration_id=link.integration_id,
                status=status,
                configured=ctx.config.close_code,
                kind=kind,
            )
            close = notes.close_notes(item.payload["anomaly_id"], status)
            await renew()
            try:
                await client.resolve(
                    sys_id, code, close, work_note=None if noted else note, retry_safe=noted, kind=kind
                )
            except PermissionDeniedError as err:
                refused = resolve_refusal(err, code, configured=bool(ctx.config.close_code))
                if noted:
                    raise refused from err
                return replace(
                    await _note(ctx, client, link, note, item.marker, renew=renew), refused=refused
                )
            return _Sent(resolved=True)
    if noted:
        return _Sent()
    return await _note(ctx, client, link, note, item.marker, renew=renew)


async def _note(
    ctx: Context, client: ServiceNowClient, link: Link, note: str, marker: str, *, renew: Renew
) -> _Sent:
    """Write one work note. The PATCH answers with the incident's state: on a Closed or Canceled
    incident the note may have been dropped silently, so it counts only if the journal shows it."""
    await renew()
    updated = await client.add_work_note(link.ticket_sys_id, note, retry_safe=False, kind=link.kind)
    if updated.state in link.kind.no_journal_states and not await _in_journal(ctx, client, link, marker):
        return _Sent(closed=link.kind.state_label(updated.state, updated.state_label))
    return _Sent()


def _not_delivered(ctx: Context, run: Run, item: OutboxItem, link: Link, state: str) -> None:
    reason = f"not delivered: {link.ticket_number} is {state}"
    sync.mark_failed(ctx.db, item.id, reason, by=ctx.config.replica)
    run.report.not_delivered += 1
    run.report.add_error(reason)
    log.info("sync: %s note for %s %s", item.kind, link.ticket_number, reason)


async def _in_journal(ctx: Context, client: ServiceNowClient, link: Link, marker: str) -> bool:
    """Whether a note carrying `marker` is on the ticket: sys_journal_field, or the record's
    work_notes when the journal refuses or answers no rows (`ServiceNowClient.has_work_note`)."""
    return await client.has_work_note(
        link.ticket_sys_id, marker, lookback=ctx.config.journal_lookback, kind=link.kind
    )


def _attempt_failed(
    ctx: Context, run: Run, item: OutboxItem, link: Link, err: ServiceNowError, started: datetime
) -> None:
    """A definite refusal fails the row at once; anything else schedules a retry, however long the
    failure has lasted, with the reason kept in `last_error`."""
    attempts = item.attempts + 1  # this one included
    reason = f"{link.ticket_number}: {reason_of(err)}"
    if isinstance(err, PERMANENT_ERRORS):
        if item.kind == "resolve":
            ctx.close_codes.forget(link.integration_id)  # a data policy may refuse a stale code
        sync.mark_failed(ctx.db, item.id, reason, by=ctx.config.replica)
        run.report.failed += 1
        run.report.add_error(reason)
        log.warning("sync: %s note for %s failed for good: %s", item.kind, link.ticket_number, reason)
        return
    next_at = started + retry_delay(attempts, err, config=ctx.config, jitter=ctx.jitter)
    if isinstance(err, MAYBE_APPLIED_ERRORS):
        next_at = max(next_at, ctx.clock() + timedelta(seconds=ctx.config.settle_delay))
    sync.mark_retry(ctx.db, item.id, reason, next_at, by=ctx.config.replica)
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


def retry_delay(
    attempts: int, err: ServiceNowError, *, config: SyncConfig, jitter: Callable[[], float]
) -> timedelta:
    """Retry-After when ServiceNow sent one, else exponential backoff with jitter (half to all of it),
    capped at `max_delay` however many attempts there were. (`_attempt_failed` adds the settle delay.)"""
    if isinstance(err, RateLimitError) and err.retry_after is not None:
        return timedelta(seconds=min(err.retry_after, config.max_retry_after))
    doublings = min(attempts - 1, MAX_BACKOFF_DOUBLINGS)
    cap = min(config.max_delay, config.base_delay * 2**doublings)
    return timedelta(seconds=cap * (0.5 + 0.5 * jitter()))
