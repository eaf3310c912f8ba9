from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from emulators.qualytics import QualyticsEmulator
from qualytics_api import (
    Anomaly,
    AnomalyPage,
    Comment,
    QualyticsAuthError,
    QualyticsBadRequestError,
    QualyticsClient,
    QualyticsConfigError,
    QualyticsError,
    QualyticsNotFoundError,
    QualyticsRateLimitError,
    QualyticsTimeoutError,
    QualyticsUnavailableError,
    QualyticsUser,
    anomaly_url,
)
from qualytics_api import QualyticsRetry as RetryPolicy

BASE = "https://acme.qualytics.io"
TOKEN = "eyJ-very-SECRET-token-123"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def emulator() -> QualyticsEmulator:
    return QualyticsEmulator()


@pytest.fixture
async def client(emulator: QualyticsEmulator, sleeps: Sleeps):
    async with QualyticsClient.connect(
        emulator.base_url,
        SecretStr(emulator.token),
        transport=emulator.transport(),
        retry=RetryPolicy(sleep=sleeps),
    ) as qualytics:
        yield qualytics


@pytest.fixture
async def wire(sleeps: Sleeps):
    """A client whose network is a respx router bound to BASE/api."""
    with respx.mock(base_url=f"{BASE}/api", assert_all_called=False) as router:
        async with QualyticsClient.connect(
            BASE, SecretStr(TOKEN), retry=RetryPolicy(sleep=sleeps)
        ) as qualytics:
            yield qualytics, router


def anomaly_json(**overrides: object) -> dict:
    """The composite real-shape anomaly from the research notes (§3.1)."""
    data = {
        "id": 12345,
        "uuid": "8e8b9f8b-1234-4abc-9def-012345678901",
        "created": "2026-03-19T11:59:00.123Z",
        "type": "record",
        "status": "Acknowledged",
        "archived": False,
        "is_new": False,
        "source_enriched": True,
        "weight": 54,
        "anomalous_records_count": 17,
        "fingerprint": 884211093,
        "description": "17 rows in orders have total_amount outside [0, 100000].",
        "message": "total_amount failed Between check",
        "datastore": {"id": 1, "name": "Production DB", "store_type": "jdbc", "type": "snowflake"},
        "container": {"id": 10, "name": "orders", "container_type": "table", "table_type": "table"},
        "partition": {"name": "orders", "location": "PROD.SALES.ORDERS"},
        "global_tags": [{"type": "global", "name": "critical", "color": "#E53935"}],
        "assignees": [{"id": 7, "name": "Jane Doe", "email": "jane@example.com"}],
        "failed_checks": [
            {
                "message": "total_amount is not between 0 and 100000",
                "suggested_field": None,
                "suggested_value": None,
                "suggested_score": None,
                "quality_check": {
                    "id": 99,
                    "rule_type": "between",
                    "description": "Total Amount Check",
                    "fields": [{"name": "total_amount"}],
                    "weight": 7,
                    "is_passing": False,
                },
            }
        ],
        "comments": [
            {
                "id": 502,
                "created": "2026-03-19T13:00:00.000Z",
                "message": "Fixed upstream",
                "user": {"id": 8, "name": "Raj Patel", "email": "raj@example.com", "role": "Admin"},
            },
            {
                "id": 501,
                "created": "2026-03-19T12:30:05.000Z",
                "message": "Looking into it",
                "user": {
                    "id": 7,
                    "user_id": "auth0|abc123",
                    "email": "jane@example.com",
                    "name": "Jane Doe",
                    "role": "Member",
                },
            },
        ],
    }
    data.update(overrides)
    return data


# ------------------------------------------------------------------------------------------ models


