from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulators.faults import DROPPED_HEADER, Faults
from emulators.qualytics import DEMO_TOKEN, EmulatorError, QualyticsEmulator

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def emulator() -> QualyticsEmulator:
    return QualyticsEmulator(clock=Clock())


@pytest.fixture
async def http(emulator: QualyticsEmulator):
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url, headers=AUTH
    ) as client:
        yield client


# ------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {DEMO_TOKEN}"}]
)
async def test_the_api_needs_the_bearer_token(emulator, headers):
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=emulator.base_url) as client:
        response = await client.get("/api/anomalies/824", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert set(response.json()) == {"detail"}
    assert emulator.requests[-1].status == 401


async def test_health_needs_no_token(emulator):
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=emulator.base_url) as client:
        assert (await client.get("/api/health")).status_code == 204


async def test_unknown_paths_answer_fastapi_style(http):
    response = await http.get("/api/nothing-here")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


async def test_whoami(http, emulator):
    assert (await http.get("/api/users/me")).json() == emulator.user


# ------------------------------------------------------------------------------------------ seed and reads


def test_seed_matches_the_spec_sample(emulator):
    anomaly = emulator.anomalies[824]
    assert anomaly["datastore"]["id"] == 23 and anomaly["datastore"]["name"] == "Sales Warehouse"
    assert anomaly["container"]["name"] == "orders_daily" and anomaly["type"] == "record"
    assert anomaly["failed_checks"][0]["message"] == (
        "The field 'max_value' has a value that falls outside the declared limits"
    )
    assert anomaly["failed_checks"][0]["quality_check"]["fields"] == [{"name": "max_value"}]
    assert {d["name"] for d in emulator.datastores.values()} >= {"Sales Warehouse", "Orders DB"}
    assert {a["type"] for a in emulator.anomalies.values()} == {"record", "shape"}
    assert any(a["archived"] for a in emulator.anomalies.values())


def test_seed_can_be_left_out():
    emulator = QualyticsEmulator(seed=False)
    assert emulator.anomalies == {} and emulator.datastores == {}


async def test_detail_has_comments_and_listing_does_not(http):
    detail = (await http.get("/api/anomalies/821")).json()
    assert [c["user"]["name"] for c in detail["comments"]] == ["Jane Doe"]

    listing = (await http.get("/api/anomalies", params={"id": 821})).json()
    assert [item["id"] for item in listing["items"]] == [821] and "comments" not in listing["items"][0]


async def test_listing_leaves_archived_out_unless_asked(http, emulator):
    archived_ids = {i for i, a in emulator.anomalies.items() if a["archived"]}

    default = (await http.get("/api/anomalies", params={"size": 100})).json()
    only = (await http.get("/api/anomalies", params={"archived": "only", "size": 100})).json()
    both = (await http.get("/api/anomalies", params={"archived": "include", "size": 100})).json()

    assert {a["id"] for a in default["items"]}.isdisjoint(archived_ids)
    assert {a["id"] for a in only["items"]} == archived_ids
    assert both["total"] == len(emulator.anomalies) == default["total"] + only["total"]


async def test_listing_statuses_as_repeated_keys_or_commas(http):
    repeated = (await http.get("/api/anomalies?status=Active&status=Acknowledged")).json()
    commas = (await http.get("/api/anomalies?status=Active,Acknowledged")).json()
    assert repeated == commas and {a["status"] for a in repeated["items"]} == {"Active", "Acknowledged"}


async def test_listing_filters_and_orders(http):
    async def ids(**params) -> list[int]:
        return [a["id"] for a in (await http.get("/api/anomalies", params=params)).json()["items"]]

    assert await ids(datastore=23, container=231) == [825, 824, 823]
    assert await ids(datastore=23, container=231, sort_created="asc") == [823, 824, 825]
    assert await ids(datastore=23, sort_weight="desc") == [824, 825, 822, 823, 826]
    assert await ids(anomaly_type="shape", datastore=7) == [821]
    assert await ids(tag="critical") == [824]
    assert await ids(start_date="2026-01-23", end_date="2026-01-23") == [826, 825]


async def test_listing_filters_the_cli_and_the_openapi_add(http, emulator):
    """quality_check and source_enriched (qualytics-cli), field and timeframe (the OpenAPI's get_anomalies)."""

    async def ids(**params) -> list[int]:
        response = await http.get("/api/anomalies", params={"archived": "include", **params})
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    check = emulator.anomalies[827]["failed_checks"][1]["quality_check"]["id"]
    assert await ids(quality_check=check) == [827]
    assert await ids(field="email") == [821, 820]
    assert await ids(field=["phone", "quantity"]) == [821, 818]
    emulator.anomalies[824]["source_enriched"] = True
    assert await ids(source_enriched="true") == [824]
    emulator.clock = lambda: datetime(2026, 1, 25, 12, 0, tzinfo=UTC)
    assert await ids(timeframe=1) == [828]  # created within the last day
    assert (await http.get("/api/anomalies", params={"timeframe": "week"})).status_code == 422


