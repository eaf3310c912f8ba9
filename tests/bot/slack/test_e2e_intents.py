"""Slack and interrupted creates: the alert's thread hears about an incident a crashed request made (once),
and a create the database cannot record is refused in the modal before anything reaches ServiceNow."""

from __future__ import annotations

import json
import sqlite3

from bot.slack.ids import BlockId
from emulators.servicenow import ServiceNowEmulator
from storage import intents, links
from tests.bot.slack.conftest import ALERTS, Harness

from .test_e2e_create import open_create_from_alert


async def test_an_incident_a_crashed_create_made_is_announced_once_in_the_alerts_thread(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    alert = h.slack.add_message(ALERTS, "anomaly 824", user=None, bot_id="B0QUALYTICS")
    [integration] = await h.snowbot.list_integrations()
    correlation_id = "snowbot:824:0123456789abcdef0123456789abcdef"
    intents.record(  # what the request recorded before its POST; the process died before the answer
        h.snowbot.db,
        kind="create",
        anomaly_id=824,
        integration_id=integration.id,
        fields={"short_description": "Orders", "correlation_id": correlation_id},
        baseline={"status": "Active", "archived": False, "comment_ids": []},
        actor="jane.doe via Slack",
        correlation_id=correlation_id,
        channel_id=ALERTS,
        thread_ts=alert["ts"],
    )
    made = sn_emulator.add_incident(short_description="Orders", correlation_id=correlation_id)

    await h.snowbot.reconcile_intents()  # (its start-up round may have run it already: the same once)
    await h.snowbot.reconcile_intents()

    post, card = h.slack.calls_to("chat.postMessage")  # the announcement, then the anomaly card, once each
    assert (post.args["channel"], post.args["thread_ts"]) == (ALERTS, alert["ts"])
    assert post.args["text"] == f"{made['number']} created and linked to anomaly 824"
    assert card.args["thread_ts"] == alert["ts"] and h.card_in(ALERTS, alert["ts"])
    [link] = links.for_anomaly(h.snowbot.db, 824)
    assert (link.ticket_number, link.created_by) == (made["number"], "jane.doe via Slack")


async def test_a_busy_database_refuses_the_create_in_the_modal_and_nothing_is_created(
    h: Harness, sn_emulator: ServiceNowEmulator
) -> None:
    _, view_id = await open_create_from_alert(h)
    before = len(sn_emulator.incidents)
    h.snowbot.db.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(h.snowbot.settings.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await h.interact(h.view_submission(view_id, {BlockId.SHORT_DESCRIPTION: "Orders load is broken"}))
    finally:
        other.execute("ROLLBACK")
        other.close()

    top = json.dumps(h.slack.views[view_id]["blocks"][0])
    assert "database is busy" in top and "nothing was created" in top
    assert len(sn_emulator.incidents) == before and links.for_anomaly(h.snowbot.db, 824) == []
