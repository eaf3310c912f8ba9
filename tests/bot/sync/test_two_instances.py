"""One anomaly, tickets in two ServiceNow instances, over real loopback sockets: two emulators on
different ports, each knowing only its own service account and password. A status change in Qualytics
lands as a work note on both tickets, each written through its own instance's credentials, and the
anomaly's card names each ticket's instance."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.composition import build_snowbot
from bot.settings import Settings
from bot.slack import render
from bot.sync.wiring import build_engine
from bot.usecases import TicketForm, instance_name
from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import QualyticsRetry
from servicenow import RetryPolicy
from tests.bot.two_instances import B_USER, connect_b, instance_b
from tests.conftest import no_sleep

A_USER, A_PASSWORD = "svc-a", "Alpha-pass-1"
STATUS_NOTE = "Qualytics Anomaly Status: Acknowledged"


async def test_a_status_change_reaches_both_instances_each_through_its_own_credentials(
    q_emulator: QualyticsEmulator, make_settings: Callable[..., Settings]
) -> None:
    sn_a = ServiceNowEmulator(users=[(A_USER, A_PASSWORD, ("admin", "itil"))])
    sn_b = instance_b()
    with (
        serve_in_thread(sn_a.app) as a_url,
        serve_in_thread(sn_b.app) as b_url,
        serve_in_thread(q_emulator.app) as q_url,
    ):
        sn_a.base_url, sn_b.base_url = a_url, b_url
        assert a_url != b_url
        settings = make_settings(
            servicenow_instance_url=a_url,
            servicenow_credentials=f"{A_USER}:{A_PASSWORD}",
            qualytics_url=q_url,
            allow_insecure_instance=True,
            allow_private_instance=True,
        )
        bot = build_snowbot(
            settings,
            servicenow_retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
            qualytics_retry=QualyticsRetry(sleep=no_sleep),
        )
        try:
            a = await bot.connections.integration()
            b = await connect_b(bot, b_url)  # B is the default from now on
            form = TicketForm(short_description="Orders out of range")
            in_a = await bot.create_ticket_for_anomaly(824, form, "jane.doe", integration_id=a.id)
            in_b = await bot.create_ticket_for_anomaly(824, form, "jane.doe")
            assert (in_a.integration_id, in_b.integration_id) == (a.id, b.id)

            engine = build_engine(settings, bot)
            await engine.run_pass()  # the links' baseline
            await bot.acknowledge_anomaly(824, "jane.doe")
            # what the acknowledge's hook runs in `snowbot run` (a scheduled pass would wait for the
            # anomaly's next read: adaptive polling)
            report = await engine.sync_anomalies([824])
            assert (report.notes_sent, report.failed, report.retried) == (2, 0, 0)

            for emulator, ticket, user in ((sn_a, in_a, A_USER), (sn_b, in_b, B_USER)):
                notes = [
                    row for row in emulator.journal(ticket.incident.sys_id) if STATUS_NOTE in row["value"]
                ]
                assert [row["sys_created_by"] for row in notes] == [user]  # its own account wrote it

            card = await bot.anomaly_card(824)
            assert card.instances == {a.id: instance_name(a_url), b.id: instance_name(b_url)}
            shown = json.dumps(render.anomaly_card(card), ensure_ascii=False)
            for url, ticket in ((a_url, in_a), (b_url, in_b)):
                assert f"{ticket.incident.number}> · {instance_name(url)} ·" in shown
        finally:
            await bot.aclose()
            bot.db.close()