async def test_pages_carry_their_count(http):
    page = (await http.get("/api/anomalies", params={"size": 4})).json()
    assert (page["total"], page["size"], page["pages"]) == (8, 4, 2)
    comments = (await http.get("/api/comments", params={"size": 2})).json()
    assert comments["pages"] == 2 and comments["total"] == 3


async def test_status_answers_like_the_readiness_check(http):
    response = await http.get("/api/status")
    assert response.json() == {"database_connection": "OK", "rabbitmq_connection": "OK"}


async def test_details_carry_the_openapi_required_fields(http):
    detail = (await http.get("/api/anomalies/821")).json()
    check = detail["failed_checks"][0]["quality_check"]
    assert {"created", "inferred", "coverage", "weight", "id", "rule_type"} <= set(check)
    user = detail["comments"][0]["user"]
    assert {"id", "created", "user_id", "email", "name", "role", "teams"} <= set(user)


async def test_put_sets_assignees(http, emulator):
    response = await http.put("/api/anomalies/824", json={"status": "Active", "assignee_ids": [7, 3]})
    assert [a["name"] for a in response.json()["assignees"]] == ["Jane Doe", "Snowbot Service"]
    cleared = await http.put("/api/anomalies/824", json={"status": "Active", "assignee_ids": []})
    assert cleared.json()["assignees"] == []
    assert (
        await http.put("/api/anomalies/824", json={"status": "Active", "assignee_ids": [999]})
    ).status_code == 404
    assert (
        await http.put("/api/anomalies/824", json={"status": "Active", "assignee_ids": "7"})
    ).status_code == 422


async def test_bulk_update_and_archive_are_all_or_nothing(http, emulator):
    refused = await http.patch("/api/anomalies", json=[{"id": 820, "status": "Acknowledged"}, {"id": 9999}])
    assert refused.status_code == 404 and emulator.anomalies[820]["status"] == "Active"
    updated = await http.patch(
        "/api/anomalies", json=[{"id": 820, "status": "Acknowledged"}, {"id": 822, "tags": ["x"]}]
    )
    assert [(a["id"], a["status"]) for a in updated.json()] == [(820, "Acknowledged"), (822, "Active")]
    assert (await http.patch("/api/anomalies", json={"id": 820})).status_code == 422

    bad = await http.request(
        "DELETE", "/api/anomalies", json=[{"id": 820, "status": "Resolved"}, {"id": 822, "status": "Done"}]
    )
    assert bad.status_code == 422 and emulator.anomalies[820]["archived"] is False
    archived = await http.request(
        "DELETE",
        "/api/anomalies",
        json=[{"id": 820, "archive": True, "status": "Resolved"}, {"id": 822, "archive": False}],
    )
    assert archived.status_code == 204
    assert emulator.anomalies[820]["status"] == "Resolved" and 822 not in emulator.anomalies


async def test_qualytics_own_ticket_links(http, emulator):
    assert (await http.get("/api/anomalies/824/ticket-links")).json() == []
    emulator.add_ticket_link(824, "INC0012345")
    [link] = (await http.get("/api/anomalies/824/ticket-links")).json()
    assert link["ticket_number"] == "INC0012345"
    assert (await http.get("/api/anomalies/9999/ticket-links")).status_code == 404


@pytest.mark.parametrize(
    "params", [{"size": 101}, {"size": 0}, {"page": 0}, {"page": "x"}, {"datastore": "x"}]
)
async def test_paging_limits(http, params):
    assert (await http.get("/api/anomalies", params=params)).status_code == 422


async def test_comments_listing_is_newest_first(http):
    await http.post("/api/comments", json={"message": "first", "anomaly_id": 824})
    await http.post("/api/comments", json={"message": "second", "anomaly_id": 820})
    items = (await http.get("/api/comments", params={"size": 2})).json()["items"]
    assert [(c["message"], c["anomaly_id"]) for c in items] == [("second", 820), ("first", 824)]


# ------------------------------------------------------------------------------------------ the back door


