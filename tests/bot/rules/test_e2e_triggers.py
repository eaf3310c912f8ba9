"""Creation rules end to end through the emulators: the webhook and the poll trigger them, each new
anomaly is evaluated once (across restarts), a crash between create and link is finished from the create
intent, and a storm of new anomalies never outruns the rate guard."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.sync.wiring import sync_extension
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import intents, links
from storage import rules as store
from tests.bot.test_intents import HeldWrite

from .conftest import NOW, Told, new_anomaly, spec

SECRET = "flow-secret-1234"


def SecretSettings(settings: Settings) -> Settings:  # noqa: N802
    """The same settings with the webhook's shared secret set."""
    return Settings(_env_file=None, **{**settings.model_dump(), "webhook_secret": SECRET})  # type: ignore[call-arg]


def rule_incidents(sn: ServiceNowEmulator) -> list[dict[str, str]]:
    return [row for row in sn.incidents.values() if row["short_description"].startswith("between anomaly")]


async def test_the_first_poll_only_sets_the_mark_then_new_anomalies_get_one_ticket_each(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator, told: Told
) -> None:
    rule = await bot.create_rule(spec(), actor="U1")
    assert await bot.poll_new_anomalies() == {}  # 824 matches too, but it was there before
    new_anomaly(q_emulator, 900)
    new_anomaly(q_emulator, 901, weight=10)  # below min_weight
    new_anomaly(q_emulator, 902, datastore=7, container=71)

    assert await bot.poll_new_anomalies() == {"created": 1, "no_rule": 2}
    [made] = rule_incidents(sn_emulator)
    assert made["short_description"] == "between anomaly 900 in orders_daily"
    assert made["urgency"] == "2" and "Found by rule: max_value out of range (900)" in made["description"]
    [link] = links.for_anomaly(bot.db, 900)
    assert (link.ticket_number, link.created_by, link.channel_id) == (
        made["number"],
        f"rule {rule.id}",
        "C0RULES",
    )
    assert [t.anomaly_id for t in told.created] == [900]
    assert links.get(bot.db, link.id).thread_ts == "1700000000.000001"  # announced: the thread of its card

    q_emulator.reset_log()
    assert await bot.poll_new_anomalies() == {}
    listed = [r for r in q_emulator.requests if r.path.endswith("/anomalies")]
    assert len(listed) == 1  # stopped at the last anomaly seen, on the first page
    assert len(rule_incidents(sn_emulator)) == 1 and len(told.created) == 1


