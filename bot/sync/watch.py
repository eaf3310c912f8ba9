"""The watch step: which links the scheduled passes poll.

An anomaly that is archived and whose incidents are all resolved (every link's stored `resolved` flag, set
by the refresh step) is no longer polled, until a webhook or Slack action names it again
(`SyncEngine.sync_anomalies`); one that is open, or has an open incident, is polled again. Runs on the
database thread, as one call, in one transaction.
"""

from __future__ import annotations

from bot.sync.context import Context, Run
from storage import atomic, links, sync
from storage.links import Link


def update_watch(ctx: Context, run: Run) -> None:
    """Stop polling anomalies that are archived with every incident resolved; poll again the ones
    that are open or have an open incident."""
    stop: list[int] = []
    resume: list[int] = []
    for anomaly_id, anomaly in run.anomalies.items():
        group = run.groups[anomaly_id]
        settled = anomaly.archived and all(_resolved(ctx, run, link) for link in group)
        if settled and run.polling:
            group = links.for_anomaly(ctx.db, anomaly_id)  # its links not polled this pass count too
            settled = all(_resolved(ctx, run, link) for link in group)
        for link in group:
            state = run.states.get(link.id) or sync.get_state(ctx.db, link.id)
            if state is None:
                continue
            if settled and state.watch:
                stop.append(link.id)
            elif not settled and not state.watch:
                resume.append(link.id)
    if stop or resume:
        now = ctx.clock()
        with atomic(ctx.db):
            run.report.unwatched += sync.set_watch(ctx.db, stop, False, now=now)
            run.report.rewatched += sync.set_watch(ctx.db, resume, True, now=now)


def _resolved(ctx: Context, run: Run, link: Link) -> bool:
    state = run.states.get(link.id) or sync.get_state(ctx.db, link.id)
    return state is not None and state.resolved