def test_anomaly_parses_the_real_shape():
    anomaly = Anomaly.model_validate(anomaly_json())

    assert anomaly.id == 12345 and anomaly.uuid == "8e8b9f8b-1234-4abc-9def-012345678901"
    assert anomaly.status == "Acknowledged" and anomaly.archived is False and anomaly.type == "record"
    assert anomaly.created == datetime(2026, 3, 19, 11, 59, 0, 123000, tzinfo=UTC)
    assert anomaly.weight == 54 and anomaly.anomalous_records_count == 17
    assert (anomaly.datastore.id, anomaly.datastore.name, anomaly.datastore.type) == (
        1,
        "Production DB",
        "snowflake",
    )
    assert anomaly.container is not None and (anomaly.container.id, anomaly.container.name) == (10, "orders")
    check = anomaly.failed_checks[0]
    assert check.message == "total_amount is not between 0 and 100000"
    assert (check.quality_check.rule_type, check.quality_check.fields) == ("between", ["total_amount"])
    assert anomaly.fields == ["total_amount"]
    assert anomaly.tags == ["critical"]
    assert [c.id for c in anomaly.comments] == [501, 502]  # oldest first
    assert (anomaly.comments[0].user.name, anomaly.comments[0].user.email) == ("Jane Doe", "jane@example.com")


def test_anomaly_tolerates_missing_and_null_parts():
    anomaly = Anomaly.model_validate(
        {
            "id": 1,
            "status": "Duplicate",
            "created": "2026-01-02T03:04:05",  # naive: taken as UTC
            "datastore": {"id": 2},
            "container": None,
            "description": None,
            "failed_checks": [{"message": None, "quality_check": None}],
            "comments": [{"id": 3, "created": "2026-01-02T04:00:00+02:00", "message": "hi", "user": None}],
            "brand_new_field": {"whatever": True},
        }
    )

    assert anomaly.archived is True  # derived from the archive status when the API leaves it out
    assert anomaly.created.tzinfo is UTC and anomaly.created.hour == 3
    assert anomaly.container is None and anomaly.description == "" and anomaly.comments[0].created.hour == 2
    assert anomaly.failed_checks[0].quality_check.fields == [] and anomaly.comments[0].user.name == ""


def test_a_fractional_weight_is_read():
    """`weight` is Union[StrictFloat, StrictInt] in Qualytics' OpenAPI models (GetAnomalyListing)."""
    assert Anomaly.model_validate(anomaly_json(weight=54.5)).weight == 54.5
    assert Anomaly.model_validate(anomaly_json(weight=54.0)).weight == 54  # shown as 54, not 54.0
    page = AnomalyPage.model_validate(
        {"items": [anomaly_json(weight=0.25)], "total": 1, "page": 1, "size": 1}
    )
    assert page.items[0].weight == 0.25


@pytest.mark.parametrize(
    ("field", "bad", "read_as"),
    [
        ("weight", "heavy", None),  # a number
        ("weight", True, None),
        ("anomalous_records_count", 1.5, None),
        ("uuid", 42, None),  # a string
        ("description", {"rich": "text"}, ""),  # display text
        ("type", 7, ""),
        ("container", "orders", None),  # an object
        ("container", {"name": "no id"}, None),
        ("archived", "yes", False),  # a boolean: derived from the status instead
        ("global_tags", "critical", []),  # a list
    ],
)
def test_a_malformed_cosmetic_field_never_makes_the_anomaly_unreadable(field, bad, read_as):
    anomaly = Anomaly.model_validate(anomaly_json(**{field: bad}))
    name = "tags" if field == "global_tags" else field
    assert getattr(anomaly, name) == read_as
    assert (anomaly.id, anomaly.status) == (12345, "Acknowledged")


def test_malformed_items_of_a_list_are_left_out_and_the_rest_kept():
    data = anomaly_json()
    data["failed_checks"] = [*data["failed_checks"], "not a check", {"message": 5, "quality_check": "x"}]
    data["comments"] = [*data["comments"], {"id": "five", "created": "2026-03-19T14:00:00Z"}, None]
    data["global_tags"] = [{"name": "critical"}, {"name": None}, 3]
    data["failed_checks"][0]["quality_check"]["fields"] = [{"name": "total_amount"}, {"nom": "x"}, None]
    data["comments"][0]["user"] = {"name": ["Raj"], "email": 9}
    anomaly = Anomaly.model_validate(data)
    assert [c.id for c in anomaly.comments] == [501, 502]
    assert anomaly.failed_checks[0].quality_check.fields == ["total_amount"]
    assert [c.message for c in anomaly.failed_checks] == ["total_amount is not between 0 and 100000", ""]
    assert anomaly.tags == ["critical"]
    assert (anomaly.comments[1].user.name, anomaly.comments[1].user.email) == ("", None)


