"""Link unfurls end to end: a person pastes a Qualytics anomaly or ServiceNow ticket link, the Slack
emulator delivers `link_shared` (the shape of Slack's event docs), snowbot answers with `chat.unfurl`,
and the cards are read back from the emulator and checked with slack_sdk's Block Kit models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.slack.ids import ActionId
from bot.usecases import TicketForm
from tests.bot.slack.conftest import ALERTS, Harness
from tests.conftest import INSTANCE_URL, QUALYTICS_URL

SHARED_FOLDER = "INC0000001"  # assigned to Beth Anglin, In Progress


@pytest.fixture
def h(harness: Harness) -> Harness:
    harness.slack.unfurl_domains = ["demo.qualytics.io", "service-now.com"]  # manifest.yml's, for the test
    return harness


def shown(unfurl: dict[str, Any]) -> str:
    for block in unfurl["blocks"]:
        Block.parse(block).validate_json()  # slack_sdk's models raise on what Slack refuses
    return json.dumps(unfurl["blocks"], ensure_ascii=False)


def buttons(unfurl: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element.get("url", ""))
        for block in unfurl["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def paste(h: Harness, url: str, *, composer: bool = False) -> dict[str, Any]:
    event = h.slack.share_links(ALERTS, f"what about <{url}>?", composer=composer)
    assert event is not None
    response = await h.event(event)
    assert response.status_code == 200
    await h.settle()
    return event


@pytest.mark.parametrize(
    "url",
    [f"{QUALYTICS_URL}/datastores/23/anomalies?id=824", f"{QUALYTICS_URL}/anomalies/824"],
    ids=["datastore-query", "anomalies-path"],
)
async def test_an_anomaly_link_unfurls_with_its_status_and_tickets(h: Harness, url: str) -> None:
    await h.snowbot.link_existing_ticket(824, SHARED_FOLDER, "test")

    event = await paste(h, url)

    [call] = h.slack.calls_to("chat.unfurl")
    assert (call.args["unfurl_id"], call.args["source"]) == (event["unfurl_id"], "conversations_history")
    card = h.slack.unfurls[url]
    text = shown(card)
    assert "Anomaly 824" in text and "*Status:* Active" in text and "Sales Warehouse" in text
    assert f"{SHARED_FOLDER}> · In Progress" in text
    [(action, link)] = buttons(card)
    assert action == ActionId.VIEW_ANOMALY and link == f"{QUALYTICS_URL}/datastores/23/anomalies?id=824"


@pytest.mark.parametrize(
    "form",
    [
        "nav_to.do?uri=incident.do?sys_id={}",
        "nav_to.do?uri=incident.do%3Fsys_id%3D{}",
        "incident.do?sys_id={}",
    ],
    ids=["nav_to", "nav_to-encoded", "table"],
)
async def test_a_ticket_link_unfurls_with_its_state_assignee_and_anomalies(h: Harness, form: str) -> None:
    linked = await h.snowbot.link_existing_ticket(824, SHARED_FOLDER, "test")
    await h.snowbot.link_existing_ticket(825, SHARED_FOLDER, "test")
    url = f"{INSTANCE_URL}/{form.format(linked.incident.sys_id)}"

    await paste(h, url)

    card = h.slack.unfurls[url]
    text = shown(card)
    assert SHARED_FOLDER in text and "Incident" in text and "Unable to access the shared folder." in text
    assert "*State:* In Progress" in text and "*Assigned to:* Beth Anglin" in text
    assert f"<{QUALYTICS_URL}/anomalies/824|Anomaly 824>" in text and "Anomaly 825" in text
    [(action, link)] = buttons(card)
    assert action == ActionId.VIEW_TICKET and link == linked.incident.url


async def test_a_link_in_the_composer_unfurls_by_its_unfurl_id(h: Harness) -> None:
    url = f"{QUALYTICS_URL}/anomalies/824"
    event = await paste(h, url, composer=True)

    [call] = h.slack.calls_to("chat.unfurl")
    assert (call.args["unfurl_id"], call.args["source"]) == (event["unfurl_id"], "composer")
    assert call.error is None and "*Tickets:* none yet" in shown(h.slack.unfurls[url])


async def test_links_snowbot_cannot_read_answer_nothing(h: Harness) -> None:
    unknown = f"{QUALYTICS_URL}/anomalies/999999"  # 404 in Qualytics
    ticket = f"{INSTANCE_URL}/incident.do?sys_id={'0' * 32}"  # no such incident
    other_table = f"{INSTANCE_URL}/change_request.do?sys_id={'a' * 32}"
    h.slack.reset_log()

    for url in (unknown, ticket, other_table):
        await paste(h, url)

    assert h.slack.calls_to("chat.unfurl") == []
    assert h.slack.ephemeral == [] and h.slack.app_messages(ALERTS) == []  # nothing said in the channel


async def test_only_the_readable_links_of_a_message_unfurl(h: Harness) -> None:
    readable, unknown = f"{QUALYTICS_URL}/anomalies/824", f"{QUALYTICS_URL}/anomalies/999999"
    event = h.slack.share_links(ALERTS, f"<{readable}> and <{unknown}>")
    assert event is not None and len(event["links"]) == 2

    await h.event(event)
    await h.settle()

    [call] = h.slack.calls_to("chat.unfurl")
    assert call.error is None and list(h.slack.unfurls) == [readable]


async def test_a_problem_link_unfurls_like_an_incident_link(h: Harness) -> None:
    created = await h.snowbot.create_ticket_for_anomaly(
        824, TicketForm(short_description="orders_daily keeps failing", ticket_type="problem"), "test"
    )
    url = f"{INSTANCE_URL}/nav_to.do?uri=problem.do?sys_id={created.incident.sys_id}"

    await paste(h, url)

    text = shown(h.slack.unfurls[url])
    assert created.incident.number.startswith("PRB") and created.incident.number in text
    assert "Problem" in text and "orders_daily keeps failing" in text and "Anomaly 824" in text
