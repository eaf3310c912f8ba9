"""Creates and links recorded as intents before their ServiceNow write, and reconciled afterwards: an
interrupted request (a crash, a cancelled task, a write refused after the POST) never leads to a second
incident or a second description block, and what it made is linked (and announced) once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.settings import Settings
from bot.usecases import DatabaseBusy, SlackContext, Snowbot, TicketForm, Upstream
from emulators.servicenow import ServiceNowEmulator
from storage import intents, links
from storage.links import Link
from tests.conftest import no_sleep

from .test_usecases import SlowCreateTransport, blocks_and_notes, posts, with_correlation_id

FORM = TicketForm(short_description="Null values in orders")


class HeldWrite(httpx.AsyncBaseTransport):
    """The first `method` request reaches ServiceNow only once `release` is set (a slow instance or a proxy
    holding it); `arrived` says it is held. Cancelling the caller does not stop it: it is on the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str = "POST") -> None:
        self.inner, self.method = inner, method
        self.arrived, self.release = asyncio.Event(), asyncio.Event()
        self.forwarded: asyncio.Task[httpx.Response] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and self.forwarded is None:
            await request.aread()
            self.forwarded = asyncio.create_task(self._forward(request))
            self.arrived.set()
            return await asyncio.shield(self.forwarded)
        return await self.inner.handle_async_request(request)

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        await self.release.wait()
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def applied(self) -> None:
        self.release.set()
        assert self.forwarded is not None
        await self.forwarded