def test_status_is_an_open_string():
    assert Anomaly.model_validate(anomaly_json(status="Snoozed")).status == "Snoozed"


# ------------------------------------------------------------------------------------------ against the emulator


async def test_get_anomaly(client: QualyticsClient):
    anomaly = await client.get_anomaly(824)

    assert (anomaly.id, anomaly.type, anomaly.status, anomaly.archived) == (824, "record", "Active", False)
    assert (anomaly.datastore.id, anomaly.datastore.name) == (23, "Sales Warehouse")
    assert anomaly.container is not None and anomaly.container.name == "orders_daily"
    assert anomaly.created == datetime(2026, 1, 22, 13, 22, 40, 780346, tzinfo=UTC)
    assert anomaly.failed_checks[0].message == (
        "The field 'max_value' has a value that falls outside the declared limits"
    )
    assert anomaly.failed_checks[0].quality_check.rule_type == "between"
    assert anomaly.fields == ["max_value"] and anomaly.uuid


async def test_get_anomaly_with_comments(client: QualyticsClient):
    anomaly = await client.get_anomaly(821)

    assert [(c.message[:12], c.user.name, c.user.email) for c in anomaly.comments] == [
        ("CRM export d", "Jane Doe", "jane.doe@acme.example")
    ]


async def test_unknown_anomaly_is_not_found(client: QualyticsClient):
    with pytest.raises(QualyticsNotFoundError) as caught:
        await client.get_anomaly(99999)
    assert caught.value.message == "anomaly 99999 was not found in Qualytics"
    assert caught.value.status_code == 404 and caught.value.detail == "Anomaly 99999 not found"


