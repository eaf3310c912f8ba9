"""The ServiceNow emulator as a product for people developing against snowbot (issue 9 item 11):
name-value filters, refused operators, 414 for long URLs, client-chosen sys_ids and the Batch API."""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Callable

import httpx
import pytest

from emulators import cli
from emulators.servicenow import (
    INVALID_QUERY_RETURNS_NO_ROWS,
    MAX_URL_BYTES,
    NETWORK_GROUP_SYS_ID,
    ServiceNowEmulator,
)

INCIDENTS = "/api/now/table/incident"
BATCH = "/api/now/v1/batch"


async def numbers(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get(INCIDENTS, params={"sysparm_fields": "number", **params})
    assert response.status_code == 200, response.text
    return [row["number"] for row in response.json()["result"]]


def inc(*ids: int) -> list[str]:
    return [f"INC{i:07d}" for i in ids]


# ---- name-value filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"number": "INC0000002"}, [2]),
        ({"category": "database", "state": "1"}, [2]),
        ({"category": "database", "sysparm_query": "state=7"}, [5]),
        ({"category": "database", "sysparm_query": "state=7^NQstate=1"}, [2, 5]),
        ({"state": "Resolved"}, [3]),  # a choice by its display value
        ({"assignment_group": "network"}, [4]),  # a reference by its display value
        ({"assignment_group": NETWORK_GROUP_SYS_ID}, [4]),
        ({"caller_id.user_name": "abel.tuter"}, [4, 6]),
        ({"no_such_field": "x"}, [1, 2, 3, 4, 5, 6]),  # unknown fields are ignored
        ({"no_such_field": "x", "number": "INC0000003"}, [3]),
    ],
)
async def test_name_value_filters_and_with_the_encoded_query(
    sn: httpx.AsyncClient, params: dict[str, str], expected: list[int]
) -> None:
    assert await numbers(sn, **params) == inc(*expected)


@pytest.mark.parametrize(
    "params",
    [{"no_such_field": "x"}, {"sysparm_query": "no_such_field=x^ORnumber=INC0000001"}],
    ids=["name-value", "encoded"],
)
async def test_invalid_query_returns_no_rows_when_the_property_is_set(params: dict[str, str]) -> None:
    emulator = ServiceNowEmulator(properties={INVALID_QUERY_RETURNS_NO_ROWS: "true"})
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url, auth=("admin", "admin")
    ) as client:
        assert await numbers(client, **params) == []
        assert await numbers(client, number="INC0000001") == inc(1)


def test_the_property_can_be_set_from_the_command_line() -> None:
    args = argparse.Namespace(
        service="servicenow", user=None, token=None, property=[f"{INVALID_QUERY_RETURNS_NO_ROWS}=true"]
    )
    emulator, _ = cli.build_emulator(args, "http://127.0.0.1:1")
    assert emulator.properties == {INVALID_QUERY_RETURNS_NO_ROWS: "true"}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        cli.build_emulator(argparse.Namespace(**{**vars(args), "property": ["nonsense"]}), "x")


# ---- operators the emulator does not implement are refused --------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "categoryFOOnetwork^category=network",
        "short_descriptionSAMEASdescription",
        "caller_idDYNAMIC54635e965f510100a9ad2572f2b4774c",
        "opened_atONToday@javascript:gs.daysAgoStart(0)@javascript:gs.daysAgoEnd(0)",
        "assigned_toIN_HIERARCHYfdd0fa0f93f5d2505bd0bd886cba1015@9ee1b13dc6112271007f9d0efdb69cd0",
        "sys_class_nameINSTANCEOFtask",
        "JOINincident.caller_id=sys_user.sys_id!active=true",  # pysnc's add_join_query
        "RLQUERYsys_user_grmember.group,>0,m2m^user.nameLIKEjane^ENDRLQUERY",  # pysnc's add_rl_query
        "123TEXTQUERY321LIKEorders",
        "category=network^ORpriorityGT_FIELDurgency",
        "caller_id=javascript:gs.getUserID()",  # the instance would run the script
        "sys_created_onBETWEENjavascript:gs.daysAgoStart(1)@javascript:gs.daysAgoEnd(0)",
    ],
)
async def test_unknown_operators_are_refused_not_ignored(sn: httpx.AsyncClient, query: str) -> None:
    response = await sn.get(INCIDENTS, params={"sysparm_query": query})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Unsupported query"
    assert "does not implement" in error["detail"] and "CONTAINS" in error["detail"]


# ---- long URLs -------------------------------------------------------------------------------------------


async def test_urls_over_8_kb_answer_414_with_an_html_page(sn: httpx.AsyncClient) -> None:
    base = f"{INCIDENTS}?sysparm_query=number="
    just_fits = await sn.get(base + "x" * (MAX_URL_BYTES - len(base)))
    assert just_fits.status_code == 200
    too_long = await sn.get(base + "x" * (8347 - len(base)))  # the length seen refused on an instance
    assert too_long.status_code == 414
    assert too_long.headers["content-type"].startswith("text/html")
    assert too_long.text.startswith("<!doctype html>") and "414" in too_long.text