async def interrupted(bot: Snowbot, held: HeldWrite, call: Callable[[], object]) -> None:
    """Start `call`, wait until its write is held, cancel it (the person's request dies with the process)."""
    task = asyncio.ensure_future(call())  # type: ignore[arg-type]
    await held.arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancelled_create_keeps_its_intent_and_reconciling_links_the_incident_once(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    held = HeldWrite(sn_emulator.transport())
    bot = make_snowbot(settings, servicenow_transport=held)
    await interrupted(bot, held, lambda: bot.create_ticket_for_anomaly(824, FORM, "U1"))
    [intent] = intents.open_intents(bot.db)
    assert (intent.kind, intent.anomaly_id, intent.actor) == ("create", 824, "U1")
    assert intent.fields["short_description"] == FORM.short_description
    await held.applied()  # ServiceNow finishes the POST nobody waits for any more

    assert (await bot.reconcile_intents())["linked"] == 1
    [made] = with_correlation_id(sn_emulator)
    [link] = links.for_anomaly(bot.db, 824)
    assert (link.ticket_sys_id, link.created_by) == (made["sys_id"], "U1")
    retry = await bot.create_ticket_for_anomaly(824, FORM, "U1")

    assert retry.incident.sys_id == made["sys_id"] and "no second incident" in retry.message
    assert len(posts(sn_emulator)) == 1 and len(links.for_anomaly(bot.db, 824)) == 1
    assert intents.open_intents(bot.db) == []


async def test_the_retry_of_an_unconfirmed_create_links_the_incident_instead_of_making_a_second(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    slow = SlowCreateTransport(sn_emulator.transport(), release_after_first_lookup=False)
    bot = make_snowbot(settings, servicenow_transport=slow)
    bot.sleep = no_sleep
    with pytest.raises(Upstream, match="correlation id"):
        await bot.create_ticket_for_anomaly(824, FORM, "U1")
    slow.release.set()
    await slow.wait_applied()  # it appears in ServiceNow after all

    retry = await bot.create_ticket_for_anomaly(824, FORM, "U1")

    [made] = with_correlation_id(sn_emulator)
    assert retry.incident.sys_id == made["sys_id"]
    assert len(posts(sn_emulator)) == 1
    assert [link.ticket_sys_id for link in links.for_anomaly(bot.db, 824)] == [made["sys_id"]]


async def test_a_retry_while_the_earlier_post_may_be_in_flight_waits_and_after_the_settle_creates(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    slow = SlowCreateTransport(sn_emulator.transport(), release_after_first_lookup=False)
    bot = make_snowbot(settings, servicenow_transport=slow)
    bot.sleep = no_sleep
    with pytest.raises(Upstream):
        await bot.create_ticket_for_anomaly(824, FORM, "U1")

    with pytest.raises(Upstream, match="was interrupted"):
        await bot.create_ticket_for_anomaly(824, FORM, "U1")
    assert len(posts(sn_emulator)) == 0  # the held POST has not arrived; nothing new was sent

    later = datetime.now(UTC) + timedelta(seconds=bot.intent_settle + 1)
    bot.clock = lambda: later  # the held POST has surely ended without a trace: its intent is retired
    created = await bot.create_ticket_for_anomaly(824, FORM, "U1")
    assert created.incident.correlation_id.startswith("snowbot:824:")
    assert intents.open_intents(bot.db) == []


async def test_a_create_servicenow_refuses_leaves_no_intent(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    sn_emulator.faults.fail_next(403)
    with pytest.raises(Upstream):
        await snowbot.create_ticket_for_anomaly(824, FORM, "U1")
    assert intents.open_intents(snowbot.db) == []
    assert (await snowbot.create_ticket_for_anomaly(824, FORM, "U1")).incident.number


def hold_write_lock(snowbot: Snowbot, settings: Settings) -> sqlite3.Connection:
    """Another writer takes the database's write lock; the bot waits only 50 ms for it."""
    snowbot.db.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(settings.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_busy_database_before_the_post_creates_nothing(
    snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    await snowbot.list_integrations()  # warm: the integration and the client exist
    other = hold_write_lock(snowbot, settings)
    try:
        with pytest.raises(DatabaseBusy, match="nothing was created"):
            await snowbot.create_ticket_for_anomaly(824, FORM, "U1")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert posts(sn_emulator) == [] and with_correlation_id(sn_emulator) == []


class LockAfterPost(httpx.AsyncBaseTransport):
    """Lets the POST through, then another writer takes the database before the link can be stored."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lock: Callable[[], sqlite3.Connection]) -> None:
        self.inner, self.lock = inner, lock
        self.other: sqlite3.Connection | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and self.other is None:
            self.other = self.lock()
        return response


async def test_a_link_refused_after_the_post_is_finished_from_the_intent(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    announced: list[tuple[Link, str]] = []

    async def announce(link: Link, kind: str) -> str:
        announced.append((link, kind))
        return "1700000000.000200"

    holder: list[Snowbot] = []
    transport = LockAfterPost(sn_emulator.transport(), lambda: hold_write_lock(holder[0], settings))
    bot = make_snowbot(settings, servicenow_transport=transport, announcer=announce)
    holder.append(bot)
    with pytest.raises(DatabaseBusy, match="Do not create or link it again") as refused:
        await bot.create_ticket_for_anomaly(824, FORM, "U1", SlackContext("C1", "1700000000.000100"))
    [made] = with_correlation_id(sn_emulator)
    assert made["number"] in refused.value.message
    assert transport.other is not None
    transport.other.execute("ROLLBACK")
    transport.other.close()
    assert (await bot.reconcile_intents())["linked"] == 1
    assert await bot.reconcile_intents() == {"linked": 0, "retired": 0, "undecided": 0, "announced": 0}

    [(link, kind)] = announced  # the Slack thread hears about it once
    assert (link.ticket_sys_id, link.channel_id, link.thread_ts, kind) == (
        made["sys_id"],
        "C1",
        "1700000000.000100",
        "create",
    )
    retry = await bot.create_ticket_for_anomaly(824, FORM, "U1", SlackContext("C1", "1700000000.000100"))
    assert retry.incident.sys_id == made["sys_id"] and retry.announced  # the handler does not post it again
    assert len(posts(sn_emulator)) == 1


async def test_an_announcement_outside_a_thread_becomes_the_links_thread(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    async def announce(link: Link, kind: str) -> str:
        return "1700000000.000300"

    held = HeldWrite(sn_emulator.transport())
    bot = make_snowbot(settings, servicenow_transport=held, announcer=announce)
    await interrupted(bot, held, lambda: bot.create_ticket_for_anomaly(824, FORM, "U1", SlackContext("C1")))
    await held.applied()

    assert (await bot.reconcile_intents())["announced"] == 1
    [link] = links.for_anomaly(bot.db, 824)
    assert (link.channel_id, link.thread_ts) == ("C1", "1700000000.000300")


async def test_a_link_whose_patch_is_still_in_flight_is_not_appended_twice(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    held = HeldWrite(sn_emulator.transport(), method="PATCH")
    bot = make_snowbot(settings, servicenow_transport=held)
    await interrupted(bot, held, lambda: bot.link_existing_ticket(824, "INC0000001", "U2"))
    [intent] = intents.open_intents(bot.db)
    assert (intent.kind, intent.ticket_number) == ("link", "INC0000001")

    with pytest.raises(Upstream, match="was interrupted"):
        await bot.link_existing_ticket(824, "INC0000001", "U2")  # the held PATCH may still apply
    assert blocks_and_notes(sn_emulator, "INC0000001") == (0, 0)
    await held.applied()

    linked = await bot.link_existing_ticket(824, "INC0000001", "U2")

    assert linked.incident.number == "INC0000001"
    assert blocks_and_notes(sn_emulator, "INC0000001") == (1, 1)
    assert [r.method for r in sn_emulator.requests].count("PATCH") == 1
    assert intents.open_intents(bot.db) == [] and len(links.for_anomaly(bot.db, 824)) == 1


async def test_reconciling_a_link_reads_the_journal_when_the_description_lost_the_block(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    held = HeldWrite(sn_emulator.transport(), method="PATCH")
    bot = make_snowbot(settings, servicenow_transport=held)
    await interrupted(bot, held, lambda: bot.link_existing_ticket(824, "INC0000001", "U2"))
    await held.applied()
    row = sn_emulator.get_by_number("INC0000001")
    assert row is not None
    row["description"] = "someone rewrote the description since"

    assert (await bot.reconcile_intents())["linked"] == 1
    assert [link.ticket_number for link in links.for_anomaly(bot.db, 824)] == ["INC0000001"]
    assert [r.method for r in sn_emulator.requests].count("PATCH") == 1


async def test_an_interrupted_create_of_a_problem_is_reconciled_in_the_problem_table(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    """The intent carries its ticket kind (issue 13): reconciling looks the correlation id up in the
    problem table, not the incident table, and links the problem once."""
    held = HeldWrite(sn_emulator.transport())
    bot = make_snowbot(settings, servicenow_transport=held)
    problem = TicketForm(short_description="Recurring nulls in orders", ticket_type="problem")
    await interrupted(bot, held, lambda: bot.create_ticket_for_anomaly(824, problem, "U1"))
    [intent] = intents.open_intents(bot.db)
    assert intent.ticket_kind == "problem"
    await held.applied()

    assert (await bot.reconcile_intents())["linked"] == 1
    [made] = [row for row in sn_emulator.records("problem").values() if row["correlation_id"]]
    [link] = links.for_anomaly(bot.db, 824)
    assert (link.ticket_sys_id, link.ticket_kind, link.status) == (made["sys_id"], "problem", "New")
    assert made["number"].startswith("PRB") and not with_correlation_id(sn_emulator)  # no incident made