async def test_list_anomalies_pages_newest_first(client: QualyticsClient, emulator: QualyticsEmulator):
    open_ids = {i for i, a in emulator.anomalies.items() if not a["archived"]}
    pages: list[AnomalyPage] = []
    page = 1
    while True:
        pages.append(await client.list_anomalies(page=page, size=3))
        if not pages[-1].has_more:
            break
        page += 1

    seen = [a.id for p in pages for a in p.items]
    assert len(pages) == -(-len(open_ids) // 3)
    assert set(seen) == open_ids and len(seen) == len(open_ids)
    assert all(p.total == len(open_ids) and p.size == 3 for p in pages)
    created = [a.created for p in pages for a in p.items]
    assert created == sorted(created, reverse=True)
    assert all(a.comments == [] for p in pages for a in p.items)  # listings carry no comments


async def test_list_anomalies_filters(client: QualyticsClient, emulator: QualyticsEmulator):
    sales = await client.list_anomalies({"datastore": 23})
    assert sales.items and {a.datastore.id for a in sales.items} == {23}

    open_statuses = await client.list_anomalies(
        {"status": ["Active", "Acknowledged"], "anomaly_type": "shape"}
    )
    assert {a.status for a in open_statuses.items} <= {"Active", "Acknowledged"}
    assert {a.type for a in open_statuses.items} == {"shape"}
    assert emulator.requests[-1].query["status"] == ["Active", "Acknowledged"]

    archived = await client.list_anomalies({"archived": "only"})
    assert archived.items and all(a.archived for a in archived.items)
    assert {a.status for a in archived.items} <= {"Resolved", "Duplicate", "Invalid", "Discarded"}

    everything = await client.list_anomalies({"archived": "include"}, size=100)
    assert everything.total == len(emulator.anomalies)

    unique = await client.list_anomalies({"rule_type": "isUnique", "archived": "include"})
    assert {a.id for a in unique.items} == {819, 827}


async def test_iter_anomalies_reads_everything(client: QualyticsClient, emulator: QualyticsEmulator):
    for _ in range(250):
        emulator.add_anomaly({"datastore": 7, "container": 71, "type": "record"})

    ids = [a.id async for a in client.iter_anomalies({"archived": "include"}, size=100)]

    assert len(ids) == len(set(ids)) == len(emulator.anomalies)
    assert [r.query["page"] for r in emulator.requests] == ["1", "2", "3"]


async def test_acknowledge(client: QualyticsClient, emulator: QualyticsEmulator):
    anomaly = await client.acknowledge(824)

    assert anomaly.status == "Acknowledged" and not anomaly.archived
    assert emulator.anomalies[824]["status"] == "Acknowledged"
    request = emulator.requests[-1]
    assert (request.method, request.path, request.body) == (
        "PUT",
        "/api/anomalies/824",
        {"status": "Acknowledged"},
    )


async def test_archive_then_restore_gives_acknowledged(client: QualyticsClient, emulator: QualyticsEmulator):
    assert await client.archive(824, status="Duplicate") is None
    archived = await client.get_anomaly(824)
    assert (archived.status, archived.archived) == ("Duplicate", True)
    assert emulator.requests[-2].query == {"archive": "true", "status": "Duplicate"}

    restored = await client.restore(824)

    assert (restored.status, restored.archived) == ("Acknowledged", False)  # never back to Active
    assert emulator.requests[-1].body == {"status": "Acknowledged"}
    assert not hasattr(client, "reopen")


async def test_archive_with_a_bad_status_carries_the_api_detail(client: QualyticsClient):
    with pytest.raises(QualyticsBadRequestError) as caught:
        await client.archive(824, status="Done")
    assert caught.value.status_code == 422
    assert caught.value.message.startswith("Qualytics refused to archive anomaly 824 as Done: query.status:")


async def test_add_comment(client: QualyticsClient, emulator: QualyticsEmulator):
    me = await client.whoami()
    first = await client.add_comment(824, "Incident INC0010006 opened in ServiceNow")
    second = await client.add_comment(824, "Assigned to the data platform team")

    assert isinstance(first, Comment) and second.id == first.id + 1
    assert first.user.name == me.name and first.created.tzinfo is UTC and first.anomaly_id == 824
    assert emulator.requests[-1].body == {"message": "Assigned to the data platform team", "anomaly_id": 824}
    comments = (await client.get_anomaly(824)).comments
    assert [c.id for c in comments] == [first.id, second.id]


async def test_add_comment_to_an_archived_anomaly_is_refused(client: QualyticsClient):
    with pytest.raises(QualyticsBadRequestError, match="archived"):
        await client.add_comment(818, "too late")


async def test_add_comment_needs_text(client: QualyticsClient):
    with pytest.raises(ValueError):
        await client.add_comment(824, "  ")


async def test_whoami(client: QualyticsClient):
    me = await client.whoami()
    assert isinstance(me, QualyticsUser) and me.name == "Snowbot Service" and me.role == "Member"


async def test_a_wrong_token_is_an_auth_error(emulator: QualyticsEmulator):
    async with QualyticsClient.connect(
        emulator.base_url, SecretStr("stale"), transport=emulator.transport()
    ) as qualytics:
        with pytest.raises(QualyticsAuthError) as caught:
            await qualytics.get_anomaly(824)
    assert caught.value.message == (
        "the Qualytics token is invalid or expired: create a new one under Settings → Tokens and set QUALYTICS_TOKEN"
    )


async def test_a_lost_answer_to_a_read_is_retried(client, emulator, sleeps):
    emulator.faults.drop_next()
    anomaly = await client.get_anomaly(824)
    assert anomaly.id == 824 and sleeps == [0.2] and len(emulator.requests) == 2


async def test_server_errors_on_a_status_change_are_retried(client, emulator, sleeps):
    emulator.faults.fail_next(503, count=2)
    anomaly = await client.acknowledge(824)
    assert anomaly.status == "Acknowledged" and sleeps == [0.2, 0.4]
    assert [r.status for r in emulator.requests] == [503, 503, 200]


async def test_a_lost_answer_to_a_comment_is_not_retried(client, emulator, sleeps):
    emulator.faults.drop_next()
    with pytest.raises(QualyticsTimeoutError) as caught:
        await client.add_comment(824, "hello")
    assert caught.value.maybe_applied is True
    assert "may have worked anyway" in caught.value.message
    assert sleeps == [] and len(emulator.requests) == 1
    assert [c["message"] for c in emulator.anomalies[824]["comments"]] == ["hello"]  # applied once


async def test_a_server_error_on_a_comment_is_not_retried(client, emulator, sleeps):
    emulator.faults.fail_next(503)
    with pytest.raises(QualyticsUnavailableError):
        await client.add_comment(824, "hello")
    assert sleeps == [] and len(emulator.requests) == 1 and emulator.anomalies[824]["comments"] == []


async def test_faults_give_up_after_the_policy_attempts(client, emulator, sleeps):
    emulator.faults.fail_next(500, count=5)
    with pytest.raises(QualyticsUnavailableError) as caught:
        await client.get_anomaly(824)
    assert caught.value.status_code == 500 and len(emulator.requests) == 3 and sleeps == [0.2, 0.4]


# ------------------------------------------------------------------------------------------ error mapping


@pytest.mark.parametrize(
    ("status", "body", "error", "fragment"),
    [
        (401, {"detail": "Invalid token"}, QualyticsAuthError, "the Qualytics token is invalid or expired"),
        (403, {"detail": "Forbidden"}, QualyticsAuthError, "the Qualytics token may not read anomaly 824"),
        (
            404,
            {"detail": "Anomaly 824 not found"},
            QualyticsNotFoundError,
            "anomaly 824 was not found in Qualytics",
        ),
        (
            400,
            {"detail": "Anomaly is locked"},
            QualyticsBadRequestError,
            "refused to read anomaly 824: Anomaly is locked",
        ),
        (409, {"detail": "Conflict"}, QualyticsBadRequestError, "refused to read anomaly 824: Conflict"),
        (
            422,
            {"detail": [{"loc": ["path", "id"], "msg": "Input should be a valid integer", "input": "x"}]},
            QualyticsBadRequestError,
            "path.id: Input should be a valid integer",
        ),
        (500, {"detail": "boom"}, QualyticsUnavailableError, "Qualytics is unavailable (HTTP 500)"),
        (502, "<html>Bad gateway</html>", QualyticsUnavailableError, "Qualytics is unavailable (HTTP 502)"),
        (
            418,
            {"detail": "teapot"},
            QualyticsError,
            "Qualytics answered HTTP 418 when asked to read anomaly 824: teapot",
        ),
    ],
)
async def test_status_codes_map_to_typed_errors(wire, status, body, error, fragment):
    qualytics, router = wire
    kwargs = (
        {"json": body} if isinstance(body, dict) else {"text": body, "headers": {"content-type": "text/html"}}
    )
    router.get("/anomalies/824").mock(return_value=httpx.Response(status, **kwargs))

    with pytest.raises(error) as caught:
        await qualytics.get_anomaly(824)

    assert fragment in caught.value.message and str(caught.value) == caught.value.message
    assert caught.value.status_code == status


@pytest.mark.parametrize(
    ("call", "method", "path", "permission"),
    [
        (lambda q: q.get_anomaly(824), "GET", "/anomalies/824", "Viewer"),
        (lambda q: q.acknowledge(824), "PUT", "/anomalies/824", "Editor"),
        (lambda q: q.restore(824), "PUT", "/anomalies/824", "Editor"),
        (lambda q: q.archive(824), "DELETE", "/anomalies/824", "Author"),
        (lambda q: q.add_comment(824, "hi"), "POST", "/comments", "Viewer"),
    ],
)
async def test_a_403_names_the_permission_the_action_needs(wire, call, method, path, permission):
    qualytics, router = wire
    router.route(method=method, path=path).mock(
        return_value=httpx.Response(403, json={"detail": "Not enough permissions"})
    )
    with pytest.raises(QualyticsAuthError) as caught:
        await call(qualytics)
    assert f"the {permission} team permission on the anomaly's datastore" in caught.value.message
    assert caught.value.detail == "Not enough permissions"


async def test_html_instead_of_json_is_unavailable_and_not_retried(wire, sleeps):
    qualytics, router = wire
    route = router.get("/anomalies/824").mock(
        return_value=httpx.Response(200, text="<html>Sign in</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(QualyticsUnavailableError, match="not JSON .text/html.*QUALYTICS_URL"):
        await qualytics.get_anomaly(824)
    assert route.call_count == 1 and sleeps == []


async def test_json_of_an_unexpected_shape_is_unavailable(wire):
    qualytics, router = wire
    router.get("/anomalies/824").mock(return_value=httpx.Response(200, json={"id": 824}))
    with pytest.raises(QualyticsUnavailableError, match="unexpected shape"):
        await qualytics.get_anomaly(824)


async def test_404_on_a_non_anomaly_path_points_at_the_url(wire):
    qualytics, router = wire
    router.get("/users/me").mock(return_value=httpx.Response(404, json={"detail": "Not Found"}))
    with pytest.raises(QualyticsNotFoundError, match="QUALYTICS_URL"):
        await qualytics.whoami()


async def test_timeouts_are_retried_then_reported(wire, sleeps):
    qualytics, router = wire
    route = router.get("/anomalies/824").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(QualyticsTimeoutError, match="did not answer in time when asked to read anomaly 824"):
        await qualytics.get_anomaly(824)
    assert route.call_count == 3 and sleeps == [0.2, 0.4]


async def test_a_dropped_connection_is_unavailable(wire):
    qualytics, router = wire
    router.get("/users/me").mock(side_effect=httpx.RemoteProtocolError("peer closed"))
    with pytest.raises(QualyticsUnavailableError, match="dropped the connection") as caught:
        await qualytics.whoami()
    assert not isinstance(caught.value, QualyticsTimeoutError)


async def test_connection_errors_say_where(wire):
    qualytics, router = wire
    router.get("/users/me").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(QualyticsUnavailableError, match=f"could not connect to Qualytics at {BASE}"):
        await qualytics.whoami()


async def test_a_comment_that_never_left_is_retried(wire, sleeps):
    qualytics, router = wire
    created = {"id": 1, "created": "2026-01-01T00:00:00Z", "message": "hi", "user": {"name": "Bot"}}
    route = router.post("/comments").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=created)]
    )
    comment = await qualytics.add_comment(824, "hi")
    assert comment.id == 1 and route.call_count == 2 and sleeps == [0.2]


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("lost"), httpx.Response(503), httpx.Response(429)])
async def test_a_comment_that_may_have_arrived_is_not_retried(wire, sleeps, failure):
    qualytics, router = wire
    route = router.post("/comments").mock(side_effect=[failure])
    with pytest.raises(QualyticsUnavailableError):
        await qualytics.add_comment(824, "hi")
    assert route.call_count == 1 and sleeps == []


