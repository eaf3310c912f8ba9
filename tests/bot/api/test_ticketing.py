"""The REST API over the real HTTP stack (httpx -> ASGI) against the ServiceNow and Qualytics emulators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.test_usecases import SAMPLE_DESCRIPTION, LosingTransport
from tests.conftest import API_TOKEN

# The spec's "Appendix: Sample Payloads", verbatim.
SAMPLE_CREATE_REQUEST = {"title": "My ticket description", "priority": "3", "urgency": "3", "impact": "3"}
SAMPLE_CREATE_RESPONSE = {
    "ticket": {
        "ticket_id": "7a62213283aef210f9e89780deaad366",
        "ticket_number": "INC0010006",
        "title": "My ticket description",
        "description": "## Qualytics Anomaly Linked [2026-01-23 19:51:23 UTC]\n\n**Anomaly ID:** 824\n...",
        "status": "New",
        "priority": "5",
        "urgency": "3",
        "impact": "3",
        "category": "inquiry",
        "subcategory": "",
        "created_at": "2026-01-23T19:51:24",
        "updated_at": "2026-01-23T19:51:24",
        "resolved_at": None,
        "closed_at": None,
        "assigned_to": None,
        "assigned_group": None,
        "requester": None,
        "url": "https://your-instance.service-now.com/nav_to.do?uri=incident.do?sys_id=7a62213283aef210f9e89780deaad366",
        "comments_count": None,
        "metadata": {"work_notes": "", "close_notes": ""},
    },
    "anomaly_id": 824,
    "integration_id": 1,
    "message": "Ticket INC0010006 created and linked to anomaly 824",
}
SAMPLE_SEARCH_RESPONSE = {
    "items": [
        {
            "ticket_id": "57af7aec73d423002728660c4cf6a71c",
            "ticket_number": "INC0009009",
            "title": "Unable to access the shared folder.",
            "description": "Unable to access the shared folder. Please provide access.",
            "status": "Unknown (New)",
            "priority": "4 - Low",
            "created_at": "2018-08-30T01:06:52",
            "updated_at": "2018-12-12T23:30:24",
            "assigned_to": None,
            "url": "https://your-instance.service-now.com/nav_to.do?uri=incident.do?sys_id=57af7aec73d423002728660c4cf6a71c",
        }
    ],
    "total": 1,
    "page": 1,
    "size": 50,
    "pages": 1,
}
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
"""Every timestamp: UTC at whole seconds with the Z offset (the samples carry none)."""
CREATE = "/api/integrations/ticketing/anomalies/{}/tickets"
LINKS = "/api/anomalies/{}/ticket-links"


def link_rows(bot: Snowbot) -> list[object]:
    return list(bot.db.query("SELECT * FROM links"))


# ------------------------------------------------------------------------------------------------ create


async def test_the_spec_sample_request_gives_the_spec_sample_response(
    api_client: httpx.AsyncClient,
    snowbot: Snowbot,
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
    frozen_now: datetime,
) -> None:
    q_emulator.anomalies[824]["status"] = "Acknowledged"
    snowbot.clock = lambda: frozen_now

    response = await api_client.post(CREATE.format(824), json=SAMPLE_CREATE_REQUEST)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body.keys() == SAMPLE_CREATE_RESPONSE.keys()
    # The spec's sample plus issue 13's `ticket_type` ("in every ticket and link").
    assert body["ticket"].keys() == SAMPLE_CREATE_RESPONSE["ticket"].keys() | {"ticket_type"}
    assert body["ticket"]["ticket_type"] == "incident"
    assert body["ticket"]["metadata"].keys() == SAMPLE_CREATE_RESPONSE["ticket"]["metadata"].keys()
    ticket = body["ticket"]
    number = ticket["ticket_number"]
    assert body["message"] == f"Ticket {number} created and linked to anomaly 824"
    assert (body["anomaly_id"], body["integration_id"]) == (824, 1)
    assert ticket["description"] == SAMPLE_DESCRIPTION
    expected = {
        "title": "My ticket description",
        "status": "New",
        "priority": "5",
        "urgency": "3",
        "impact": "3",
    }
    assert {k: ticket[k] for k in expected} == expected
    assert (ticket["category"], ticket["subcategory"], ticket["resolved_at"], ticket["requester"]) == (
        "inquiry",
        "",
        None,
        None,
    )
    datetime.strptime(ticket["created_at"], ISO_SECONDS)  # UTC, Z, whole seconds
    assert ticket["url"] == (
        f"https://dev-snowbot.service-now.com/nav_to.do?uri=incident.do?sys_id={ticket['ticket_id']}"
    )
    assert sn_emulator.incidents[ticket["ticket_id"]]["number"] == number
    [link] = (await api_client.get(LINKS.format(824))).json()
    assert (link["ticket_id"], link["ticket_number"], link["status"]) == (ticket["ticket_id"], number, "New")


async def test_a_lost_create_response_makes_one_incident_over_http(
    api_client: httpx.AsyncClient, snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    before = set(sn_emulator.incidents)
    sn_emulator.faults.drop_next()

    response = await api_client.post(CREATE.format(824), json={"title": "Answer lost"})

    assert response.status_code == 201, response.text
    [new] = [sys_id for sys_id in sn_emulator.incidents if sys_id not in before]
    assert response.json()["ticket"]["ticket_id"] == new
    assert [link.ticket_sys_id for link in links.for_anomaly(snowbot.db, 824)] == [new]


# ------------------------------------------------------------------------------------------------ search


async def test_search_has_the_sample_shape(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get(
        "/api/integrations/ticketing/tickets/search", params={"query": "shared folder"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body.keys() == SAMPLE_SEARCH_RESPONSE.keys()
    assert (body["total"], body["page"], body["size"], body["pages"]) == (1, 1, 50, 1)
    [item] = body["items"]
    assert item.keys() == SAMPLE_SEARCH_RESPONSE["items"][0].keys() | {"ticket_type"}  # issue 13
    assert (item["ticket_number"], item["title"]) == ("INC0000001", "Unable to access the shared folder.")
    assert (item["status"], item["priority"], item["assigned_to"]) == (
        "In Progress",
        "3",  # the code, as in a Ticket (the sample's "4 - Low" is ServiceNow's display value)
        "Beth Anglin",
    )
    datetime.strptime(item["created_at"], ISO_SECONDS)


async def test_search_pages(api_client: httpx.AsyncClient) -> None:
    first = (await api_client.get("/api/integrations/ticketing/tickets/search?page=1&size=2")).json()
    second = (await api_client.get("/api/integrations/ticketing/tickets/search?page=2&size=2")).json()
    assert first["pages"] == -(-first["total"] // 2) >= 2
    assert {i["ticket_id"] for i in first["items"]}.isdisjoint(i["ticket_id"] for i in second["items"])


@pytest.mark.parametrize("query", ["page=0", "size=101", "query=a%5ENQb"])
async def test_search_rejects_bad_parameters(api_client: httpx.AsyncClient, query: str) -> None:
    response = await api_client.get(f"/api/integrations/ticketing/tickets/search?{query}")
    assert response.status_code == 422


async def test_get_ticket_by_number_or_sys_id(
    api_client: httpx.AsyncClient, sn_emulator: ServiceNowEmulator
) -> None:
    row = sn_emulator.get_by_number("INC0000001")
    assert row is not None
    by_number = await api_client.get("/api/integrations/ticketing/tickets/INC0000001")
    by_sys_id = await api_client.get(f"/api/integrations/ticketing/tickets/{row['sys_id']}")
    assert by_number.status_code == by_sys_id.status_code == 200
    assert by_number.json() == by_sys_id.json()
    assert by_number.json()["ticket_id"] == row["sys_id"]
    assert by_number.json()["assigned_group"] == "Service Desk"
    assert (await api_client.get("/api/integrations/ticketing/tickets/INC9999999")).status_code == 404
    assert (await api_client.get("/api/integrations/ticketing/tickets/not-a-ticket")).status_code == 422


async def test_form_specification(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/api/integrations/ticketing/form-specification")
    assert response.status_code == 200
    fields = {f["name"]: f for f in response.json()["fields"]}
    assert set(fields) == {
        "title",
        "description",
        "priority",
        "urgency",
        "impact",
        "category",
        "subcategory",
        "assignment_group",
        "assigned_to",
    }
    assert fields["title"]["required"] and fields["priority"]["read_only"]
    assert [o["label"] for o in fields["impact"]["options"]] == ["1 - High", "2 - Medium", "3 - Low"]


# ------------------------------------------------------------------------------------------------- links


async def test_link_list_duplicate_and_unlink(
    api_client: httpx.AsyncClient, sn_emulator: ServiceNowEmulator
) -> None:
    created = await api_client.post(LINKS.format(824), json={"ticket_id": "INC0000001"})
    assert created.status_code == 201, created.text
    link = created.json()
    assert set(link) == {
        "id",
        "anomaly_id",
        "integration_id",
        "ticket_id",
        "ticket_number",
        "ticket_type",
        "status",
        "url",
        "created_by",
        "created_at",
        "last_synced_at",
        "anomaly_deleted",  # True once the anomaly was deleted in Qualytics
        "anomaly_deleted_at",
    }
    assert (link["ticket_number"], link["status"], link["created_by"]) == ("INC0000001", "In Progress", "api")

    sn_emulator.reset_log()
    duplicate = await api_client.post(LINKS.format(824), json={"ticket_id": "INC0000001"})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "INC0000001 is already linked to anomaly 824."}
    assert sn_emulator.requests == []

    assert [item["id"] for item in (await api_client.get(LINKS.format(824))).json()] == [link["id"]]
    assert (await api_client.delete(f"{LINKS.format(823)}/{link['id']}")).status_code == 404
    deleted = await api_client.delete(f"{LINKS.format(824)}/{link['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await api_client.delete(f"{LINKS.format(824)}/{link['id']}")).status_code == 404
    assert (await api_client.get(LINKS.format(824))).json() == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", CREATE.format(999_999), {"title": "x"}),
        ("POST", LINKS.format(999_999), {"ticket_id": "INC0000001"}),
        ("GET", LINKS.format(999_999), None),
    ],
)
async def test_an_unknown_anomaly_is_404(
    api_client: httpx.AsyncClient, snowbot: Snowbot, method: str, path: str, body: object
) -> None:
    response = await api_client.request(method, path, json=body)
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]
    assert link_rows(snowbot) == []


# ------------------------------------------------------------------------------------------- bad bodies


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 161}, "title"),
        ({"title": "ok", "urgency": "4"}, "urgency"),
        ({"title": "ok", "impact": "high"}, "impact"),
        ({"title": "ok", "priority": "0"}, "priority"),
        ({"title": "ok", "short_description": "typo"}, "short_description"),
        ({"title": 5}, "title"),
        ({"title": "ok", "assignment_group": "Network"}, "assignment_group"),
        ({"title": "ok", "assigned_to": "beth.anglin"}, "assigned_to"),
    ],
)
async def test_a_bad_create_body_is_422_and_stores_nothing(
    api_client: httpx.AsyncClient,
    snowbot: Snowbot,
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
    body: dict[str, object],
    field: str,
) -> None:
    response = await api_client.post(CREATE.format(824), json=body)

    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"][:2] == ["body", field] and issue["msg"]
    assert "input" not in issue
    assert link_rows(snowbot) == [] and sn_emulator.requests == [] and q_emulator.requests == []


async def test_a_category_the_instance_lacks_is_422_with_the_field(
    api_client: httpx.AsyncClient, snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    response = await api_client.post(CREATE.format(824), json={"title": "ok", "category": "Databases"})
    assert response.status_code == 422
    assert response.json()["field"] == "category" and "database" in response.json()["detail"]
    assert link_rows(snowbot) == [] and [r for r in sn_emulator.requests if r.method != "GET"] == []


@pytest.mark.parametrize("content", [b"{not json", b"[]", b""])
async def test_an_unreadable_body_is_422(
    api_client: httpx.AsyncClient, snowbot: Snowbot, content: bytes
) -> None:
    response = await api_client.post(
        LINKS.format(824), content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert link_rows(snowbot) == []


# ------------------------------------------------------------------------------------- ServiceNow down


@pytest.mark.parametrize(
    ("prepare", "status", "words"),
    [
        (lambda sn: sn.faults.fail_next(503, count=10), 503, "503"),
        (lambda sn: sn.faults.fail_next(500), 502, "500"),
        (lambda sn: sn.faults.fail_next(429, count=10, retry_after=120), 503, "rate limiting"),
        (lambda sn: setattr(sn, "hibernating", True), 503, "hibernating"),
        (lambda sn: sn.add_user("admin", "changed", ["itil"]), 502, "username:password"),
        (lambda sn: sn.add_user("admin", "admin", ["snc_read_only"]), 502, "ServiceNow refused to "),
    ],
    ids=["503", "500", "429", "hibernating", "401", "403"],
)
async def test_servicenow_failures_are_clear_and_store_nothing(
    api_client: httpx.AsyncClient,
    snowbot: Snowbot,
    sn_emulator: ServiceNowEmulator,
    prepare: Callable[[ServiceNowEmulator], object],
    status: int,
    words: str,
) -> None:
    for method, path, body in [
        ("POST", CREATE.format(824), {"title": "x"}),
        ("POST", LINKS.format(824), {"ticket_id": "INC0000001"}),
    ]:
        sn_emulator.faults.clear()
        prepare(sn_emulator)
        response = await api_client.request(method, path, json=body)
        assert response.status_code == status, response.text
        detail = response.json()["detail"]
        assert isinstance(detail, str) and words in detail and "Traceback" not in detail
    assert link_rows(snowbot) == []


async def test_servicenow_timing_out_is_504_and_stores_nothing(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    # one anomaly each: an unconfirmed create stays on record, and a new create of its anomaly waits for it
    for method, anomaly_id in (("POST", 824), (None, 825)):
        bot = make_snowbot(
            settings, servicenow_transport=LosingTransport(sn_emulator.transport(), method, 100)
        )
        transport = httpx.ASGITransport(app=build_app(settings, snowbot=bot))
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
            response = await client.post(CREATE.format(anomaly_id), json={"title": "x"})
        assert response.status_code == 504, response.text
        assert "firewall" in response.json()["detail"] or "correlation id" in response.json()["detail"]
        assert link_rows(bot) == []


async def test_qualytics_down_is_503(api_client: httpx.AsyncClient, q_emulator: QualyticsEmulator) -> None:
    q_emulator.faults.fail_next(503, count=10)
    response = await api_client.post(CREATE.format(824), json={"title": "x"})
    assert response.status_code == 503 and "Qualytics" in response.json()["detail"]


# ------------------------------------------------------------------------------------------ integrations


async def test_connect_and_list_integrations_never_show_credentials(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
) -> None:
    sn_emulator.add_user("svc_qualytics", "Very-Secret-9", ["itil"])
    settings = make_settings(servicenow_instance_url=None, servicenow_credentials=None)
    bot = make_snowbot(settings)
    transport = httpx.ASGITransport(app=build_app(settings, snowbot=bot))
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
        assert (await client.post(CREATE.format(824), json={"title": "x"})).status_code == 409

        wrong = await client.post(
            "/api/integrations/ticketing",
            json={
                "instance_url": "https://dev-snowbot.service-now.com",
                "credentials": "svc_qualytics:Nope-1",
            },
        )
        bad = await client.post(
            "/api/integrations/ticketing", json={"instance_url": 7, "credentials": "a:Hidden-1"}
        )
        ok = await client.post(
            "/api/integrations/ticketing",
            json={
                "instance_url": "https://dev-snowbot.service-now.com",
                "credentials": "svc_qualytics:Very-Secret-9",
            },
        )
        listed = await client.get("/api/integrations/ticketing")
        created = await client.post(CREATE.format(824), json={"title": "x"})

    assert wrong.status_code == 502 and "username:password" in wrong.json()["detail"]
    assert bad.status_code == 422 and "Hidden-1" not in bad.text
    assert ok.status_code == 201
    assert ok.json()["message"] == "The Integration has been successfully created."
    assert ok.json()["integration"]["status"] == "Connected"
    assert listed.status_code == 200 and [i["status"] for i in listed.json()] == ["Connected"]
    for text in (wrong.text, ok.text, listed.text):
        assert "Very-Secret-9" not in text and "Nope-1" not in text
    for integration in (ok.json()["integration"], *listed.json()):
        assert not {"credentials", "password", "password_encrypted"} & set(integration)
    assert created.status_code == 201


async def test_healthz_and_openapi(api_client: httpx.AsyncClient) -> None:
    assert (await api_client.get("/healthz", headers={"Authorization": ""})).json() == {"status": "ok"}
    schema = (await api_client.get("/api/openapi.json")).json()
    assert "/api/integrations/ticketing/anomalies/{anomaly_id}/tickets" in schema["paths"]
    assert schema["components"]["securitySchemes"]["SnowbotToken"]["scheme"] == "bearer"
    assert (await api_client.get("/api/docs")).status_code == 200
