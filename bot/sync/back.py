"""The ServiceNow-side step: what people do on linked tickets goes back to the anomaly's Slack thread and,
with the integration's `sync_back` on, to Qualytics. Exactly once, with no loops.

Reading (`read_tickets`, the refresh step's reader). Per integration and ticket table, one query per 100
linked tickets asks only for those updated after the watermark (`sys_idIN...^sys_updated_on>W`,
`servicenow.changes`); a ticket not read before, a link never refreshed and a named pass (webhook, Slack)
read their tickets whatever the watermark. `sys_updated_on` has whole seconds, so the query starts one
second before the watermark and a ticket whose `sys_updated_on` is the one last handled
(`storage.syncback`) is not handled again.

Recording (`record_back`, after the refresh). For each changed ticket seen before, the journal entries
created since it was last handled are read, up to 100 tickets per query (sys_journal_field, else the
tickets' `work_notes` and `comments`). Entries snowbot wrote (`notes.is_own_note`, or by the
integration's own account) are skipped. Per link of the ticket, in one transaction with the ticket's new
`sys_updated_on` and state (ON CONFLICT DO NOTHING on the entry's key): each entry (to the Slack thread
when the link has one; to Qualytics when `sync_back` is on), the ticket's closure when it entered one of
its kind's resolved states (`resolved_states`; Qualytics only: the refresh step posts the thread note),
and with `comment_and_archive` the archive of an anomaly all of whose tickets are now resolved or closed
(none in `canceled_states`). A ticket seen for the first time is only baselined: nothing before it
crosses. The watermark of an integration and table is advanced, after that, only by a polling pass
whose every read of it succeeded.

Delivering (`deliver_back`). Slack first: the row is claimed before the post (a crash skips a note, never
repeats it). Qualytics: the row is claimed with a lease (`attempts` counted); a row whose earlier attempt
may have reached Qualytics (a lost answer, a crash) is looked for by its marker among the anomaly's
comments before anything is sent again, and a retry after an answer that may have applied it waits
`settle_delay` first: a comment is never posted twice. Each comment snowbot writes carries its
`snowback-` marker, which the forward sync (`bot.sync.detect`) skips, so nothing comes back to
ServiceNow. An archive waits for the anomaly's earlier comments (an archived anomaly takes none), is
skipped when the anomaly is archived already, and nothing is ever restored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.sync import notes
from bot.sync.context import Context, Run
from bot.sync.report import reason_of
from qualytics_api import Anomaly, QualyticsError
from qualytics_api.errors import QualyticsBadRequestError, QualyticsNotFoundError, QualyticsUnavailableError
from servicenow import Incident, ServiceNowClient
from servicenow.changes import BATCH, JournalItem, TicketChange
from servicenow.errors import ServiceNowError
from servicenow.kinds import TicketKind
from storage import integrations, links, syncback
from storage.links import Link
from storage.syncback import BackItem, NewItem, TicketSeen

log = logging.getLogger("bot.sync.engine")  # the name the sync's log lines have always carried

_SECOND = timedelta(seconds=1)
_STAMP = "%Y-%m-%d %H:%M:%S"


class QualyticsWriter(Protocol):
    """What the step needs of Qualytics beyond reading (`qualytics_api.QualyticsClient` is one)."""

    async def get_anomaly(self, anomaly_id: int) -> Anomaly: ...

    async def add_comment(self, anomaly_id: int, message: str) -> object: ...

    async def archive(self, anomaly_id: int, status: str = "Resolved") -> None: ...


class TicketNotifier(Protocol):
    """A notifier that also posts a ServiceNow journal entry in the anomaly's thread (Slack's does)."""

    async def ticket_note(self, link: Link, payload: dict[str, Any]) -> None: ...


@dataclass
class _Changed:
    integration_id: int
    kind: TicketKind
    change: TicketChange
    links: list[Link]
    before: TicketSeen | None


@dataclass
class BackPass:
    """What `read_tickets` learnt in this pass, for `record_back`."""

    changed: list[_Changed] = field(default_factory=list)
    newest: dict[tuple[int, str], str] = field(default_factory=dict)
    read: set[tuple[int, str]] = field(default_factory=set)
    failed: set[tuple[int, str]] = field(default_factory=set)


def _memory(run: Run) -> BackPass:
    if run.back is None:
        run.back = BackPass()
    memory: BackPass = run.back
    return memory


# --- reading ---------------------------------------------------------------------------------------------


async def read_tickets(
    ctx: Context, run: Run, client: ServiceNowClient, integration_id: int, group: Sequence[Link]
) -> list[Incident]:
    """The tickets of `group` (links of one integration) that changed since the watermark, or all of
    them (see the module docstring); raises the `ServiceNowError` of a failed read."""
    memory = _memory(run)
    by_kind: dict[str, list[Link]] = defaultdict(list)
    for link in group:
        by_kind[link.ticket_kind].append(link)
    tickets: list[Incident] = []
    for kind_links in by_kind.values():
        kind = kind_links[0].kind
        key = (integration_id, kind.table)
        sys_ids = [link.ticket_sys_id for link in kind_links]
        seen = await ctx.store.run(syncback.seen, ctx.db, integration_id, sys_ids)
        mark = await ctx.store.run(syncback.watermark, ctx.db, integration_id, kind.table)
        known = all(link.last_synced_at is not None and link.ticket_sys_id in seen for link in kind_links)
        since = _before(mark) if run.polling and mark and known else None
        try:
            changes = await client.changed_since(kind, sys_ids, since)
        except ServiceNowError:
            memory.failed.add(key)
            raise
        memory.read.add(key)
        if since is not None:  # the others were asked about too: their last sync is now
            answered = {change.ticket.sys_id for change in changes}
            quiet = [link.id for link in kind_links if link.ticket_sys_id not in answered]
            await ctx.store.run(syncback.checked, ctx.db, quiet, now=ctx.clock())
        by_sys_id: dict[str, list[Link]] = defaultdict(list)
        for link in kind_links:
            by_sys_id[link.ticket_sys_id].append(link)
        for change in changes:
            tickets.append(change.ticket)
            if change.updated_on and change.updated_on > memory.newest.get(key, ""):
                memory.newest[key] = change.updated_on
            before = seen.get(change.ticket.sys_id)
            if (
                before is None
                or before.updated_on != change.updated_on
                or before.mod_count != change.mod_count
                or before.state != change.ticket.state
            ):
                memory.changed.append(
                    _Changed(integration_id, kind, change, by_sys_id[change.ticket.sys_id], before)
                )
    return tickets


def _before(mark: str) -> str:
    """One second before the watermark (whole seconds: an update in the same second is not missed)."""
    try:
        return (datetime.strptime(mark, _STAMP) - _SECOND).strftime(_STAMP)
    except ValueError:
        return mark


# --- recording -------------------------------------------------------------------------------------------


async def record_back(ctx: Context, run: Run) -> None:
    """Read the new journal entries of the changed tickets, record what crosses with each ticket's new
    state, then advance the watermarks a polling pass read in full."""
    memory = run.back
    if not isinstance(memory, BackPass):
        return
    chunks: dict[tuple[int, str], list[_Changed]] = defaultdict(list)
    for changed in memory.changed:
        chunks[(changed.integration_id, changed.kind.table)].append(changed)
    for key, changed_list in chunks.items():
        for start in range(0, len(changed_list), BATCH):
            chunk = changed_list[start : start + BATCH]
            try:
                await _record_chunk(ctx, run, chunk)
            except ServiceNowError as err:
                memory.failed.add(key)
                run.report.refresh_failures += 1
                run.report.add_error(f"reading journal entries back: {reason_of(err)}")
                log.info("sync: journal of %d tickets not read: %s", len(chunk), reason_of(err))
    if not run.polling:
        return
    for key in memory.read - memory.failed:
        if newest := memory.newest.get(key):
            await ctx.store.run(syncback.advance_watermark, ctx.db, key[0], key[1], newest)


async def _record_chunk(ctx: Context, run: Run, chunk: list[_Changed]) -> None:
    integration_id, kind = chunk[0].integration_id, chunk[0].kind
    earlier = [changed for changed in chunk if changed.before is not None]
    entries: list[JournalItem] = []
    if earlier:
        client = await ctx.servicenow(integration_id)
        since = min(changed.before.updated_on for changed in earlier if changed.before)
        entries = await client.journal_since(kind, [c.change.ticket.sys_id for c in earlier], since)
    by_ticket: dict[str, list[JournalItem]] = defaultdict(list)
    for entry in entries:
        by_ticket[entry.ticket_sys_id].append(entry)
    await ctx.store.run(_record, ctx, run, chunk, by_ticket)


def _record(ctx: Context, run: Run, chunk: list[_Changed], by_ticket: dict[str, list[JournalItem]]) -> None:
    """On the database thread: each ticket of the chunk and what crosses from it, one transaction each."""
    integration_id = chunk[0].integration_id
    integration = integrations.get(ctx.db, integration_id)
    account = integration.username if integration else ""
    mode = syncback.mode(ctx.db, integration_id)
    now = ctx.clock()
    current = {(c.integration_id, c.change.ticket.sys_id): c.change.ticket.state for c in chunk}
    for changed in chunk:
        ticket, kind = changed.change.ticket, changed.kind
        closed = ticket.state in kind.resolved_states
        items: list[NewItem] = []
        if changed.before is not None:
            fresh = [
                entry
                for entry in by_ticket.get(ticket.sys_id, [])
                if entry.created_on is None or entry.created_on.strftime(_STAMP) >= changed.before.updated_on
            ]
            for entry in fresh:
                if notes.is_own_note(entry.text) or (account and entry.created_by == account):
                    continue
                items.extend(_note_items(changed, entry, mode))
            if closed and not changed.before.closed:
                items.extend(_closed_items(ctx, changed, mode, current))
        added = syncback.record_ticket(
            ctx.db,
            integration_id=integration_id,
            table=kind.table,
            sys_id=ticket.sys_id,
            updated_on=changed.change.updated_on,
            mod_count=changed.change.mod_count,
            state=ticket.state,
            closed=closed,
            items=items,
            now=now,
        )
        run.report.events_recorded += added


def _note_items(changed: _Changed, entry: JournalItem, mode: str) -> list[NewItem]:
    payload = {
        "kind": "note",
        "number": changed.change.ticket.number,
        "label": entry.label,
        "who": entry.created_by,
        "text": entry.text,
    }
    return [
        {
            "link_id": link.id,
            "entry_key": f"journal:{entry.key}",
            "kind": "note",
            "payload": {**payload, "anomaly_id": link.anomaly_id},
            "slack": bool(link.channel_id and link.thread_ts),
            "qualytics": mode != "off",
        }
        for link in changed.links
    ]


def _closed_items(
    ctx: Context, changed: _Changed, mode: str, current: dict[tuple[int, str], str]
) -> list[NewItem]:
    change, kind = changed.change, changed.kind
    state = change.ticket.state
    verb = kind.state_label(state, change.ticket.state_label).lower()
    payload = {
        "kind": "closed",
        "number": change.ticket.number,
        "verb": verb,
        "who": change.who,
        "close_code": change.close_code,
        "close_notes": change.close_notes,
    }
    items: list[NewItem] = []
    for link in changed.links:
        items.append(
            {
                "link_id": link.id,
                "entry_key": f"closed:{change.updated_on}",
                "kind": "closed",
                "payload": {**payload, "anomaly_id": link.anomaly_id},
                "slack": False,
                "qualytics": mode != "off",
            }
        )
        if mode == "comment_and_archive" and state not in kind.canceled_states:
            if _all_done(ctx, link.anomaly_id, current):
                items.append(
                    {
                        "link_id": link.id,
                        "entry_key": "archive",
                        "kind": "archive",
                        "payload": {
                            "kind": "archive",
                            "anomaly_id": link.anomaly_id,
                            "number": change.ticket.number,
                        },
                        "slack": False,
                        "qualytics": True,
                    }
                )
    return items


def _all_done(ctx: Context, anomaly_id: int, current: dict[tuple[int, str], str]) -> bool:
    """Every ticket linked to the anomaly is resolved or closed (none canceled, none open)."""
    group = links.for_anomaly(ctx.db, anomaly_id)
    known = syncback.states(ctx.db, [(link.integration_id, link.ticket_sys_id) for link in group])
    for link in group:
        pair = (link.integration_id, link.ticket_sys_id)
        state = current.get(pair, known.get(pair))
        if state is None or state not in link.kind.resolved_states or state in link.kind.canceled_states:
            return False
    return True


# --- delivering ------------------------------------------------------------------------------------------


async def deliver_back(ctx: Context, run: Run) -> None:
    """Post due rows to Slack and write them to Qualytics, oldest first (see the module docstring)."""
    due = await ctx.store.run(syncback.due, ctx.db, ctx.clock())
    for item in due:
        link = run.link(item.link_id) or await ctx.store.run(links.get, ctx.db, item.link_id)
        if link is None:
            continue
        if item.slack_state == "pending":
            await _to_slack(ctx, run, item, link)
        if item.qualytics_state in ("pending", "sending") and item.next_attempt_at <= ctx.clock():
            await _to_qualytics(ctx, run, item, link)


async def _to_slack(ctx: Context, run: Run, item: BackItem, link: Link) -> None:
    tell = getattr(ctx.notifier, "ticket_note", None)
    if tell is None or not await ctx.store.run(syncback.claim_slack, ctx.db, item.id):
        return
    try:
        await tell(link, item.payload)
    except Exception:  # Slack's failure must not stop the sync; the row was claimed: never posted twice
        log.exception("sync: posting a ServiceNow note of %s in Slack failed", link.ticket_number)
    else:
        run.report.notified += 1


async def _to_qualytics(ctx: Context, run: Run, item: BackItem, link: Link) -> None:
    writer: Any = ctx.qualytics
    if not all(hasattr(writer, name) for name in ("add_comment", "archive")):
        return
    if item.kind == "archive":
        if await ctx.store.run(syncback.open_before, ctx.db, link.anomaly_id, item.id) > 0:
            return  # the anomaly's earlier comments go first: an archived anomaly takes none
    if not await ctx.store.run(syncback.claim, ctx.db, item.id, now=ctx.clock()):
        return
    try:
        await _write(writer, item, link)
    except QualyticsError as err:
        await ctx.store.run(_failed, ctx, run, item, err)
        return
    await ctx.store.run(syncback.mark_done, ctx.db, item.id, now=ctx.clock())
    run.report.notes_sent += 1


async def _write(writer: QualyticsWriter, item: BackItem, link: Link) -> None:
    anomaly_id = link.anomaly_id
    if item.kind == "archive":
        anomaly = await writer.get_anomaly(anomaly_id)
        if not anomaly.archived:  # archived already (by a person, or an earlier attempt): never again
            await writer.archive(anomaly_id, "Resolved")
            log.info("sync: anomaly %s archived as Resolved: all its tickets are resolved", anomaly_id)
        return
    if item.maybe_sent:  # an earlier attempt may have landed: look for its marker first
        anomaly = await writer.get_anomaly(anomaly_id)
        if any(item.marker in comment.message for comment in anomaly.comments):
            log.info("sync: comment on anomaly %s was already there (ref %s)", anomaly_id, item.marker)
            return
    await writer.add_comment(anomaly_id, notes.back_comment(item.payload, item.marker))


def _failed(ctx: Context, run: Run, item: BackItem, err: QualyticsError) -> None:
    reason = f"anomaly {item.payload.get('anomaly_id')}: {err}"
    if isinstance(err, QualyticsBadRequestError | QualyticsNotFoundError):
        syncback.mark_failed(ctx.db, item.id, reason)
        run.report.failed += 1
        run.report.add_error(reason[:500])
        log.warning("sync: Qualytics refused a comment from ServiceNow: %s", reason)
        return
    delay = min(ctx.config.max_delay, ctx.config.base_delay * 2 ** min(item.attempts, 16))
    if isinstance(err, QualyticsUnavailableError) and err.maybe_applied:
        delay = max(delay, ctx.config.settle_delay)
    syncback.mark_retry(ctx.db, item.id, reason, ctx.clock() + timedelta(seconds=delay))
    run.report.retried += 1
    run.report.add_error(reason[:500])