async def test_retry_after_is_honoured(wire, sleeps):
    qualytics, router = wire
    route = router.get("/users/me").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"name": "Bot"}),
        ]
    )
    assert (await qualytics.whoami()).name == "Bot"
    assert route.call_count == 2 and sleeps == [7.0]


async def test_a_long_retry_after_is_not_waited_for(wire, sleeps):
    qualytics, router = wire
    router.get("/users/me").mock(return_value=httpx.Response(429, headers={"Retry-After": "600"}))
    with pytest.raises(QualyticsRateLimitError) as caught:
        await qualytics.whoami()
    assert (
        caught.value.retry_after == 600
        and "try again in 600 seconds" in caught.value.message
        and sleeps == []
    )


def test_retry_policy_backs_off_and_caps():
    policy = RetryPolicy(attempts=5, base_delay=1, max_delay=3, max_retry_after=10)
    assert [policy.backoff(n) for n in range(1, 6)] == [1, 2, 3, 3, None]
    assert policy.backoff(1, retry_after=10) == 10 and policy.backoff(1, retry_after=11) is None


# ------------------------------------------------------------------------------------------ requests on the wire


async def test_requests_carry_the_bearer_token_under_api(wire):
    qualytics, router = wire
    route = router.get("/users/me").mock(return_value=httpx.Response(200, json={"name": "Bot"}))
    await qualytics.whoami()
    request = route.calls.last.request
    assert str(request.url) == f"{BASE}/api/users/me"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"


