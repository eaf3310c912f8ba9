"""Tickets without clicks: each new anomaly (named by a Qualytics Flow's webhook, or found by the poll of
the newest anomalies) is evaluated once against the creation rules, across restarts.

Once: the evaluation is claimed (`pending`) in the database before anything is created, in the same
transaction that moves the poll's high-water mark; it is marked `done` with its outcome after. A pending
evaluation (a crash, a restart, ServiceNow unavailable) is taken up again by the next round: an anomaly
that has a ticket by then (the create finished, or the reconciler finished it from its create intent) is
never given another, and a create that was under way goes through `Tickets.create`, which finishes the
interrupted create from its intent rather than making a second ticket.

For one anomaly: the first enabled rule that matches decides (rules in id order); an anomaly that already
has a ticket is left alone; one that recurs an anomaly whose ticket is open is linked to it
(`bot.usecases.recurrence`); the rate guard pauses a rule that would create more than its `max_per_hour`
tickets in an hour (it says so through the hooks); otherwise the ticket is created from the rule's
template and announced in the rule's channel with the anomaly card (`RuleHooks`).

Never knows about Slack or HTTP (the hooks are given by the composition root).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Runtime, Storage
from bot.usecases.errors import AnomalyNotFound, StorageUnavailable, Upstream, UseCaseError
from bot.usecases.recurrence import Recurrence
from bot.usecases.rules import matches, ticket_form
from bot.usecases.tickets import Tickets
from bot.usecases.values import SlackContext
from qualytics_api import Anomaly
from storage import atomic, intents, links
from storage import rules as store
from storage.links import Link
from storage.rules import Rule

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
POLL_MAX = 1000
"""New anomalies taken in one poll round at most (the newest); older ones beyond are skipped."""


@dataclass(frozen=True)
class RuleHooks:
    """How rules speak (Slack's notifier, given by `bot.composition`; each may be None)."""

    ticket_created: Callable[[Link, str], Awaitable[str | None]] | None = None
    """Announce a link ("create") in its channel with the anomaly card; the message's ts."""
    recurred: Callable[[Link, Link], Awaitable[None]] | None = None
    """A recurrence was linked (the earlier anomaly's link, the new one): its thread and cards are told."""
    paused: Callable[[Rule], Awaitable[None]] | None = None
    """The rate guard paused the rule: say so in its channel."""


def actor_of(rule: Rule) -> str:
    return f"rule {rule.id}"


class AutoCreate:
    def __init__(
        self,
        *,
        storage: Storage,
        anomalies: Anomalies,
        tickets: Tickets,
        recurrence: Recurrence,
        runtime: Runtime,
        hooks: RuleHooks | None = None,
    ) -> None:
        self.storage = storage
        self.anomalies = anomalies
        self.tickets = tickets
        self.recurrence = recurrence
        self.runtime = runtime
        self.hooks = hooks or RuleHooks()
        self._lock = asyncio.Lock()
        """One round at a time in this process (the webhook's and the poll's)."""

    async def notified(self, anomaly_ids: list[int]) -> Counter[str]:
        """The webhook: evaluate the anomalies it names that were never evaluated (and are newer than
        where polling began), then whatever is pending."""
        async with self._lock:
            mark = await self.storage.run(store.cursor)
            fresh = [i for i in anomaly_ids if mark is None or i > mark[1]]
            await self.storage.run(store.claim, fresh, now=self.runtime.clock())
            return await self._evaluate_pending({})

    async def poll(self) -> Counter[str]:
        """The poll: the newest anomalies down to the last one seen, claimed with the new mark in one
        transaction, then every pending evaluation. The first round only sets the mark."""
        async with self._lock:
            mark = await self.storage.run(store.cursor)
            seen = await self.anomalies.newest(last_seen=mark[0] if mark else None, limit=POLL_MAX)
            if seen:
                ids = [a.id for a in seen if mark is not None and a.id > mark[1]]
                await self.storage.call(self._claim_and_advance, ids, max(a.id for a in seen))
            return await self._evaluate_pending({a.id: a for a in seen})

    def _claim_and_advance(self, ids: list[int], newest: int) -> None:
        with atomic(self.storage.db):
            store.claim(self.storage.db, ids, now=self.runtime.clock())
            store.advance(self.storage.db, newest, now=self.runtime.clock())

    async def _evaluate_pending(self, known: dict[int, Anomaly]) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for anomaly_id in await self.storage.run(store.pending):
            outcome = await self._evaluate(anomaly_id, known.get(anomaly_id))
            outcomes[outcome] += 1
        if outcomes:
            log.info("creation rules evaluated new anomalies: %s", dict(outcomes))
        return outcomes

    async def _evaluate(self, anomaly_id: int, anomaly: Anomaly | None) -> str:
        """One pending evaluation to its outcome ("pending" when it must be tried again)."""
        try:
            return await self._decide(anomaly_id, anomaly)
        except (Upstream, StorageUnavailable) as err:
            log.warning("anomaly %s: creation rules will try again: %s", anomaly_id, err.message)
            return "pending"
        except UseCaseError as err:
            await self._finish(anomaly_id, "failed", reason=err.message)
            log.warning("anomaly %s: creation rule failed: %s", anomaly_id, err.message)
            return "failed"

    async def _decide(self, anomaly_id: int, anomaly: Anomaly | None) -> str:
        evaluation = await self.storage.run(store.evaluation, anomaly_id)
        if evaluation is None or evaluation.state != "pending":
            return "done"
        try:
            anomaly = anomaly or await self.anomalies.get(anomaly_id)
        except AnomalyNotFound:
            return await self._finish(anomaly_id, "gone")
        await self.recurrence.remember(anomaly)
        started = evaluation.rule_id  # a create was under way: its rule decided, the guard counted it
        existing = await self.storage.run(links.for_anomaly, anomaly_id)
        if existing:
            # Announced unless the reconciler made the link from an intent it announces itself.
            if started is not None and not await self.storage.run(intents.linked_create, anomaly_id, EPOCH):
                await self._announce(existing[0])
            return await self._finish(
                anomaly_id,
                "created" if started else "has_ticket",
                rule_id=started,
                ticket=existing[0].ticket_number,
            )
        rule = await self._rule_for(anomaly, started)
        if rule is None:
            return await self._finish(anomaly_id, "no_rule")
        if not rule.enabled:
            return await self._finish(anomaly_id, "paused", rule_id=rule.id, reason=rule.paused_reason)
        if started is None:
            earlier = await self.recurrence.open_ticket_for(anomaly, window=rule.recurrence_window)
            if earlier is not None:
                linked = await self.recurrence.recur(
                    self.tickets, anomaly, earlier, actor=actor_of(rule), slack=None
                )
                if self.hooks.recurred is not None:
                    await self._quietly(self.hooks.recurred(earlier.link, linked.link))
                return await self._finish(
                    anomaly_id, "recurred", rule_id=rule.id, ticket=linked.link.ticket_number
                )
            if not await self._within_rate(rule):
                return await self._finish(anomaly_id, "paused", rule_id=rule.id, reason=rule.paused_reason)
            await self.storage.run(store.set_rule, anomaly_id, rule.id)
        return await self._create(rule, anomaly)

    async def _rule_for(self, anomaly: Anomaly, started: int | None) -> Rule | None:
        """The rule that decides: the one a create under way started with, else the first that matches
        (an enabled one; a paused one that matches is returned so the outcome says so)."""
        every = await self.storage.run(store.all_rules)
        if started is not None:
            return next((rule for rule in every if rule.id == started), None)
        matching = [rule for rule in every if matches(rule.match, anomaly)]
        enabled = [rule for rule in matching if rule.enabled]
        paused = [rule for rule in matching if rule.paused_reason]
        return next(iter(enabled or paused), None)

    async def _within_rate(self, rule: Rule) -> bool:
        """True while the rule has created fewer than `max_per_hour` tickets in the last hour; else it is
        paused (once, with its reason) and told through the hooks."""
        now = self.runtime.clock()
        made = await self.storage.run(store.created_since, rule.id, now - timedelta(hours=1))
        if made < rule.max_per_hour:
            return True
        reason = (
            f"paused by snowbot at {now:%Y-%m-%d %H:%M} UTC: it would have created more than {rule.max_per_hour} "
            "tickets in an hour. Look at its dry run, then enable it again."
        )
        if await self.storage.run(store.pause, rule.id, reason, now=now):
            log.warning("rule %s (%s) %s", rule.id, rule.name, reason)
            paused = await self.storage.run(store.get, rule.id)
            if paused is not None and self.hooks.paused is not None:
                await self._quietly(self.hooks.paused(paused))
        rule.paused_reason = reason
        return False

    async def _create(self, rule: Rule, anomaly: Anomaly) -> str:
        form = ticket_form(rule, anomaly, self.anomalies.url(anomaly))
        slack = SlackContext(channel_id=rule.channel_id) if rule.channel_id else None
        created = await self.tickets.create(
            anomaly_id=anomaly.id,
            form=form,
            actor=actor_of(rule),
            slack=slack,
            integration_id=rule.integration_id,
        )
        await self._finish(anomaly.id, "created", rule_id=rule.id, ticket=created.link.ticket_number)
        if not created.announced:
            await self._announce(created.link)
        return "created"

    async def _announce(self, link: Link) -> None:
        """The card in the rule's channel (the link keeps the channel); once: a link announced already has
        its thread."""
        if self.hooks.ticket_created is None or not link.channel_id or link.thread_ts:
            return
        ts = await self._quietly(self.hooks.ticket_created(link, "create"))
        if isinstance(ts, str):
            await self.tickets.attach_thread(link_id=link.id, channel_id=link.channel_id, thread_ts=ts)

    async def _finish(
        self,
        anomaly_id: int,
        outcome: str,
        *,
        rule_id: int | None = None,
        ticket: str | None = None,
        reason: str | None = None,
    ) -> str:
        await self.storage.run(
            store.finish,
            anomaly_id,
            outcome,
            rule_id=rule_id,
            ticket_number=ticket,
            reason=reason,
            now=self.runtime.clock(),
        )
        return outcome

    async def _quietly(self, call: Awaitable[object]) -> object:
        """A hook's failure (Slack down) never undoes what was made: logged."""
        try:
            return await call
        except Exception:
            log.exception("telling Slack about a creation rule failed")
            return None