async def test_emulator_anomalies_adds_one_without_a_token(emulator):
    body = {
        "datastore": {"id": 23},
        "container": {"id": 231},
        "type": "shape",
        "status": "Active",
        "failed_checks": [
            {
                "message": "In 'amount', 2.000% are negative",
                "quality_check": {"rule_type": "notNegative", "fields": ["amount"]},
            }
        ],
        "extra_field": "kept",
    }
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=emulator.base_url) as client:
        response = await client.post("/_emulator/anomalies", json=body)
        assert response.status_code == 201
        created = response.json()
        assert created["id"] == max(emulator.anomalies) and created["uuid"] and created["archived"] is False
        assert created["created"] == "2026-02-01T09:00:01.000000Z"
        assert created["datastore"]["name"] == "Sales Warehouse" and created["extra_field"] == "kept"
        assert created["failed_checks"][0]["quality_check"]["fields"] == [{"name": "amount"}]

        fetched = await client.get(f"/api/anomalies/{created['id']}", headers=AUTH)
        assert fetched.json() == created
    assert [r.path for r in emulator.requests] == [
        f"/api/anomalies/{created['id']}"
    ]  # the back door is not logged


async def test_emulator_anomalies_takes_an_id_and_new_datastores(http, emulator):
    body = {
        "id": 5000,
        "datastore": {"id": 99, "name": "Finance Mart"},
        "container": {"id": 990, "name": "ledger"},
    }
    assert (await http.post("/_emulator/anomalies", json=body)).status_code == 201
    assert (
        emulator.anomalies[5000]["container"]["name"] == "ledger"
        and emulator.datastores[99]["name"] == "Finance Mart"
    )
    assert (await http.post("/_emulator/anomalies", json=body)).status_code == 409
    assert (await http.post("/_emulator/anomalies", json={"datastore": {"id": 12345}})).status_code == 422
    assert (await http.post("/_emulator/anomalies", json=[1])).status_code == 422
    assert (await http.post("/_emulator/anomalies", content=b"{")).status_code == 422
    bad_created = {"datastore": 7, "created": "yesterday"}
    assert (await http.post("/_emulator/anomalies", json=bad_created)).status_code == 422
    assert emulator.add_anomaly({"datastore": 7})["id"] == 5001


# ------------------------------------------------------------------------------------------ status changes


async def test_acknowledge_archive_and_restore(http, emulator):
    acked = await http.put("/api/anomalies/824", json={"status": "Acknowledged", "description": "on it"})
    assert (
        acked.status_code == 200
        and acked.json()["status"] == "Acknowledged"
        and acked.json()["description"] == "on it"
    )

    archived = await http.delete("/api/anomalies/824", params={"archive": "true", "status": "Resolved"})
    assert archived.status_code == 204
    assert (emulator.anomalies[824]["status"], emulator.anomalies[824]["archived"]) == ("Resolved", True)

    # Qualytics restores an archived anomaly as Acknowledged, never as Active (restore-anomalies.md).
    restored = (await http.put("/api/anomalies/824", json={"status": "Active"})).json()
    assert (restored["status"], restored["archived"]) == ("Acknowledged", False)

    emulator.set_status(824, "Duplicate")
    assert emulator.restore(824)["status"] == "Acknowledged"
    reactivated = (await http.put("/api/anomalies/824", json={"status": "Active"})).json()
    assert (reactivated["status"], reactivated["archived"]) == ("Active", False)  # open to open is allowed


@pytest.mark.parametrize("body", [{"status": "Resolved"}, {"status": "acknowledged"}, {}, None])
async def test_put_takes_only_open_statuses(http, body):
    response = await http.put("/api/anomalies/824", json=body)
    assert response.status_code == 422 and isinstance(response.json()["detail"], list)


async def test_archive_status_is_checked_and_unknown_anomalies_404(http):
    assert (
        await http.delete("/api/anomalies/824", params={"archive": "true", "status": "Done"})
    ).status_code == 422
    assert (
        await http.delete("/api/anomalies/9999", params={"archive": "true", "status": "Resolved"})
    ).status_code == 404
    assert (await http.put("/api/anomalies/9999", json={"status": "Active"})).status_code == 404


async def test_hard_delete(http, emulator):
    assert (await http.delete("/api/anomalies/824", params={"archive": "false"})).status_code == 204
    assert 824 not in emulator.anomalies and (await http.get("/api/anomalies/824")).status_code == 404


def test_direct_helpers(emulator):
    emulator.set_status(820, "Invalid")
    assert emulator.anomalies[820]["archived"] is True
    with pytest.raises(EmulatorError):
        emulator.add_comment(820, "closed")
    comment = emulator.add_comment(824, "from the UI", user={"name": "Jane Doe", "email": "jane@x"})
    assert emulator.anomalies[824]["comments"][-1] == comment and comment["user"]["name"] == "Jane Doe"


# ------------------------------------------------------------------------------------------ comments