async def test_filters_are_encoded_like_the_api_expects(wire):
    qualytics, router = wire
    route = router.get("/anomalies").mock(
        return_value=httpx.Response(200, json={"items": [], "total": 0, "page": 2, "size": 10})
    )
    page = await qualytics.list_anomalies(
        {
            "datastore": 23,
            "status": ["Active", "Acknowledged"],
            "source_enriched": False,
            "start_date": date(2026, 1, 2),
            "container": None,
        },
        page=2,
        size=10,
    )
    assert page.items == [] and not page.has_more
    params = route.calls.last.request.url.params
    assert params.get_list("status") == ["Active", "Acknowledged"]
    assert (params["datastore"], params["source_enriched"], params["start_date"]) == (
        "23",
        "false",
        "2026-01-02",
    )
    assert "container" not in params and (params["page"], params["size"]) == ("2", "10")


async def test_paging_arguments_are_checked(wire):
    qualytics, _ = wire
    with pytest.raises(ValueError):
        await qualytics.list_anomalies(page=0)
    with pytest.raises(ValueError):
        await qualytics.list_anomalies({"page": 3})


# ------------------------------------------------------------------------------------------ token hygiene


async def test_the_token_never_shows(wire, caplog):
    qualytics, router = wire
    caplog.set_level(logging.DEBUG)
    echo = {"detail": [{"loc": ["header", "authorization"], "msg": "bad header", "input": f"Bearer {TOKEN}"}]}
    router.get("/anomalies/1").mock(return_value=httpx.Response(401, json={"detail": "bad"}))
    router.get("/anomalies/2").mock(return_value=httpx.Response(422, json=echo))
    router.get("/anomalies/3").mock(return_value=httpx.Response(503))
    router.get("/anomalies/4").mock(side_effect=httpx.ReadTimeout("lost"))
    errors = []
    for anomaly_id in (1, 2, 3, 4):
        with pytest.raises(QualyticsError) as caught:
            await qualytics.get_anomaly(anomaly_id)
        errors.append(caught.value)

    shown = [repr(qualytics), repr(qualytics._http.auth), caplog.text]
    shown += [f"{e!s} {e!r} {e.detail} {e.args}" for e in errors]
    assert all(TOKEN not in text for text in shown)


