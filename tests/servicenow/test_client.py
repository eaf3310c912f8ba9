"""What each operation sends to the Table API and what it makes of the answer."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from servicenow import Choice, Group, IncidentPage, JournalEntry, RetryPolicy, ServiceNowClient, User
from servicenow.errors import ConfigurationError, NotFoundError, QueryError
from tests.servicenow.samples import (
    GROUP_ID,
    INSTANCE,
    PASSWORD,
    SYS_ID,
    USER_ID,
    USERNAME,
    envelope,
    error_body,
    incident_record,
    pair,
)

LIST = "/api/now/table/incident"
ONE = f"/api/now/table/incident/{SYS_ID}"
READ_DEFAULTS = {"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}


def sent_params(route) -> dict[str, str]:
    return dict(route.calls.last.request.url.params)


def sent_json(route) -> dict[str, str]:
    return json.loads(route.calls.last.request.content)


def records(*sys_ids: str) -> dict:
    return envelope([incident_record(sys_id=pair(sys_id)) for sys_id in sys_ids])


def sys_ids(count: int) -> list[str]:
    return [f"{n:032x}" for n in range(1, count + 1)]


async def test_connect_sends_basic_auth_json_headers_and_read_defaults(client, router) -> None:
    route = router.get(LIST).respond(
        200, json=envelope([{"sys_id": pair(SYS_ID)}]), headers={"X-Total-Count": "73"}
    )
    assert await client.check_connection() is None

    request = route.calls.last.request
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {token}"
    assert request.headers["Accept"] == "application/json"
    assert sent_params(route) == {
        **READ_DEFAULTS,
        "sysparm_fields": "sys_id",
        "sysparm_limit": "1",
        "sysparm_offset": "0",
    }
    assert "sysparm_query" not in sent_params(route)


async def test_connect_validates_the_url(credentials) -> None:
    with pytest.raises(ConfigurationError, match="remove the trailing slash"):
        ServiceNowClient.connect(f"{INSTANCE}/", credentials)
    with pytest.raises(ConfigurationError, match="use https://"):
        ServiceNowClient.connect("http://dev-snowbot.service-now.com", credentials)


async def test_injected_http_client_and_context_manager(router) -> None:
    route = router.get(ONE).respond(200, json=envelope(incident_record()))
    http = httpx.AsyncClient(headers={"Accept": "application/json"})
    async with ServiceNowClient(http, INSTANCE, retry=RetryPolicy(attempts=1)) as client:
        assert repr(client) == f"ServiceNowClient('{INSTANCE}')"
        incident = await client.get_incident(SYS_ID)
    assert incident.url == f"{INSTANCE}/nav_to.do?uri=incident.do?sys_id={SYS_ID}"
    assert str(route.calls.last.request.url).startswith(f"{INSTANCE}/api/now/table/incident/{SYS_ID}?")
    assert http.is_closed


async def test_create_incident_posts_strings_and_parses_the_201(client, router) -> None:
    route = router.post(LIST).respond(
        201, json=envelope(incident_record()), headers={"Location": f"{INSTANCE}{ONE}"}
    )
    incident = await client.create_incident(
        {
            "short_description": "orders_daily failed",
            "impact": 2,
            "urgency": "2",
            "active": True,
            "caller_id": None,
        }
    )
    assert sent_json(route) == {
        "short_description": "orders_daily failed",
        "impact": "2",
        "urgency": "2",
        "active": "true",
        "caller_id": "",
    }
    assert route.calls.last.request.headers["Content-Type"] == "application/json"
    assert sent_params(route)["sysparm_display_value"] == "all"
    assert incident.number == "INC0010002"
    assert incident.url.endswith(SYS_ID)


async def test_get_incident_normalises_the_sys_id(client, router) -> None:
    route = router.get(ONE).respond(200, json=envelope(incident_record()))
    incident = await client.get_incident(f"  {SYS_ID.upper()} ")
    assert incident.sys_id == SYS_ID
    params = sent_params(route)
    assert params.items() >= READ_DEFAULTS.items()
    assert params["sysparm_fields"].split(",")[:2] == ["sys_id", "number"]
    assert "correlation_id" in params["sysparm_fields"].split(",")


async def test_get_incident_not_found(client, router) -> None:
    router.get(ONE).respond(
        404, json=error_body("No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    )
    with pytest.raises(NotFoundError, match="No Record found"):
        await client.get_incident(SYS_ID)


async def test_get_incident_by_number(client, router) -> None:
    route = router.get(LIST).mock(
        side_effect=[httpx.Response(200, json=records(SYS_ID)), httpx.Response(200, json=envelope([]))]
    )
    found = await client.get_incident_by_number(" inc0010002 ")
    assert found is not None and found.number == "INC0010002"
    assert sent_params(route)["sysparm_query"] == "number=INC0010002"
    assert sent_params(route)["sysparm_limit"] == "1"
    assert await client.get_incident_by_number("INC0099999") is None


@pytest.mark.parametrize("number", ["INC12", "INC0010001^ORactive=true", "anything"])
async def test_get_incident_by_number_refuses_non_numbers(client, router, number) -> None:
    with pytest.raises(QueryError):
        await client.get_incident_by_number(number)
    assert router.calls.call_count == 0


async def test_find_incident_by_correlation_id(client, router) -> None:
    route = router.get(LIST).mock(
        side_effect=[httpx.Response(200, json=records(SYS_ID)), httpx.Response(200, json=envelope([]))]
    )
    found = await client.find_incident_by_correlation_id("qualytics-anomaly-824")
    assert found is not None and found.correlation_id == "qualytics-anomaly-824"
    assert (
        sent_params(route)["sysparm_query"]
        == "correlation_id=qualytics-anomaly-824^ORDERBYDESCsys_created_on"
    )
    assert sent_params(route)["sysparm_limit"] == "1"
    assert await client.find_incident_by_correlation_id("qualytics-anomaly-825") is None


@pytest.mark.parametrize("correlation_id", ["", "x^NQactive=true"])
async def test_find_by_correlation_id_refuses_what_would_match_other_incidents(
    client, router, correlation_id
) -> None:
    with pytest.raises(QueryError):
        await client.find_incident_by_correlation_id(correlation_id)
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("disk full", "short_descriptionLIKEdisk full^ORnumberSTARTSWITHdisk full^ORDERBYDESCsys_created_on"),
        (
            "  orders_daily ",
            "short_descriptionLIKEorders_daily^ORnumberSTARTSWITHorders_daily^ORDERBYDESCsys_created_on",
        ),
        ("inc001", "numberSTARTSWITHINC001^ORDERBYDESCsys_created_on"),
        ("INC0010002", "numberSTARTSWITHINC0010002^ORDERBYDESCsys_created_on"),
        ("", "ORDERBYDESCsys_created_on"),
    ],
)
async def test_search_incidents_query(client, router, text, query) -> None:
    route = router.get(LIST).respond(200, json=records(SYS_ID), headers={"X-Total-Count": "73"})
    page = await client.search_incidents(text)
    assert sent_params(route)["sysparm_query"] == query
    assert page == IncidentPage(items=page.items, total=73, page=1, size=20)
    assert [incident.sys_id for incident in page.items] == [SYS_ID]


async def test_search_incidents_pages_are_one_based(client, router) -> None:
    route = router.get(LIST).respond(200, json=records(*sys_ids(10)), headers={"X-Total-Count": "73"})
    page = await client.search_incidents("disk", page=3, size=10)
    assert (sent_params(route)["sysparm_limit"], sent_params(route)["sysparm_offset"]) == ("10", "20")
    assert (page.page, page.size, page.total, len(page.items)) == (3, 10, 73, 10)


async def test_search_incidents_without_total_header_counts_what_it_saw(client, router) -> None:
    router.get(LIST).respond(200, json=records(*sys_ids(4)))
    page = await client.search_incidents("disk", page=2, size=5)
    assert page.total == 9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "x^ORactive=true"}, "search text may not contain \\^ or line breaks"),
        ({"text": "^NQactive=true"}, "search text may not contain \\^ or line breaks"),
        ({"text": "disk\nfull"}, "search text may not contain \\^ or line breaks"),
        ({"text": " javascript:gs.getUserID()"}, "may not start with 'javascript:'"),
        ({"text": "x", "page": 0}, "page numbers start at 1"),
        ({"text": "x", "size": 0}, "page size must be between 1 and 100"),
        ({"text": "x", "size": 101}, "page size must be between 1 and 100"),
    ],
)
async def test_search_incidents_refuses_before_sending(client, router, kwargs, message) -> None:
    with pytest.raises(QueryError, match=message):
        await client.search_incidents(**kwargs)
    assert router.calls.call_count == 0


async def test_get_incidents_asks_100_at_a_time_and_keeps_the_order(client, router) -> None:
    wanted = sys_ids(250)
    missing = wanted[7]

    def answer(request: httpx.Request) -> httpx.Response:
        asked = request.url.params["sysparm_query"].removeprefix("sys_idIN").split(",")
        return httpx.Response(200, json=records(*reversed([s for s in asked if s != missing])))

    route = router.get(LIST).mock(side_effect=answer)
    found = await client.get_incidents([*wanted, wanted[0]])

    batches = [
        call.request.url.params["sysparm_query"].removeprefix("sys_idIN").split(",") for call in route.calls
    ]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert [call.request.url.params["sysparm_limit"] for call in route.calls] == ["100", "100", "50"]
    assert sum(batches, []) == wanted
    assert [incident.sys_id for incident in found] == [s for s in wanted if s != missing]


async def test_get_incidents_of_nothing_sends_nothing(client, router) -> None:
    assert await client.get_incidents([]) == []
    assert router.calls.call_count == 0


async def test_get_incidents_refuses_a_bad_id_before_sending(client, router) -> None:
    with pytest.raises(QueryError):
        await client.get_incidents([SYS_ID, "x,y"])
    assert router.calls.call_count == 0


async def test_add_work_note(client, router) -> None:
    route = router.patch(ONE).respond(200, json=envelope(incident_record()))
    incident = await client.add_work_note(SYS_ID, "Anomaly score 0.97 on orders_daily")
    assert sent_json(route) == {"work_notes": "Anomaly score 0.97 on orders_daily"}
    assert sent_params(route)["sysparm_display_value"] == "all"
    assert incident.sys_id == SYS_ID


@pytest.mark.parametrize(
    ("existing", "work_note", "body"),
    [
        ("Anomaly 824\n", None, {"description": "Anomaly 824\n\nAnomaly 825 is related"}),
        ("", "linked 825", {"description": "Anomaly 825 is related", "work_notes": "linked 825"}),
    ],
)
async def test_append_to_description_reads_then_patches_once(
    client, router, existing, work_note, body
) -> None:
    get = router.get(ONE).respond(200, json=envelope(incident_record(description=pair(existing))))
    patch = router.patch(ONE).respond(
        200, json=envelope(incident_record(description=pair(body["description"])))
    )
    incident = await client.append_to_description(SYS_ID, "Anomaly 825 is related", work_note)
    assert get.call_count == 1
    assert patch.call_count == 1
    assert sent_json(patch) == body
    assert incident.description == body["description"]


async def test_resolve_sets_state_6_with_close_fields(client, router) -> None:
    route = router.patch(ONE).respond(200, json=envelope(incident_record(state=pair("6", "Resolved"))))
    incident = await client.resolve(
        SYS_ID, "Solution provided", "Fixed upstream", work_note="Archived in Qualytics"
    )
    assert sent_json(route) == {
        "state": "6",
        "close_code": "Solution provided",
        "close_notes": "Fixed upstream",
        "work_notes": "Archived in Qualytics",
    }
    assert incident.state_label == "Resolved"


async def test_list_work_notes(client, router) -> None:
    rows = [
        {
            "sys_id": pair(GROUP_ID),
            "value": pair("second"),
            "sys_created_on": pair("2024-03-02 10:00:00"),
            "sys_created_by": pair("admin"),
        },
        {
            "sys_id": pair(USER_ID),
            "value": pair("first"),
            "sys_created_on": pair("2024-03-01 10:00:00"),
            "sys_created_by": pair("admin"),
        },
    ]
    route = router.get("/api/now/table/sys_journal_field").respond(200, json=envelope(rows))
    notes = await client.list_work_notes(SYS_ID)
    assert sent_params(route)["sysparm_query"] == (
        f"element_id={SYS_ID}^name=incident^element=work_notes^ORDERBYDESCsys_created_on"
    )
    assert [note.text for note in notes] == ["second", "first"]
    assert all(isinstance(note, JournalEntry) for note in notes)


async def test_list_choices(client, router) -> None:
    rows = [{"value": pair("vpn"), "label": pair("VPN"), "dependent_value": pair("network")}]
    route = router.get("/api/now/table/sys_choice").respond(200, json=envelope(rows))
    assert await client.list_choices("incident", "subcategory", dependent_value="network") == [
        Choice(value="vpn", label="VPN", dependent_value="network")
    ]
    assert sent_params(route)["sysparm_query"] == (
        "name=incident^element=subcategory^inactive=false^language=en^dependent_value=network"
        "^ORDERBYsequence^ORDERBYlabel"
    )
    await client.list_choices("incident", "category")
    assert "dependent_value" not in sent_params(route)["sysparm_query"]


async def test_list_choices_refuses_injection(client, router) -> None:
    with pytest.raises(QueryError):
        await client.list_choices("incident", "category^NQname=sys_user")
    assert router.calls.call_count == 0


async def test_search_groups(client, router) -> None:
    route = router.get("/api/now/table/sys_user_group").respond(
        200, json=envelope([{"sys_id": pair(GROUP_ID), "name": pair("Network")}])
    )
    assert await client.search_groups(" net ", limit=5) == [Group(sys_id=GROUP_ID, name="Network")]
    assert sent_params(route)["sysparm_query"] == "active=true^nameLIKEnet^ORDERBYname"
    assert sent_params(route)["sysparm_limit"] == "5"
    await client.search_groups("")
    assert sent_params(route)["sysparm_query"] == "active=true^ORDERBYname"


USER_ROW = {
    "sys_id": pair(USER_ID),
    "name": pair("Jane Doe"),
    "user_name": pair("jane.doe"),
    "email": pair("jane@acme.io"),
}
JANE = User(sys_id=USER_ID, name="Jane Doe", user_name="jane.doe", email="jane@acme.io")


async def test_search_users(client, router) -> None:
    route = router.get("/api/now/table/sys_user").respond(200, json=envelope([USER_ROW]))
    assert await client.search_users("jane") == [JANE]
    assert sent_params(route)["sysparm_query"] == (
        "active=true^nameLIKEjane^ORuser_nameLIKEjane^ORemailLIKEjane^ORDERBYname"
    )
    assert sent_params(route)["sysparm_limit"] == "20"


async def test_find_user_by_email(client, router) -> None:
    route = router.get("/api/now/table/sys_user").mock(
        side_effect=[httpx.Response(200, json=envelope([USER_ROW])), httpx.Response(200, json=envelope([]))]
    )
    assert await client.find_user_by_email(" jane@acme.io ") == JANE
    assert sent_params(route)["sysparm_query"] == "active=true^email=jane@acme.io"
    assert await client.find_user_by_email("nobody@acme.io") is None


@pytest.mark.parametrize("email", ["jane", "jane@", "a b@c.d", "x@y^NQactive=true"])
async def test_find_user_by_email_refuses_non_addresses(client, router, email) -> None:
    with pytest.raises(QueryError):
        await client.find_user_by_email(email)
    assert router.calls.call_count == 0


async def test_limits_must_be_positive(client, router) -> None:
    with pytest.raises(QueryError, match="at least 1"):
        await client.search_users("jane", limit=0)


def test_incident_url(client) -> None:
    assert client.incident_url(SYS_ID) == f"{INSTANCE}/nav_to.do?uri=incident.do?sys_id={SYS_ID}"
    with pytest.raises(QueryError):
        client.incident_url("not-a-sys-id")


WRITE_DEFAULTS = {"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}
TICKET_ANSWER = (
    "sys_id,number,short_description,description,state,priority,urgency,impact,category,subcategory,"
    "assignment_group,assigned_to,caller_id,sys_created_on,sys_updated_on,resolved_at,closed_at,close_notes,"
    "correlation_id"
)
"""What the callers of a create or a link read (bot.models.Ticket, the link, the announcement)."""


WRITES = [
    ("POST", lambda c: c.create_incident({"short_description": "orders_daily failed"}), TICKET_ANSWER),
    ("PATCH", lambda c: c.add_work_note(SYS_ID, "Anomaly score 0.97"), "sys_id,number,state"),
    (
        "PATCH",
        lambda c: c.resolve(SYS_ID, "Solution provided", "Fixed", work_note="n"),
        "sys_id,number,state",
    ),
    ("PATCH", lambda c: c.append_to_description(SYS_ID, "Anomaly 825", "linked 825"), TICKET_ANSWER),
]


@pytest.mark.parametrize(
    ("method", "write", "answer"), WRITES, ids=["create", "work note", "resolve", "link"]
)
async def test_each_write_asks_back_only_the_fields_its_callers_read(
    client, router, method, write, answer
) -> None:
    if write is WRITES[-1][1]:
        router.get(ONE).respond(200, json=envelope(incident_record()))  # the link reads the description
    route = router.route(method=method, path=LIST if method == "POST" else ONE).respond(
        201 if method == "POST" else 200, json=envelope(incident_record())
    )
    await write(client)
    assert sent_params(route) == {**WRITE_DEFAULTS, "sysparm_fields": answer}
