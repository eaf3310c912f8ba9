from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Callable

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators import cli
from emulators.faults import Faults
from emulators.serve import serve_in_thread
from emulators.servicenow import (
    ADMIN_SYS_ID,
    CLOSE_CODES,
    NETWORK_GROUP_SYS_ID,
    PRIORITY,
    RecordedRequest,
    ServiceNowEmulator,
)

INCIDENTS = "/api/now/table/incident"
NOT_FOUND = {
    "error": {
        "message": "No Record found",
        "detail": "Record doesn't exist or ACL restricts the record retrieval",
    },
    "status": "failure",
}


async def numbers(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.get(INCIDENTS, params={"sysparm_query": query, "sysparm_fields": "number"})
    assert response.status_code == 200
    return [row["number"] for row in response.json()["result"]]


def inc(*ids: int) -> list[str]:
    return [f"INC{i:07d}" for i in ids]


async def create(client: httpx.AsyncClient, **fields: object) -> dict:
    response = await client.post(INCIDENTS, json=fields)
    assert response.status_code == 201, response.text
    return response.json()["result"]


# ---- auth and errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth", [None, ("admin", "wrong"), ("nobody", "admin")], ids=["anonymous", "bad-password", "unknown-user"]
)
async def test_unauthenticated_requests_get_the_real_401(sn_client_for: Callable, auth) -> None:
    async with sn_client_for(auth) as client:
        response = await client.get(INCIDENTS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="Service-now"'
    assert response.json() == {
        "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
        "status": "failure",
    }


async def test_bearer_tokens_are_not_accepted(sn_client_for: Callable) -> None:
    async with sn_client_for(None) as client:
        response = await client.get(INCIDENTS, headers={"Authorization": "Bearer abc"})
    assert response.status_code == 401


async def test_a_user_without_itil_reads_but_cannot_write_incidents(
    servicenow: ServiceNowEmulator, sn_client_for: Callable
) -> None:
    target = servicenow.get_by_number("INC0000001")
    async with sn_client_for(("viewer", "viewer-pw")) as viewer:
        assert (await viewer.get(INCIDENTS)).status_code == 200
        insert = await viewer.post(INCIDENTS, json={"short_description": "x"})
        update = await viewer.patch(f"{INCIDENTS}/{target['sys_id']}", json={"short_description": "changed"})
    assert insert.status_code == update.status_code == 403
    assert insert.json() == {
        "error": {
            "message": "Operation Failed",
            "detail": "ACL Exception Insert Failed due to security constraints",
        },
        "status": "failure",
    }
    assert update.json()["error"]["detail"] == "ACL Exception Update Failed due to security constraints"
    assert target["short_description"] == "Unable to access the shared folder."
    assert len(servicenow.incidents) == 6


async def test_itil_writes_incidents_but_not_admin_tables(sn_client_for: Callable) -> None:
    async with sn_client_for(("itil.user", "itil-pw")) as itil:
        created = await itil.post(INCIDENTS, json={"short_description": "from itil"})
        delete = await itil.delete(f"{INCIDENTS}/{created.json()['result']['sys_id']}")
        group = await itil.post("/api/now/table/sys_user_group", json={"name": "Shadow IT"})
    assert created.status_code == 201
    assert created.json()["result"]["sys_created_by"] == "itil.user"
    assert delete.status_code == group.status_code == 403
    assert delete.json()["error"]["detail"] == "ACL Exception Delete Failed due to security constraints"


async def test_users_exist_as_sys_user_rows(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    servicenow.add_user("bot", "s3cret", ["itil"])
    response = await sn.get(
        "/api/now/table/sys_user",
        params={
            "sysparm_query": "user_name=bot^ORuser_name=admin^ORDERBYuser_name",
            "sysparm_fields": "sys_id,name",
        },
    )
    admin, bot = response.json()["result"]
    assert admin == {"sys_id": ADMIN_SYS_ID, "name": "System Administrator"}
    assert bot["name"] == "Bot" and re.fullmatch(r"[0-9a-f]{32}", bot["sys_id"])
    async with httpx.AsyncClient(transport=servicenow.transport(), auth=("bot", "s3cret")) as client:
        assert (await client.get(f"{servicenow.base_url}{INCIDENTS}")).status_code == 200


async def test_unknown_table_and_unknown_uri_are_400(sn: httpx.AsyncClient) -> None:
    table = await sn.get("/api/now/table/u_nope")
    uri = await sn.get("/api/now/stats/incident")
    assert table.status_code == uri.status_code == 400
    assert table.json() == {"error": {"message": "Invalid table u_nope", "detail": None}, "status": "failure"}
    assert uri.json()["error"]["message"] == "Requested URI does not represent any resource"


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
async def test_unknown_sys_id_is_404(sn: httpx.AsyncClient, method: str) -> None:
    response = await sn.request(
        method, f"{INCIDENTS}/{'0' * 32}", json={} if method in ("PATCH", "PUT") else None
    )
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_malformed_json_is_400(sn: httpx.AsyncClient) -> None:
    response = await sn.post(INCIDENTS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == "failure"


async def test_versioned_paths_work_and_links_echo_the_version(sn: httpx.AsyncClient) -> None:
    response = await sn.get("/api/now/v2/table/incident", params={"sysparm_query": "number=INC0000004"})
    group = response.json()["result"][0]["assignment_group"]
    assert group == {
        "link": f"https://dev-snowbot.service-now.com/api/now/v2/table/sys_user_group/{NETWORK_GROUP_SYS_ID}",
        "value": NETWORK_GROUP_SYS_ID,
    }


# ---- seed data -------------------------------------------------------------------------------------------


async def test_seeded_choices_groups_and_incidents(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    def choices(query: str, fields: str = "value,label") -> object:
        return sn.get("/api/now/table/sys_choice", params={"sysparm_query": query, "sysparm_fields": fields})

    category = await choices("name=incident^element=category^inactive=false^language=en^ORDERBYsequence")
    assert category.json()["result"][0] == {"value": "inquiry", "label": "Inquiry / Help"}
    assert [c["value"] for c in category.json()["result"]] == [
        "inquiry",
        "software",
        "hardware",
        "network",
        "database",
    ]
    network = await choices(
        "name=incident^element=subcategory^dependent_value=network", "value,dependent_value"
    )
    assert {c["value"] for c in network.json()["result"]} == {"dhcp", "dns", "ip address", "vpn", "wireless"}
    close = await choices("name=incident^element=close_code^inactive=false")
    assert [c["value"] for c in close.json()["result"]] == list(CLOSE_CODES["utah"])
    groups = await sn.get("/api/now/table/sys_user_group", params={"sysparm_query": "name=Network"})
    assert groups.json()["result"][0]["sys_id"] == NETWORK_GROUP_SYS_ID
    assert [row["number"] for row in servicenow.incidents.values()] == inc(1, 2, 3, 4, 5, 6)


def test_legacy_close_codes_and_an_empty_instance() -> None:
    emulator = ServiceNowEmulator(seed=False, close_codes="legacy")
    codes = {c["value"] for c in emulator._tables["sys_choice"].values() if c["element"] == "close_code"}
    assert codes == set(CLOSE_CODES["legacy"])
    assert emulator.incidents == {}
    assert [u["user_name"] for u in emulator._tables["sys_user"].values()] == ["admin"]


# ---- encoded queries -------------------------------------------------------------------------------------
# Seed: 1 inquiry/internal application p3 state 2 (jane, Service Desk); 2 database/oracle p2 state 1 (david,
# Database); 3 software/email p1 state 6 (fred, Service Desk); 4 network/vpn p4 state 3 (abel, Network);
# 5 database/sql server p3 state 7 closed (jane, Data Quality); 6 inquiry p5 state 1 (abel, Data Quality).


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [1, 2, 3, 4, 5, 6]),
        ("category=database", [2, 5]),
        ("category=DATABASE", [2, 5]),
        ("category!=database", [1, 3, 4, 6]),
        ("short_descriptionLIKEorders_daily", [2]),
        ("short_descriptionLIKEEMAIL", [3]),
        ("short_descriptionNOTLIKEdown", [1, 2, 4, 5, 6]),
        ("short_descriptionNOT LIKEdown", [1, 2, 4, 5, 6]),
        ("short_descriptionSTARTSWITHunable", [1]),
        ("short_descriptionENDSWITHFAILED", [2]),
        ("stateIN1,2", [1, 2, 6]),
        ("stateNOT IN1,2", [3, 4, 5]),
        ("subcategoryISEMPTY", [6]),
        ("subcategoryISNOTEMPTY", [1, 2, 3, 4, 5]),
        ("priority<3", [2, 3]),
        ("priority<=3", [1, 2, 3, 5]),
        ("priority>3", [4, 6]),
        ("priority>=4", [4, 6]),
        ("impactBETWEEN1@2", [1, 2, 3, 5]),
        ("sys_created_on>2024-06-01 00:00:00", [4, 5, 6]),
        ("sys_created_on<2024-04-01", [1]),
        ("category=database^state=1", [2]),
        ("category=network^ORcategory=database", [2, 4, 5]),
        ("active=true^priority=1^ORpriority=2", [2, 3]),
        ("priority=1^ORpriority=2^category=database", [2]),
        ("category=database^NQcategory=network", [2, 4, 5]),
        ("category=database^state=7^NQcaller_id.user_name=abel.tuter^priority=5", [5, 6]),
        ("assignment_group.name=network", [4]),
        ("caller_id.email=Jane.Doe@example.com", [1, 5]),
        (f"assignment_group={NETWORK_GROUP_SYS_ID}", [4]),
        (f"assignment_group={NETWORK_GROUP_SYS_ID.upper()}", []),
        ("no_such_field=1^category=network", [4]),
        ("caller_id.no_such_field=x^category=network", [4]),
        ("category=network^EQ", [4]),
        ("short_descriptionCONTAINSorders", [2]),
        ("short_descriptionDOES NOT CONTAINdown", [1, 2, 4, 5, 6]),
        ("short_description*EMAIL", [3]),
        ("short_description!*down", [1, 2, 4, 5, 6]),
        ("short_description%failed", [2]),
        ("AAAA=BBBB^category=network", [4]),
        ("123TEXTQUERY321=orders load", [2]),
        ("123TEXTQUERY321=ORA-01653", [2]),
        ("123TEXTQUERY321=tablespace", [2]),
        ("123TEXTQUERY321=vpn^OR123TEXTQUERY321=backfill", [4, 5]),
        ("123TEXTQUERY321=vpn^priority=1", []),
    ],
)
async def test_encoded_query_operators_and_precedence(
    sn: httpx.AsyncClient, query: str, expected: list[int]
) -> None:
    assert await numbers(sn, query) == inc(*expected)


async def test_orderby_and_orderbydesc_sort_in_order(sn: httpx.AsyncClient) -> None:
    assert await numbers(sn, "ORDERBYDESCpriority") == inc(6, 4, 1, 5, 2, 3)
    assert await numbers(sn, "ORDERBYcategory^ORDERBYDESCnumber") == inc(5, 2, 6, 1, 4, 3)
    assert await numbers(sn, "active=true^ORDERBYDESCsys_created_on") == inc(6, 4, 3, 2, 1)


async def test_user_text_with_a_caret_injects_query_terms_as_on_a_real_instance(
    sn: httpx.AsyncClient,
) -> None:
    assert await numbers(sn, "number=INC0000001^NQactive=true") == inc(1, 2, 3, 4, 6)
    assert await numbers(sn, "short_descriptionLIKEnothing^NQanyfieldANYTHING") == inc(1, 2, 3, 4, 5, 6)


async def test_journal_table_is_queryable(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    target = servicenow.get_by_number("INC0000002")["sys_id"]
    response = await sn.get(
        "/api/now/table/sys_journal_field",
        params={"sysparm_query": f"element_id={target}^element=work_notes^ORDERBYDESCsys_created_on"},
    )
    (entry,) = response.json()["result"]
    assert entry["name"] == "incident" and entry["sys_created_by"] == "admin"
    assert entry["value"] == "Added a datafile to the tablespace; the next run will tell."


_QUERY_PIECES = st.sampled_from(
    [
        "^",
        "^OR",
        "^NQ",
        "^EQ",
        "ORDERBY",
        "ORDERBYDESC",
        "state",
        "caller_id.email",
        "priority",
        "=",
        "!=",
        "LIKE",
    ]
    + [
        "NOT IN",
        "IN",
        "BETWEEN",
        "@",
        "<",
        ">=",
        "ISEMPTY",
        ",",
        "1",
        "x",
        "",
        "javascript:",
        ".",
        "NQ",
        "OR",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    query=st.lists(_QUERY_PIECES | st.text(max_size=5), max_size=12).map("".join),
    fields=st.text(max_size=20),
    limit=st.text(max_size=4),
    mode=st.sampled_from(["true", "false", "all", "TRUE", "junk"]),
)
def test_any_query_parameters_get_an_answer_not_a_crash(
    query: str, fields: str, limit: str, mode: str
) -> None:
    emulator = ServiceNowEmulator()
    params = {
        "sysparm_query": query,
        "sysparm_fields": fields,
        "sysparm_limit": limit,
        "sysparm_offset": limit,
    }

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=emulator.transport(), auth=("admin", "admin")) as client:
            return await client.get(
                f"{emulator.base_url}{INCIDENTS}", params={**params, "sysparm_display_value": mode}
            )

    response = asyncio.run(ask())
    if response.status_code == 400:  # an operator the emulator does not implement is refused, never ignored
        assert response.json()["error"]["message"] == "Unsupported query"
        return
    assert response.status_code == 200
    assert int(response.headers["x-total-count"]) <= 6


# ---- paging ----------------------------------------------------------------------------------------------


async def test_paging_headers_follow_the_real_format(sn: httpx.AsyncClient) -> None:
    response = await sn.get(INCIDENTS + "?sysparm_query=ORDERBYnumber&sysparm_limit=2&sysparm_offset=2")
    assert [r["number"] for r in response.json()["result"]] == inc(3, 4)
    assert response.headers["x-total-count"] == "6"
    base = "https://dev-snowbot.service-now.com/api/now/table/incident?sysparm_query=ORDERBYnumber&sysparm_limit=2"
    assert response.headers["link"] == (
        f'<{base}&sysparm_offset=0>;rel="first",<{base}&sysparm_offset=0>;rel="prev",'
        f'<{base}&sysparm_offset=4>;rel="next",<{base}&sysparm_offset=4>;rel="last"'
    )


async def test_first_page_has_a_negative_prev_and_last_page_no_next(sn: httpx.AsyncClient) -> None:
    first = await sn.get(INCIDENTS, params={"sysparm_limit": 1})
    last = await sn.get(INCIDENTS, params={"sysparm_limit": 4, "sysparm_offset": 4})
    assert 'sysparm_limit=1&sysparm_offset=-1>;rel="prev"' in first.headers["link"]
    assert 'sysparm_limit=1&sysparm_offset=5>;rel="last"' in first.headers["link"]
    assert len(last.json()["result"]) == 2
    assert 'rel="next"' not in last.headers["link"]


async def test_default_limit_and_suppressed_link(sn: httpx.AsyncClient) -> None:
    everything = await sn.get(INCIDENTS)
    suppressed = await sn.get(
        INCIDENTS, params={"sysparm_suppress_pagination_header": "true", "sysparm_limit": 1}
    )
    assert len(everything.json()["result"]) == 6
    assert "sysparm_limit=10000&sysparm_offset=0" in everything.headers["link"]
    assert "link" not in suppressed.headers
    assert suppressed.headers["x-total-count"] == "6"


# ---- display values ----------------------------------------------------------------------------------------

FIELDS = "number,state,priority,assignment_group,assigned_to,caller_id.email,work_notes,opened_at,u_nope"
GROUP_LINK = f"https://dev-snowbot.service-now.com/api/now/table/sys_user_group/{NETWORK_GROUP_SYS_ID}"


async def read_vpn_incident(sn: httpx.AsyncClient, **params: str) -> dict:
    query = {"sysparm_query": "number=INC0000004", "sysparm_fields": FIELDS, **params}
    return (await sn.get(INCIDENTS, params=query)).json()["result"][0]


async def test_display_value_false_is_the_default(sn: httpx.AsyncClient) -> None:
    row = await read_vpn_incident(sn)
    assert row == {
        "number": "INC0000004",
        "state": "3",
        "priority": "4",
        "assignment_group": {"link": GROUP_LINK, "value": NETWORK_GROUP_SYS_ID},
        "assigned_to": "",
        "caller_id.email": "abel.tuter@example.com",
        "work_notes": "",
        "opened_at": "2024-06-11 14:40:22",
    }
    plain = await read_vpn_incident(sn, sysparm_exclude_reference_link="true")
    assert plain["assignment_group"] == NETWORK_GROUP_SYS_ID


async def test_display_value_true_shows_labels_and_names(sn: httpx.AsyncClient) -> None:
    row = await read_vpn_incident(sn, sysparm_display_value="true")
    assert row["state"] == "On Hold" and row["priority"] == "4 - Low"
    assert row["assignment_group"] == {"display_value": "Network", "link": GROUP_LINK}
    assert row["assigned_to"] == ""
    excluded = await read_vpn_incident(
        sn, sysparm_display_value="true", sysparm_exclude_reference_link="true"
    )
    assert excluded["assignment_group"] == "Network"


async def test_display_value_all_gives_both(sn: httpx.AsyncClient) -> None:
    row = await read_vpn_incident(sn, sysparm_display_value="all")
    assert row["state"] == {"display_value": "On Hold", "value": "3"}
    assert row["number"] == {"display_value": "INC0000004", "value": "INC0000004"}
    assert row["assignment_group"] == {
        "display_value": "Network",
        "link": GROUP_LINK,
        "value": NETWORK_GROUP_SYS_ID,
    }
    assert row["assigned_to"] == {"display_value": "", "value": ""}
    assert row["work_notes"] == {"display_value": "", "value": ""}
    excluded = await read_vpn_incident(sn, sysparm_display_value="all", sysparm_exclude_reference_link="true")
    assert excluded["assignment_group"] == {"display_value": "Network", "value": NETWORK_GROUP_SYS_ID}


async def test_choice_labels_come_from_sys_choice(sn: httpx.AsyncClient) -> None:
    query = {"sysparm_query": "element=state^value=3", "sysparm_fields": "sys_id"}
    choice = (await sn.get("/api/now/table/sys_choice", params=query)).json()["result"][0]["sys_id"]
    await sn.patch(f"/api/now/table/sys_choice/{choice}", json={"label": "Parked"})
    assert (await read_vpn_incident(sn, sysparm_display_value="true"))["state"] == "Parked"


async def test_get_one_honours_fields_and_display_mode(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    sys_id = servicenow.get_by_number("INC0000003")["sys_id"]
    params = {"sysparm_fields": "number,close_code,state", "sysparm_display_value": "true"}
    response = await sn.get(f"{INCIDENTS}/{sys_id}", params=params)
    assert response.json() == {
        "result": {"number": "INC0000003", "close_code": "Solution provided", "state": "Resolved"}
    }


# ---- create ----------------------------------------------------------------------------------------------


async def test_create_fills_defaults_and_answers_201_with_location(sn: httpx.AsyncClient) -> None:
    response = await sn.post(
        INCIDENTS, json={"short_description": "Anomaly on orders_daily", "u_unknown": "x"}
    )
    assert response.status_code == 201
    row = response.json()["result"]
    assert response.headers["location"] == f"https://dev-snowbot.service-now.com{INCIDENTS}/{row['sys_id']}"
    assert re.fullmatch(r"[0-9a-f]{32}", row["sys_id"])
    assert row["number"] == "INC0010001"
    expected = {"state": "1", "incident_state": "1", "impact": "3", "urgency": "3", "priority": "5"}
    expected |= {"category": "inquiry", "active": "true", "caller_id": "", "sys_created_by": "admin"}
    expected |= {"sys_mod_count": "0", "work_notes": "", "comments": "", "sys_class_name": "incident"}
    assert {key: row[key] for key in expected} == expected
    assert row["opened_by"]["value"] == ADMIN_SYS_ID
    assert row["sys_created_on"] == row["opened_at"] == "2025-01-06 09:00:01"
    assert "u_unknown" not in row
    assert all(isinstance(value, str | dict) for value in row.values())
    assert (await create(sn, short_description="second"))["number"] == "INC0010002"


@pytest.mark.parametrize(("impact", "urgency"), sorted(PRIORITY))
async def test_priority_comes_from_the_matrix_not_the_client(
    sn: httpx.AsyncClient, impact: str, urgency: str
) -> None:
    row = await create(sn, short_description="p", impact=int(impact), urgency=urgency, priority="1")
    assert row["priority"] == str(min(5, int(impact) + int(urgency) - 1))


async def test_create_stores_strings_and_correlation_fields(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    row = await create(
        sn,
        short_description="Anomaly 42",
        correlation_id="qualytics-anomaly-42",
        correlation_display="Qualytics",
        assignment_group=NETWORK_GROUP_SYS_ID,
        reassignment_count=0,
    )
    stored = servicenow.incidents[row["sys_id"]]
    assert stored["correlation_display"] == "Qualytics" and stored["reassignment_count"] == "0"
    assert await numbers(sn, "correlation_id=qualytics-anomaly-42") == [row["number"]]


async def test_work_notes_in_a_post_become_journal_entries(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    row = await create(
        sn, short_description="with note", work_notes="Created by snowbot", comments="Hello caller"
    )
    assert row["work_notes"] == ""
    (note,) = servicenow.journal(row["sys_id"])
    assert note["value"] == "Created by snowbot" and note["element_id"] == row["sys_id"]
    assert servicenow.journal(row["sys_id"], "comments")[0]["value"] == "Hello caller"


def test_add_incident_uses_the_same_rules(servicenow: ServiceNowEmulator) -> None:
    row = servicenow.add_incident(short_description="seeded", impact="1", urgency="2", u_ignored="x")
    assert row["number"] == "INC0010001" and row["priority"] == "2" and "u_ignored" not in row
    assert servicenow.get_by_number("INC0010001") is row


# ---- update ----------------------------------------------------------------------------------------------


async def test_patch_is_partial_and_recomputes(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    row = await create(sn, short_description="to update", impact="1", urgency="3")
    response = await sn.patch(f"{INCIDENTS}/{row['sys_id']}", json={"urgency": "1", "state": "2"})
    updated = response.json()["result"]
    assert response.status_code == 200
    assert updated["priority"] == "1" and updated["state"] == updated["incident_state"] == "2"
    assert updated["short_description"] == "to update"
    assert updated["sys_mod_count"] == "1" and updated["sys_updated_on"] > row["sys_updated_on"]
    legacy = await sn.put(f"{INCIDENTS}/{row['sys_id']}", json={"incident_state": "3"})
    assert legacy.json()["result"]["state"] == "3" and legacy.json()["result"]["sys_mod_count"] == "2"


async def test_patch_without_changes_does_not_count(sn: httpx.AsyncClient) -> None:
    row = await create(sn, short_description="same")
    response = await sn.patch(
        f"{INCIDENTS}/{row['sys_id']}", json={"short_description": "same", "work_notes": ""}
    )
    assert response.json()["result"]["sys_mod_count"] == "0"


async def test_work_notes_append_and_read_back_newest_first(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    row = await create(sn, short_description="notes")
    url = f"{INCIDENTS}/{row['sys_id']}"
    first = await sn.patch(url, json={"work_notes": "first note"})
    await sn.patch(url, json={"work_notes": "second note", "comments": "visible to the caller"})
    assert first.json()["result"]["work_notes"] == ""
    assert [e["value"] for e in servicenow.journal(row["sys_id"])] == ["first note", "second note"]
    shown = (await sn.get(url, params={"sysparm_display_value": "true"})).json()["result"]
    assert shown["work_notes"] == (
        "2025-01-06 09:00:03 - System Administrator (Work notes)\nsecond note\n\n"
        "2025-01-06 09:00:02 - System Administrator (Work notes)\nfirst note\n\n"
    )
    assert (
        shown["comments"]
        == "2025-01-06 09:00:03 - System Administrator (Additional comments)\nvisible to the caller\n\n"
    )
    assert shown["comments_and_work_notes"].count("\n\n") == 3
    assert (await sn.get(url)).json()["result"]["sys_mod_count"] == "2"


async def test_resolve_and_close_stamp_the_record(sn: httpx.AsyncClient) -> None:
    row = await create(sn, short_description="to resolve")
    url = f"{INCIDENTS}/{row['sys_id']}"
    resolve = {"state": "6", "close_code": "Solution provided", "close_notes": "Reloaded the partition."}
    resolved = (await sn.patch(url, json=resolve)).json()["result"]
    assert resolved["resolved_at"] == "2025-01-06 09:00:02" and resolved["active"] == "true"
    assert resolved["resolved_by"]["value"] == ADMIN_SYS_ID and resolved["closed_at"] == ""
    closed = (await sn.patch(url, json={"state": "7"})).json()["result"]
    assert closed["closed_at"] == "2025-01-06 09:00:03" and closed["active"] == "false"
    assert closed["resolved_at"] == "2025-01-06 09:00:02" and closed["closed_by"]["value"] == ADMIN_SYS_ID


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"state": "6"}, "Resolution code, Resolution notes"),
        ({"state": "6", "close_code": "Solution provided"}, "Resolution notes"),
        ({"state": "7", "close_code": "Solution provided", "close_notes": "  "}, "Resolution notes"),
        ({"state": "6", "close_code": "Fixed it", "close_notes": "done"}, "Resolution code"),
        ({"state": "6", "close_code": "Solved (Permanently)", "close_notes": "done"}, "Resolution code"),
    ],
)
async def test_data_policy_rejects_resolving_without_close_info(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient, body: dict, missing: str
) -> None:
    row = await create(sn, short_description="policy")
    response = await sn.patch(f"{INCIDENTS}/{row['sys_id']}", json={**body, "work_notes": "resolving"})
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Operation Failed",
            "detail": f"Data Policy Exception: \n\tThe following fields are mandatory: {missing}",
        },
        "status": "failure",
    }
    stored = servicenow.incidents[row["sys_id"]]
    assert (
        stored["state"] == "1" and stored["sys_mod_count"] == "0" and servicenow.journal(row["sys_id"]) == []
    )


async def test_legacy_instances_accept_the_legacy_close_codes() -> None:
    emulator = ServiceNowEmulator(close_codes="legacy")
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url, auth=("admin", "admin")
    ) as sn:
        row = await create(sn, short_description="legacy")
        body = {"state": "6", "close_code": "Solved (Permanently)", "close_notes": "done"}
        assert (await sn.patch(f"{INCIDENTS}/{row['sys_id']}", json=body)).status_code == 200