def test_connect_refuses_an_empty_token_or_a_bad_url():
    with pytest.raises(QualyticsConfigError, match="QUALYTICS_TOKEN is empty"):
        QualyticsClient.connect(BASE, SecretStr("  "))
    with pytest.raises(QualyticsConfigError, match="QUALYTICS_URL"):
        QualyticsClient.connect("acme.qualytics.io", SecretStr(TOKEN))


# ------------------------------------------------------------------------------------------ links


@pytest.mark.parametrize("base", [BASE, f"{BASE}/", f"{BASE}/api", f"{BASE}/api/"])
def test_anomaly_url(base):
    anomaly = Anomaly.model_validate(anomaly_json(id=824, datastore={"id": 23, "name": "Sales Warehouse"}))
    assert anomaly_url(base, anomaly) == f"{BASE}/datastores/23/anomalies?id=824"


async def test_client_anomaly_url_uses_its_instance(client: QualyticsClient):
    anomaly = await client.get_anomaly(824)
    assert client.anomaly_url(anomaly) == "https://demo.qualytics.io/datastores/23/anomalies?id=824"


@pytest.mark.parametrize(
    "body",
    [
        [{"id": 1, "ticket_number": "INC1"}],
        {"items": [{"id": 1, "ticket_number": "INC1"}], "total": 1, "page": 1, "size": 50, "pages": 1},
    ],
)
async def test_ticket_links_reads_a_list_or_a_page(wire, body):
    """The body of Qualytics' own ticket links is not published: a list and a page are both read."""
    qualytics, router = wire
    router.get("/anomalies/824/ticket-links").mock(return_value=httpx.Response(200, json=body))
    assert await qualytics.ticket_links(824) == [{"id": 1, "ticket_number": "INC1"}]


async def test_ticket_links_against_the_emulator(client: QualyticsClient, emulator: QualyticsEmulator):
    assert await client.ticket_links(824) == []
    emulator.add_ticket_link(824, "INC0012345")
    assert [link["ticket_number"] for link in await client.ticket_links(824)] == ["INC0012345"]
