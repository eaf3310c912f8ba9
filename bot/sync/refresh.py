"""The refresh step: linked incidents read back, their states stored, closed ones told once.

The linked incidents (of a scheduled pass: every watched link, its anomaly due or not) are read back in
batches of 100 (`ServiceNowClient.get_incidents`); each link gets the
state's label and the sync time. When an incident enters one of its kind's resolved states (an incident's
Resolved, Closed or Canceled: `servicenow.kinds`) the notifier (the Slack thread) hears about it once: the
flag is stored before the call, so a crash may skip a message but never repeats one. A notifier that also
has `anomaly_changed(anomaly)` (Slack's keeps its anomaly cards current) hears of every anomaly read this
pass whose state or incidents changed (`tell_changed`). A notifier's failure is only logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from bot.sync.back import read_tickets
from bot.sync.context import Context, Run
from bot.sync.report import reason_of
from servicenow import Incident
from servicenow.errors import ServiceNowError
from storage import atomic, links, sync
from storage.links import Link

log = logging.getLogger("bot.sync.engine")  # the name the sync's log lines have always carried

REFRESH_BATCH = 100


async def refresh(ctx: Context, run: Run) -> None:
    """Read the linked incidents back (100 per request), store each link's state label and sync
    time, record resolved transitions and tell the notifier about closed ones."""
    by_integration: dict[tuple[int, str], list[Link]] = defaultdict(list)
    for group in (run.groups if run.refresh_groups is None else run.refresh_groups).values():
        for link in group:  # one table per request: each kind's links are read from their own
            by_integration[(link.integration_id, link.ticket_kind)].append(link)
    batches = [
        (integration_id, group[start : start + REFRESH_BATCH])
        for integration_id, group in by_integration.items()
        for start in range(0, len(group), REFRESH_BATCH)
    ]
    found: list[tuple[Link, Incident]] = []

    async def read(batch: tuple[tuple[int, str], list[Link]]) -> None:
        (integration_id, _), group = batch
        try:
            client = await ctx.servicenow(integration_id)
            incidents = await read_tickets(ctx, run, client, integration_id, group)  # changed ones only
        except ServiceNowError as err:
            run.report.refresh_failures += 1
            run.report.add_error(f"reading incidents back: {reason_of(err)}")
            log.info("sync: refresh of %d incidents failed: %s", len(group), reason_of(err))
            return
        by_sys_id = {incident.sys_id: incident for incident in incidents}
        found.extend(
            (link, by_sys_id[link.ticket_sys_id]) for link in group if link.ticket_sys_id in by_sys_id
        )

    await ctx.each(batches, read)
    now = ctx.clock()
    closed: list[tuple[Link, Incident]] = []

    def record() -> dict[int, str]:  # one transaction, on the database thread
        with atomic(ctx.db):
            for link, incident in found:
                state = run.states.get(link.id) or sync.get_state(ctx.db, link.id)
                is_closed = incident.state in link.kind.resolved_states
                if state is None or state.resolved == is_closed:
                    continue
                sync.set_resolved(ctx.db, link.id, is_closed, now=now)
                run.states[link.id] = state.model_copy(update={"resolved": is_closed})
                if is_closed:
                    run.report.incidents_closed += 1
                    if link.channel_id and link.thread_ts:
                        closed.append((link, incident))
            statuses = {
                link.id: link.kind.state_label(incident.state, incident.state_label)
                for link, incident in found
            }
            links.update_statuses(ctx.db, statuses, synced_at=now)
            links.set_ticket_updated(  # the card's "last change" (bot.slack.blocks)
                ctx.db, {link.id: ticket.updated_on for link, ticket in found if ticket.updated_on}
            )
            return statuses

    statuses = await ctx.store.run(record)
    run.changed.update(  # a new link (never refreshed) or a new state
        link.anomaly_id
        for link, _ in found
        if link.last_synced_at is None or statuses[link.id] != link.status
    )
    run.report.links_refreshed = len(found)
    await _notify(ctx, run, closed)


async def _notify(ctx: Context, run: Run, closed: Sequence[tuple[Link, Incident]]) -> None:
    if ctx.notifier is None:
        return
    for link, incident in closed:
        try:
            await ctx.notifier.incident_closed(link, incident)
        except Exception:  # a Slack failure must not stop the sync; the flag is stored already
            log.exception("sync: telling the Slack thread that %s closed failed", incident.number)
        else:
            run.report.notified += 1


async def tell_changed(ctx: Context, run: Run) -> None:
    """A notifier with `anomaly_changed(anomaly)` (Slack's keeps its anomaly cards current) hears of
    every anomaly read this pass whose state or incidents changed; a failure is only logged."""
    tell = getattr(ctx.notifier, "anomaly_changed", None)
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