async def test_delete_answers_204(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    row = await create(sn, short_description="short-lived")
    response = await sn.delete(f"{INCIDENTS}/{row['sys_id']}")
    assert response.status_code == 204 and response.content == b""
    assert (await sn.get(f"{INCIDENTS}/{row['sys_id']}")).status_code == 404
    assert row["sys_id"] not in servicenow.incidents


# ---- faults, hibernation, the request log ------------------------------------------------------------------


async def test_scripted_error_then_normal(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    servicenow.faults.fail_next(503)
    failed = await sn.get(INCIDENTS)
    assert failed.status_code == 503
    assert failed.json()["status"] == "failure" and failed.json()["error"]["message"] == "Service Unavailable"
    assert (await sn.get(INCIDENTS)).status_code == 200


async def test_rate_limit_answers_429_with_headers(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    servicenow.faults.fail_next(429, retry_after=7)
    response = await sn.post(INCIDENTS, json={"short_description": "never stored"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-limit"] == "100"
    assert int(response.headers["x-ratelimit-reset"]) > 0 and response.headers["x-ratelimit-rule"]
    assert response.json() == {
        "error": {
            "message": "Rate limit exceeded",
            "detail": "Rate limit of 100 requests per hour for Table API exceeded",
        },
        "status": "failure",
    }
    assert len(servicenow.incidents) == 6


async def test_random_faults_replay_with_the_same_seed() -> None:
    async def statuses() -> list[int]:
        emulator = ServiceNowEmulator(faults=Faults(error_rate=0.3, rate_limit_rate=0.2, seed=7))
        async with httpx.AsyncClient(transport=emulator.transport(), auth=("admin", "admin")) as client:
            return [(await client.get(f"{emulator.base_url}{INCIDENTS}")).status_code for _ in range(30)]

    first = await statuses()
    assert first == await statuses()
    assert {200, 429} <= set(first) and set(first) & {500, 503}


async def test_a_dropped_response_was_applied(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    servicenow.faults.drop_next()
    with pytest.raises(httpx.ReadTimeout):
        await sn.post(INCIDENTS, json={"short_description": "lost answer"})
    assert servicenow.get_by_number("INC0010001")["short_description"] == "lost answer"
    assert servicenow.requests[-1].status == 201


async def test_a_dropped_response_on_a_real_port_hangs_until_the_client_gives_up() -> None:
    emulator = ServiceNowEmulator(drop_hang=30.0)
    emulator.faults.drop_next()
    with serve_in_thread(emulator.app) as base_url:
        # only the read waits briefly; connecting and the follow-up GET get CI-friendly timeouts
        impatient = httpx.Timeout(10.0, read=0.3)
        async with httpx.AsyncClient(base_url=base_url, auth=("admin", "admin"), timeout=impatient) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post(INCIDENTS, json={"short_description": "over the wire"})
            found = await client.get(INCIDENTS, params={"sysparm_query": "number=INC0010001"}, timeout=10.0)
            assert found.status_code == 200
    assert emulator.get_by_number("INC0010001")["short_description"] == "over the wire"


async def test_latency_sleeps_before_answering(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient, monkeypatch
) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    servicenow.faults.latency = 0.25
    assert (await sn.get(INCIDENTS)).status_code == 200
    assert slept == [0.25]


async def test_hibernating_instance_answers_html(
    servicenow: ServiceNowEmulator, sn_client_for: Callable
) -> None:
    servicenow.hibernating = True
    async with sn_client_for(None) as anonymous:
        response = await anonymous.get(INCIDENTS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "hibernating" in response.text


async def test_requests_are_logged(servicenow: ServiceNowEmulator, sn: httpx.AsyncClient) -> None:
    servicenow.reset_log()
    await sn.get(INCIDENTS, params={"sysparm_limit": "1"})
    await sn.post(INCIDENTS, json={"short_description": "logged"})
    assert servicenow.requests == [
        RecordedRequest("GET", INCIDENTS, {"sysparm_limit": "1"}, None, 200),
        RecordedRequest("POST", INCIDENTS, {}, {"short_description": "logged"}, 201),
    ]
    servicenow.reset_log()
    assert servicenow.requests == []


# ---- command line ----------------------------------------------------------------------------------------


def test_parse_user() -> None:
    assert cli.parse_user("bot:pw") == ("bot", "pw", ("itil",))
    assert cli.parse_user("boss:pw:admin, itil") == ("boss", "pw", ("admin", "itil"))
    with pytest.raises(ValueError, match="NAME:PASSWORD") as error:
        cli.parse_user("lonely")
    assert "pw" not in str(error.value)


def test_run_emulator_serves_servicenow_and_never_prints_passwords(monkeypatch, capsys) -> None:
    served: dict = {}

    def run(server, sockets=None):  # uvicorn.Server.run: record what would be served, serve nothing
        served.update(config=server.config, port=sockets[0].getsockname()[1])
        sockets[0].close()

    monkeypatch.setattr("uvicorn.Server.run", run)
    args = argparse.Namespace(
        service="servicenow", host="127.0.0.1", port=0, user=["bot:hunter2"], token=None
    )
    assert cli.run_emulator(args) == 0
    assert served["config"].host == "127.0.0.1" and served["config"].port == served["port"] > 0
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{served['port']}" in out and "bot" in out and "hunter2" not in out


def test_run_emulator_rejects_a_bad_user_spec(capsys) -> None:
    args = argparse.Namespace(service="servicenow", host="127.0.0.1", port=9, user=["nopass"], token=None)
    assert cli.run_emulator(args) == 2
    assert "NAME:PASSWORD" in capsys.readouterr().err


# ---- read ACLs and closed incidents (reference, corrections section) --------------------------------------

CHOICES = "/api/now/table/sys_choice"
JOURNAL = "/api/now/table/sys_journal_field"
CLOSE_CODE_QUERY = "name=incident^element=close_code^inactive=false"


async def test_an_itil_account_cannot_filter_sys_choice_by_its_hidden_fields(sn_client_for: Callable) -> None:
    async with sn_client_for(("itil.user", "itil-pw")) as client:
        refused = await client.get(CHOICES, params={"sysparm_query": CLOSE_CODE_QUERY})
        unfiltered = await client.get(CHOICES, params={"sysparm_limit": "1"})
        by_label = await client.get(CHOICES, params={"sysparm_query": "label=Solution provided"})
    assert refused.status_code == 403
    assert refused.json() == {
        "error": {
            "message": "Insufficient rights to query records",
            "detail": "Field(s) present in the query do not have permission to be read",
        },
        "status": "failure",
    }
    assert unfiltered.status_code == 200
    (row,) = unfiltered.json()["result"]
    assert {"name", "element", "value"}.isdisjoint(row) and "label" in row  # stripped, as on an instance
    assert [r["label"] for r in by_label.json()["result"]] == ["Solution provided"]

    async with sn_client_for() as admin:
        allowed = await admin.get(
            CHOICES, params={"sysparm_query": CLOSE_CODE_QUERY, "sysparm_fields": "value"}
        )
    assert allowed.status_code == 200
    assert {"value": "Solution provided"} in allowed.json()["result"]


async def test_a_name_value_filter_on_a_hidden_field_is_refused_as_the_encoded_query_is(
    sn_client_for: Callable,
) -> None:
    async with sn_client_for(("itil.user", "itil-pw")) as client:
        refused = await client.get(CHOICES, params={"name": "incident", "element": "close_code"})
        by_label = await client.get(CHOICES, params={"label": "Solution provided"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Insufficient rights to query records"
    assert [r["label"] for r in by_label.json()["result"]] == ["Solution provided"]


async def test_read_acls_are_configurable_per_role(
    servicenow: ServiceNowEmulator, sn_client_for: Callable
) -> None:
    servicenow.add_user("integration", "int-pw", ["itil", "x_snowbot.reader"])
    servicenow.grant_read("x_snowbot.reader", "sys_choice.name", "sys_choice.element", "sys_choice.value")
    async with sn_client_for(("integration", "int-pw")) as client:
        allowed = await client.get(
            CHOICES, params={"sysparm_query": CLOSE_CODE_QUERY, "sysparm_fields": "value"}
        )
    async with sn_client_for(("itil.user", "itil-pw")) as client:
        still_refused = await client.get(CHOICES, params={"sysparm_query": CLOSE_CODE_QUERY})
    assert allowed.status_code == 200 and allowed.json()["result"]
    assert still_refused.status_code == 403


async def test_an_itil_account_reads_no_journal_rows(sn_client_for: Callable) -> None:
    async with sn_client_for(("itil.user", "itil-pw")) as client:
        created = await create(client, short_description="journal", work_notes="first note")
        query = {"sysparm_query": f"element_id={created['sys_id']}"}
        rows = await client.get(JOURNAL, params=query)
        text = await client.get(
            f"{INCIDENTS}/{created['sys_id']}",
            params={"sysparm_display_value": "true", "sysparm_fields": "work_notes"},
        )
    async with sn_client_for() as admin:
        admin_rows = await admin.get(JOURNAL, params=query)
        one = admin_rows.json()["result"][0]["sys_id"]
    async with sn_client_for(("itil.user", "itil-pw")) as client:
        single = await client.get(f"{JOURNAL}/{one}")
    assert rows.status_code == 200 and rows.json() == {"result": []}  # a denial that looks like success
    assert rows.headers["X-Total-Count"] == "0"
    assert "first note" in text.json()["result"]["work_notes"]  # the display value still holds it
    assert [r["value"] for r in admin_rows.json()["result"]] == ["first note"]
    assert single.status_code == 404


@pytest.mark.parametrize("state", ["7", "8"])
async def test_journal_writes_to_closed_or_canceled_incidents_are_dropped_silently(
    servicenow: ServiceNowEmulator, sn_client_for: Callable, state: str
) -> None:
    async with sn_client_for() as client:
        created = await create(
            client,
            short_description="closed",
            state=state,
            close_code="Solution provided",
            close_notes="done",
        )
        answer = await client.patch(f"{INCIDENTS}/{created['sys_id']}", json={"work_notes": "too late"})
        reopened = await client.patch(f"{INCIDENTS}/{created['sys_id']}", json={"state": "2"})
        after = await client.patch(f"{INCIDENTS}/{created['sys_id']}", json={"work_notes": "now it lands"})
    assert answer.status_code == 200
    assert answer.json()["result"]["state"] == state
    assert reopened.status_code == 200
    assert [entry["value"] for entry in servicenow.journal(created["sys_id"])] == ["now it lands"]
    assert after.status_code == 200


async def test_writes_answer_only_the_fields_asked_for(sn: httpx.AsyncClient) -> None:
    # ServiceNowDocs c_TableAPI.md: POST, PUT and PATCH take sysparm_fields ("Comma-separated list of fields
    # to return in the response"; the answer holds "those specified in the query parameters").
    params = {"sysparm_fields": "sys_id,number,state", "sysparm_exclude_reference_link": "true"}
    created = await sn.post(INCIDENTS, params=params, json={"short_description": "orders_daily failed"})
    assert created.status_code == 201
    assert sorted(created.json()["result"]) == ["number", "state", "sys_id"]
    sys_id = created.json()["result"]["sys_id"]

    noted = await sn.patch(
        f"{INCIDENTS}/{sys_id}",
        params={**params, "sysparm_display_value": "all"},
        json={"work_notes": "Anomaly score 0.97"},
    )

    assert noted.status_code == 200
    assert noted.json()["result"]["state"] == {"display_value": "New", "value": "1"}
    assert sorted(noted.json()["result"]) == ["number", "state", "sys_id"]


async def test_the_four_ticket_tables_number_and_resolve_as_an_instance_does(sn: httpx.AsyncClient) -> None:
    """problem (PRB, 101..107, the Madrid data policy), rm_defect / rm_enhancement (DFCT / ENHC, rm_task's
    states; closing makes them inactive): servicenow.kinds' sources."""
    base = "/api/now/table"
    problem = (await sn.post(f"{base}/problem", json={"short_description": "p"})).json()["result"]
    assert problem["number"].startswith("PRB") and (problem["state"], problem["problem_state"]) == (
        "101",
        "101",
    )
    refused = await sn.patch(f"{base}/problem/{problem['sys_id']}", json={"state": "106"})
    assert refused.status_code == 403
    assert "Assigned to, Resolution code" in refused.json()["error"]["detail"]
    done = {"state": "106", "assigned_to": ADMIN_SYS_ID, "resolution_code": "fix_applied"}
    missing = await sn.patch(f"{base}/problem/{problem['sys_id']}", json=done)
    assert "Cause notes, Fix notes" in missing.json()["error"]["detail"]
    done |= {"cause_notes": "cents", "fix_notes": "dollars"}
    resolved = (await sn.patch(f"{base}/problem/{problem['sys_id']}", json=done)).json()["result"]
    assert (resolved["problem_state"], resolved["active"]) == ("106", "true") and resolved["resolved_at"]
    for table, prefix in (("rm_defect", "DFCT"), ("rm_enhancement", "ENHC")):
        made = (await sn.post(f"{base}/{table}", json={"short_description": "d"})).json()["result"]
        assert made["number"] == f"{prefix}0010001" and made["state"] == "1"
        closed = await sn.patch(f"{base}/{table}/{made['sys_id']}", json={"state": "3", "close_notes": "ok"})
        assert closed.json()["result"]["active"] == "false" and closed.json()["result"]["closed_at"]


async def test_without_the_agile_plugin_its_tables_are_invalid() -> None:
    emulator = ServiceNowEmulator(agile=False)
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url, auth=("admin", "admin")
    ) as sn:
        for table in ("rm_defect", "rm_enhancement"):
            answer = await sn.get(f"/api/now/table/{table}")
            # servicenow-table-api.md §2 (O5): the shape of the answer for a table the instance lacks
            assert answer.status_code == 400
            assert answer.json() == {
                "error": {"message": f"Invalid table {table}", "detail": None},
                "status": "failure",
            }
        assert (await sn.get("/api/now/table/problem?sysparm_limit=1")).status_code == 200