# ---- client-chosen sys_id --------------------------------------------------------------------------------


async def test_a_client_chosen_sys_id_is_kept_and_never_overwritten(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    chosen = "AAAABBBBCCCCDDDDEEEEFFFF00001111"  # pysnc's test_insert_custom_guid
    created = await sn.post(INCIDENTS, json={"sys_id": chosen, "short_description": "custom guid"})
    assert created.status_code == 201 and created.json()["result"]["sys_id"] == chosen
    assert created.headers["location"].endswith(f"{INCIDENTS}/{chosen}")
    assert (await sn.get(f"{INCIDENTS}/{chosen}")).json()["result"]["short_description"] == "custom guid"

    again = await sn.post(INCIDENTS, json={"sys_id": chosen, "short_description": "overwrite?"})
    assert again.status_code == 403 and "Duplicate entry" in again.json()["error"]["detail"]
    assert servicenow.incidents[chosen]["short_description"] == "custom guid"

    odd = (await sn.post(INCIDENTS, json={"sys_id": "short", "short_description": "x"})).json()["result"]
    assert odd["sys_id"] != "short" and len(odd["sys_id"]) == 32


# ---- Batch API -------------------------------------------------------------------------------------------


def item(request_id: str, method: str, url: str, body: dict | None = None) -> dict:
    entry = {"id": request_id, "method": method, "url": url, "headers": []}
    if body is not None:
        entry["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return entry


def answered(response: httpx.Response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["unserviced_requests"] == []
    return {served["id"]: served for served in payload["serviced_requests"]}


def decoded(served: dict) -> dict:
    return json.loads(base64.b64decode(served["body"]))


async def test_batch_runs_each_request_and_echoes_the_id_as_a_string(
    servicenow: ServiceNowEmulator, sn: httpx.AsyncClient
) -> None:
    first = servicenow.get_by_number("INC0000001")["sys_id"]
    long_query = "^".join(["AAAA=BBBB"] * 1200 + ["number=INC0000002"])  # > 8 KB: too long for a GET
    response = await sn.post(
        BATCH,
        json={
            "batch_request_id": 7,
            "rest_requests": [
                item("list", "GET", f"{INCIDENTS}?sysparm_fields=number&sysparm_query={long_query}"),
                item("patch", "PATCH", f"{INCIDENTS}/{first}", {"short_description": "batched"}),
                item("post", "POST", INCIDENTS, {"short_description": "created in a batch"}),
                item("delete", "DELETE", f"{INCIDENTS}/{first}"),
                item("missing", "GET", f"{INCIDENTS}/{'0' * 32}"),
            ],
        },
    )
    assert response.json()["batch_request_id"] == "7"
    served = answered(response)
    assert decoded(served["list"]) == {"result": [{"number": "INC0000002"}]}
    headers = {h["name"]: h["value"] for h in served["list"]["headers"]}
    assert headers["X-Total-Count"] == "1" and headers["Content-Type"].startswith("application/json")
    assert served["patch"]["status_code"] == 200 and served["patch"]["status_text"] == "OK"
    assert decoded(served["patch"])["result"]["short_description"] == "batched"
    assert served["post"]["status_code"] == 201
    assert decoded(served["post"])["result"]["number"] == "INC0010001"
    assert served["delete"]["status_code"] == 204 and served["delete"]["body"] == ""
    assert first not in servicenow.incidents
    assert served["missing"]["status_code"] == 404
    assert decoded(served["missing"])["error"]["message"] == "No Record found"
    assert [r.method for r in servicenow.requests[-6:]] == ["GET", "PATCH", "POST", "DELETE", "GET", "POST"]


async def test_batch_items_run_as_the_batch_user(sn_client_for: Callable) -> None:
    async with sn_client_for(("viewer", "viewer-pw")) as viewer:
        response = await viewer.post(
            BATCH, json={"batch_request_id": "1", "rest_requests": [item("w", "POST", INCIDENTS, {})]}
        )
    (served,) = answered(response).values()
    assert served["status_code"] == 403 and decoded(served)["error"]["message"] == "Operation Failed"


async def test_batch_requires_authentication_and_a_request_list(sn_client_for: Callable) -> None:
    async with sn_client_for(None) as anonymous:
        assert (await anonymous.post(BATCH, json={"rest_requests": []})).status_code == 401
    async with sn_client_for() as admin:
        refused = await admin.post(BATCH, json={"rest_requests": [{"id": "x"}]})
        assert refused.status_code == 400 and "rest_requests" in refused.json()["error"]["detail"]
        headerless = await admin.post(
            BATCH,
            json={"rest_requests": [{**item("h", "GET", INCIDENTS), "exclude_response_headers": True}]},
        )
        assert answered(headerless)["h"]["headers"] == []