async def test_the_webhook_evaluates_the_anomalies_it_names_once(
    bot: Snowbot,
    settings: Settings,
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
    told: Told,
) -> None:
    await bot.create_rule(spec(), actor="U1")
    await bot.poll_new_anomalies()
    new_anomaly(q_emulator, 900)
    app = build_app(SecretSettings(settings), snowbot=bot, extensions=[sync_extension])
    body = {"message": "New anomaly: https://demo.qualytics.io/datastores/23/anomalies?id=900"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for _ in range(2):  # a Flow that fires twice
            answer = await http.post(
                "/webhooks/qualytics", json=body, headers={"Authorization": f"Bearer {SECRET}"}
            )
            assert answer.status_code == 202, answer.text
    [made] = rule_incidents(sn_emulator)
    assert [link.ticket_number for link in links.for_anomaly(bot.db, 900)] == [made["number"]]
    assert len(told.created) == 1
    assert store.evaluation(bot.db, 900).outcome == "created"  # type: ignore[union-attr]
    assert await bot.poll_new_anomalies() == {}  # the poll sees it evaluated already


async def test_a_rule_never_creates_a_ticket_for_an_anomaly_that_has_one(
    bot: Snowbot, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator
) -> None:
    from bot.usecases import TicketForm

    await bot.create_rule(spec(), actor="U1")
    await bot.poll_new_anomalies()
    new_anomaly(q_emulator, 900)
    by_hand = await bot.create_ticket_for_anomaly(900, TicketForm(short_description="by hand"), "U2")
    assert await bot.poll_new_anomalies() == {"has_ticket": 1}
    assert [link.ticket_number for link in links.for_anomaly(bot.db, 900)] == [by_hand.incident.number]


async def test_a_restart_between_detect_and_create_creates_the_ticket_once_afterwards(
    make_snowbot: Callable[..., Snowbot],
    settings: Settings,
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    first = make_snowbot(settings)
    await first.create_rule(spec(), actor="U1")
    await first.poll_new_anomalies()
    new_anomaly(q_emulator, 900)
    down = httpx.MockTransport(lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused")))
    cut_off = make_snowbot(settings, servicenow_transport=down)
    assert await cut_off.poll_new_anomalies() == {"pending": 1}  # detected; ServiceNow unreachable
    assert store.pending(cut_off.db) == [900] and not rule_incidents(sn_emulator)
    await cut_off.aclose()

    restarted = make_snowbot(settings)  # the same database, a new process
    assert await restarted.poll_new_anomalies() == {"created": 1}
    assert await restarted.poll_new_anomalies() == {}
    assert len(rule_incidents(sn_emulator)) == 1


async def test_a_crash_between_create_and_link_is_finished_from_the_create_intent(
    make_snowbot: Callable[..., Snowbot],
    settings: Settings,
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    told = Told()
    first = make_snowbot(settings, rule_hooks=told.hooks())
    await first.create_rule(spec(), actor="U1")
    await first.poll_new_anomalies()
    new_anomaly(q_emulator, 900)
    held = HeldWrite(sn_emulator.transport())
    dying = make_snowbot(settings, servicenow_transport=held)
    task = asyncio.ensure_future(dying.poll_new_anomalies())
    await held.arrived.wait()
    task.cancel()  # the process dies with the POST on the wire
    with pytest.raises(asyncio.CancelledError):
        await task
    await held.applied()  # ServiceNow made the incident; nobody linked it
    [intent] = intents.open_intents(dying.db)
    assert intent.anomaly_id == 900 and intent.channel_id == "C0RULES"

    restarted = make_snowbot(settings, rule_hooks=told.hooks())
    assert await restarted.poll_new_anomalies() == {"created": 1}
    [made] = rule_incidents(sn_emulator)
    assert [link.ticket_number for link in links.for_anomaly(restarted.db, 900)] == [made["number"]]
    assert not intents.open_intents(restarted.db)
    assert [t.anomaly_id for t in told.created] == [900]  # announced once
    await restarted.reconcile_intents()
    assert len(told.created) == 1 and len(rule_incidents(sn_emulator)) == 1


async def test_a_storm_of_500_new_anomalies_pauses_the_rule_at_its_rate_and_never_duplicates(
    bot: Snowbot,
    settings: Settings,
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
    told: Told,
) -> None:
    rule = await bot.create_rule(spec(max_per_hour=20), actor="U1")
    await bot.poll_new_anomalies()
    for n in range(500):
        new_anomaly(q_emulator, 1000 + n)
    q_emulator.reset_log()
    sn_emulator.requests.clear()
    started = time.perf_counter()
    outcomes = await bot.poll_new_anomalies()
    took = time.perf_counter() - started
    assert outcomes == {"created": 20, "paused": 480}
    made = rule_incidents(sn_emulator)
    assert len(made) == 20 and len({row["correlation_id"] for row in made}) == 20
    paused = await bot.get_rule(rule.id)
    assert not paused.enabled and "more than 20 tickets in an hour" in (paused.paused_reason or "")
    assert [r.id for r in told.paused] == [rule.id]
    print(
        f"\nstorm: 500 anomalies in {took:.2f} s; Qualytics requests {len(q_emulator.requests)}, "
        f"ServiceNow requests {len(sn_emulator.requests)}, tickets {len(made)}"
    )

    # The webhook naming them all again, and another poll, create nothing more.
    app = build_app(SecretSettings(settings), snowbot=bot, extensions=[sync_extension])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        answer = await http.post(
            "/webhooks/qualytics",
            json={"anomaly_ids": list(range(1000, 1500))},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
    assert answer.status_code == 202
    assert await bot.poll_new_anomalies() == {}
    assert len(rule_incidents(sn_emulator)) == 20
    assert sum(len(links.for_anomaly(bot.db, 1000 + n)) for n in range(500)) == 20
    assert store.created_since(bot.db, rule.id, NOW.replace(hour=0)) == 20


async def test_the_rules_poll_is_a_scheduler_job_for_the_life_of_the_app(
    bot: Snowbot, settings: Settings, q_emulator: QualyticsEmulator
) -> None:
    polled = asyncio.Event()
    poll = bot.poll_new_anomalies

    async def poll_and_tell() -> object:
        try:
            return await poll()
        finally:
            polled.set()

    bot.poll_new_anomalies = poll_and_tell  # type: ignore[method-assign]
    app = build_app(settings, snowbot=bot, extensions=[sync_extension])
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(polled.wait(), timeout=10)  # the first round runs at start-up
    newest = max(i for i, anomaly in q_emulator.anomalies.items() if not anomaly["archived"])
    assert store.cursor(bot.db) == (newest, newest)  # the mark is where polling began