async def test_comments_get_incrementing_ids_and_utc_times(http, emulator):
    first = (await http.post("/api/comments", json={"message": "a", "anomaly_id": 824})).json()
    second = (await http.post("/api/comments", json={"message": "b", "anomaly_id": 824})).json()

    assert second["id"] == first["id"] + 1
    assert first["created"].endswith("Z") and first["created"] < second["created"]
    assert first["user"]["email"] == emulator.user["email"] and first["anomaly_id"] == 824
    assert [c["message"] for c in emulator.anomalies[824]["comments"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message": "x", "anomaly_id": 818}, 400),  # archived
        ({"message": "x", "anomaly_id": 9999}, 404),
        ({"message": "  ", "anomaly_id": 824}, 422),
        ({"anomaly_id": 824}, 422),
        ({"message": "x", "anomaly_id": "824"}, 422),
        ({"message": "x"}, 422),
    ],
)
async def test_bad_comments_are_refused(http, body, status):
    assert (await http.post("/api/comments", json=body)).status_code == status


# ------------------------------------------------------------------------------------------ faults and the log


async def test_the_request_log(http, emulator):
    await http.get("/api/anomalies", params={"status": ["Active", "Acknowledged"], "page": 1})
    await http.post("/api/comments", json={"message": "x", "anomaly_id": 824})
    first, second = emulator.requests
    assert (first.method, first.path, first.query, first.body, first.status) == (
        "GET",
        "/api/anomalies",
        {"status": ["Active", "Acknowledged"], "page": "1"},
        None,
        200,
    )
    assert (second.method, second.body, second.status) == ("POST", {"message": "x", "anomaly_id": 824}, 200)
    emulator.reset_log()
    assert emulator.requests == []


async def test_an_error_fault_does_not_apply_the_request(http, emulator):
    emulator.faults.fail_next(503)
    response = await http.put("/api/anomalies/824", json={"status": "Acknowledged"})
    assert response.status_code == 503 and emulator.anomalies[824]["status"] == "Active"


async def test_a_rate_limit_fault_says_when_to_come_back(http, emulator):
    emulator.faults.fail_next(429, retry_after=4)
    response = await http.get("/api/anomalies/824")
    assert response.status_code == 429 and response.headers["retry-after"] == "4"


async def test_a_drop_applies_the_request_then_times_out(http, emulator):
    emulator.faults.drop_next()
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/api/comments", json={"message": "lost answer", "anomaly_id": 824})
    assert [c["message"] for c in emulator.anomalies[824]["comments"]] == ["lost answer"]
    assert emulator.requests[-1].status == 200


async def test_without_the_in_process_mark_a_drop_hangs_instead():
    """A request that did not come through `.transport()` (a real socket) is held, not marked."""
    emulator = QualyticsEmulator(drop_hang=0.0)
    emulator.faults.drop_next()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.base_url
    ) as client:
        response = await client.put("/api/anomalies/824", json={"status": "Acknowledged"}, headers=AUTH)
    assert response.status_code == 200 and DROPPED_HEADER not in response.headers
    assert emulator.anomalies[824]["status"] == "Acknowledged"


async def test_random_faults_replay_exactly():
    async def statuses(seed: int) -> list[int]:
        emulator = QualyticsEmulator(faults=Faults(error_rate=0.2, rate_limit_rate=0.1, seed=seed))
        async with httpx.AsyncClient(
            transport=emulator.transport(), base_url=emulator.base_url, headers=AUTH
        ) as client:
            for _ in range(40):
                await client.get("/api/anomalies/824")
        return [r.status for r in emulator.requests]

    first, again, other = await statuses(7), await statuses(7), await statuses(8)
    assert first == again and first != other
    assert {200, 429} <= set(first) and set(first) <= {200, 429, 500, 503}


async def test_faults_can_target_methods(emulator, http):
    emulator.faults.error_rate = 1.0
    emulator.faults.methods = frozenset({"POST"})
    assert (await http.get("/api/anomalies/824")).status_code == 200
    assert (await http.post("/api/comments", json={"message": "x", "anomaly_id": 824})).status_code in (
        500,
        503,
    )


# ------------------------------------------------------------------------------------------ scale


async def test_ten_thousand_anomalies_page_through():
    emulator = QualyticsEmulator(seed=False)
    emulator.add_datastore(1, "Big Warehouse", "snowflake")
    for n in range(10_000):
        emulator.add_anomaly(
            {"datastore": 1, "created": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)}
        )

    seen: list[int] = []
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url, headers=AUTH
    ) as client:
        for page in range(1, 101):
            body = (await client.get("/api/anomalies", params={"page": page, "size": 100})).json()
            seen.extend(item["id"] for item in body["items"])
    assert body["total"] == 10_000 and seen == list(range(10_000, 0, -1))
