"""Several ServiceNow instances through the REST API: `integration_id` on create, link and search picks
the instance (the default one without it), an unknown id is 404 and a failing one 409; one anomaly holds
tickets of both, and an interrupted create is reconciled in its own instance only."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from bot.composition import Outside
from bot.usecases import Snowbot, TicketForm
from emulators.servicenow import ServiceNowEmulator
from storage import integrations, intents
from tests.bot.two_instances import connect_b, instance_b, routes

CREATE = "/api/integrations/ticketing/anomalies/824/tickets"
LINKS = "/api/anomalies/824/ticket-links"
SEARCH = "/api/integrations/ticketing/tickets/search"
A, B = 1, 2
"""The environment's integration (dev-snowbot, admin:admin), then instance B (connected in the test)."""


@pytest.fixture
def sn_b() -> ServiceNowEmulator:
    return instance_b()


@pytest.fixture
def outside(outside: Outside, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator) -> Outside:
    return replace(outside, servicenow_transport=routes(sn_emulator, sn_b))


async def test_create_link_and_search_go_to_the_instance_asked_for(
    snowbot: Snowbot,
    api_client: httpx.AsyncClient,
    sn_emulator: ServiceNowEmulator,
    sn_b: ServiceNowEmulator,
) -> None:
    assert (await connect_b(snowbot)).id == B  # connecting B made it the default

    in_a = await api_client.post(
        CREATE, json={"title": "Alpha only: orders out of range", "integration_id": A}
    )
    in_b = await api_client.post(CREATE, json={"title": "Bravo: orders out of range"})
    assert (in_a.status_code, in_b.status_code) == (201, 201), (in_a.text, in_b.text)
    assert (in_a.json()["integration_id"], in_b.json()["integration_id"]) == (A, B)
    number_a, number_b = in_a.json()["ticket"]["ticket_number"], in_b.json()["ticket"]["ticket_number"]
    assert number_a == number_b == "INC0010001"  # each instance numbers its own incidents
    assert sn_emulator.get_by_number(number_a)["short_description"].startswith("Alpha")  # type: ignore[index]
    assert sn_b.get_by_number(number_b)["short_description"].startswith("Bravo")  # type: ignore[index]
    assert in_a.json()["ticket"]["url"].startswith("https://dev-snowbot.service-now.com/")
    assert in_b.json()["ticket"]["url"].startswith("https://dev-b.service-now.com/")

    found_a = (await api_client.get(SEARCH, params={"query": "Alpha", "integration_id": A})).json()
    found_b = (await api_client.get(SEARCH, params={"query": "Alpha"})).json()
    assert ([i["ticket_number"] for i in found_a["items"]], found_b["total"]) == (["INC0010001"], 0)

    # INC0000001 of A and INC0000001 of B are two tickets: both link to the anomaly
    linked_a = await api_client.post(LINKS, json={"ticket_id": "INC0000001", "integration_id": A})
    linked_b = await api_client.post(LINKS, json={"ticket_id": "INC0000001"})
    again = await api_client.post(LINKS, json={"ticket_id": "INC0000001", "integration_id": A})
    assert (linked_a.status_code, linked_b.status_code, again.status_code) == (201, 201, 409)
    assert (linked_a.json()["integration_id"], linked_b.json()["integration_id"]) == (A, B)
    listed = (await api_client.get(LINKS)).json()
    assert sorted((row["integration_id"], row["ticket_number"]) for row in listed) == [
        (A, "INC0000001"),
        (A, "INC0010001"),
        (B, "INC0000001"),
        (B, "INC0010001"),
    ]


async def test_an_unknown_integration_is_404_and_a_failing_one_409(
    snowbot: Snowbot, api_client: httpx.AsyncClient, sn_b: ServiceNowEmulator
) -> None:
    await connect_b(snowbot)
    unknown = [
        await api_client.post(CREATE, json={"title": "t", "integration_id": 99}),
        await api_client.post(LINKS, json={"ticket_id": "INC0000001", "integration_id": 99}),
        await api_client.get(SEARCH, params={"integration_id": 99}),
    ]
    assert [r.status_code for r in unknown] == [404, 404, 404]
    assert {r.json()["detail"] for r in unknown} == {
        "There is no integration 99: GET /api/integrations/ticketing lists them."
    }

    integrations.set_status(snowbot.db, B, "Error", "ServiceNow refused the credentials (401).")
    posts = len([r for r in sn_b.requests if r.method == "POST"])
    refused = await api_client.post(CREATE, json={"title": "t", "integration_id": B})
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(
        "Integration 2 (dev-b) is not connected: its last check failed"
    )
    assert len([r for r in sn_b.requests if r.method == "POST"]) == posts  # nothing was sent
    assert (await api_client.get(SEARCH, params={"integration_id": 0})).status_code == 422


async def test_the_openapi_document_shows_integration_id(api_client: httpx.AsyncClient) -> None:
    schema = (await api_client.get("/api/openapi.json")).json()
    bodies = schema["components"]["schemas"]
    for model in ("CreateTicketRequest", "CreateLinkRequest"):
        assert "integration_id" in bodies[model]["properties"], model
    search = schema["paths"][SEARCH]["get"]
    assert "integration_id" in [p["name"] for p in search["parameters"]]
    for path, method in ((CREATE, "post"), (LINKS, "post"), (SEARCH, "get")):
        operation = schema["paths"][path.replace("824", "{anomaly_id}")][method]
        assert {"404", "409"} <= set(operation["responses"]), path


async def test_an_interrupted_create_is_reconciled_and_claimed_in_its_own_instance_only(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator
) -> None:
    await connect_b(snowbot)
    anomaly = await snowbot.anomalies.get(824)
    left = intents.record(  # a create in A whose process died after the POST
        snowbot.db,
        kind="create",
        anomaly_id=824,
        integration_id=A,
        fields={"short_description": "interrupted"},
        baseline={"status": anomaly.status, "archived": anomaly.archived, "comment_ids": []},
        actor="test",
        correlation_id="qualytics-anomaly-824-interrupted",
        now=snowbot.clock(),
    )
    made = sn_emulator.add_incident(short_description="interrupted", correlation_id=left.correlation_id)
    assert (await snowbot.reconcile_intents())["linked"] == 1  # looked for in A, where it was made

    form = TicketForm(short_description="Orders out of range")
    in_b = await snowbot.create_ticket_for_anomaly(824, form, "test", integration_id=B)
    assert (in_b.integration_id, in_b.link.integration_id) == (B, B)
    assert "earlier request" not in in_b.message  # A's incident is not B's retry
    assert sn_b.get_by_number(in_b.incident.number) is not None
    in_a = await snowbot.create_ticket_for_anomaly(824, form, "test", integration_id=A)
    assert in_a.incident.sys_id == made["sys_id"] and "earlier request" in in_a.message
