"""`POST /webhooks/qualytics`: the shared secret, the payload, and the sync it triggers."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bot.app import build_app
from bot.settings import Settings
from bot.sync.webhook import MAX_BODY, MAX_DEPTH, SECRET_HEADER, anomaly_ids, webhook_router
from bot.sync.wiring import sync_extension
from bot.usecases import Snowbot, TicketForm
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator

SECRET = "flow-secret-1234"
N8N = {
    "event": "qualytics.flow.triggered",
    "flow": {"id": 123, "name": "My Flow"},
    "trigger": {"type": "anomaly", "timestamp": "2026-03-19T12:00:00Z"},
    "datastore": {"id": 1, "name": "Production DB"},
    "context": {
        "anomalies": [
            {
                "id": 456,
                "type": "record",
                "description": "Value out of expected range",
                "container": "orders",
                "fields": ["total_amount"],
                "created_at": "2026-03-19T11:59:00Z",
            }
        ],
        "containers": [{"id": 10, "name": "orders"}],
        "quality_checks": [{"id": 99, "name": "Total Amount Check", "status": "failed"}],
    },
    "operation": {"id": 789, "type": "scan", "result": "warning"},
    "target_link": "https://your-qualytics-instance.com/datastores/1",
}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    async def __call__(self, ids: list[int]) -> None:
        self.calls.append(ids)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_client(recorder: Recorder) -> Callable[..., httpx.AsyncClient]:
    def make(secret: str | None = SECRET, sync: object = recorder) -> httpx.AsyncClient:
        app = FastAPI()
        app.include_router(webhook_router(sync, SecretStr(secret) if secret is not None else None))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://snowbot.test")

    return make


@pytest.fixture
async def client(make_client) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


def test_ids_come_from_the_n8n_payload() -> None:
    assert anomaly_ids(N8N) == [456]


def test_ids_are_read_defensively_from_every_place_an_anomaly_is_named() -> None:
    payload = {
        "trigger": {"type": "Anomaly"},
        "context": {"anomalies": [{"id": "12", "field": "x"}, {"anomaly_id": 13}, 14, {"id": 12}]},
        "anomaly": {"id": 15},
        "anomaly_id": "16",
        "anomaly_ids": [17, True, "-3", "x"],
        "target_link": "https://acme.qualytics.io/datastores/1/anomalies?id=18",
        "message": "see https://acme.qualytics.io/anomalies/19 and anomalies?status=Active&id=20",
    }
    assert anomaly_ids(payload) == [15, 16, 17, 18, 19, 20, 12, 13, 14]
    assert anomaly_ids([{"id": 3}, 4]) == [3, 4]
    assert anomaly_ids("824") == [] and anomaly_ids(None) == []


async def test_a_notification_is_accepted_at_once_and_syncs_what_it_names(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await client.post("/webhooks/qualytics", json=N8N, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 202
    assert response.json() == {"anomaly_ids": [456]}
    assert recorder.calls == [[456]]


async def test_a_notification_naming_no_anomaly_does_nothing(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await client.post(
        "/webhooks/qualytics", json={"event": "qualytics.flow.triggered"}, headers={SECRET_HEADER: SECRET}
    )
    assert (response.status_code, response.json(), recorder.calls) == (202, {"anomaly_ids": []}, [])


@pytest.mark.parametrize(
    "headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}, {"x-secret": SECRET}]
)
async def test_a_wrong_or_missing_secret_is_401(
    client: httpx.AsyncClient, recorder: Recorder, headers
) -> None:
    response = await client.post("/webhooks/qualytics", json=N8N, headers=headers)
    assert response.status_code == 401
    assert "x-qualytics-secret" in response.json()["detail"] and "Bearer" in response.json()["detail"]
    assert recorder.calls == []


@pytest.mark.parametrize("secret", [None, ""])
async def test_without_a_configured_secret_the_route_is_closed(
    make_client, recorder: Recorder, secret
) -> None:
    async with make_client(secret=secret) as client:
        response = await client.post("/webhooks/qualytics", json=N8N, headers={SECRET_HEADER: ""})
    assert response.status_code == 503
    assert "SNOWBOT_WEBHOOK_SECRET" in response.json()["detail"]
    assert recorder.calls == []


async def test_without_qualytics_the_route_says_the_sync_is_not_configured(make_client) -> None:
    async with make_client(sync=None) as client:
        response = await client.post("/webhooks/qualytics", json=N8N, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 503 and "QUALYTICS_URL" in response.json()["detail"]


async def test_a_body_sent_as_json_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    response = await client.post("/webhooks/qualytics", content=b"{nope", headers=headers)
    assert response.status_code == 400 and response.json()["detail"] == "The notification is not JSON."


async def test_a_body_that_is_not_utf8_is_400(client: httpx.AsyncClient, recorder: Recorder) -> None:
    headers = {SECRET_HEADER: SECRET, "content-type": "text/plain"}
    response = await client.post("/webhooks/qualytics", content=b"anomaly \xff\xfe", headers=headers)
    assert response.status_code == 400 and recorder.calls == []


# ------------------------------------------------------------------------------------------ how Flows send it


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {SECRET}"},  # the HTTP Action, Auth Type Bearer
        {"authorization": f"bearer   {SECRET}"},
        {"Authorization": basic("qualytics", SECRET)},  # Auth Type Basic: the secret is the password
        {"Authorization": basic("", SECRET)},
        {SECRET_HEADER: SECRET},  # the n8n action
        {SECRET_HEADER: "wrong", "Authorization": f"Bearer {SECRET}"},
    ],
)
async def test_each_way_a_flow_sends_the_secret_is_accepted(
    client: httpx.AsyncClient, recorder: Recorder, headers
) -> None:
    response = await client.post("/webhooks/qualytics", json=N8N, headers=headers)
    assert (response.status_code, recorder.calls) == (202, [[456]])


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {SECRET}x",
        f"Token {SECRET}",
        basic(SECRET, "wrong"),  # the secret as the user name is not the password
        "Basic not-base64!",
        f'Digest username="qualytics", realm="snowbot", response="{SECRET}"',
        f"Basic {SECRET}",
    ],
)
async def test_other_authorizations_are_401_with_the_ways_to_send_it(
    client: httpx.AsyncClient, recorder: Recorder, authorization
) -> None:
    response = await client.post("/webhooks/qualytics", json=N8N, headers={"Authorization": authorization})
    assert response.status_code == 401 and recorder.calls == []
    assert "Authorization: Bearer <secret>" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


HTTP_ACTION_MESSAGE = (
    "Anomaly detected in orders_daily (Sales Warehouse): The field 'max_value' has a value that falls "
    "outside the declared limits.\nDetails: https://demo.qualytics.io/datastores/23/anomalies?id=824\n"
)


async def test_a_text_body_names_anomalies_by_their_urls(make_client, recorder: Recorder) -> None:
    """An HTTP Action's message is text written around {{ target_link }}."""
    text = HTTP_ACTION_MESSAGE + "Also <https://demo.qualytics.io/anomalies/825|this one>, Anomaly ID: 826."
    async with make_client() as client:
        response = await client.post(
            "/webhooks/qualytics",
            content=text.encode(),
            headers={"Authorization": f"Bearer {SECRET}", "content-type": "text/plain; charset=utf-8"},
        )
    assert (response.status_code, response.json()) == (202, {"anomaly_ids": [824, 825, 826]})
    assert recorder.calls == [[824, 825, 826]]


def test_text_urls_on_another_instance_are_ignored_when_qualytics_url_is_known() -> None:
    text = "https://demo.qualytics.io/anomalies/824 https://elsewhere.example/anomalies/5"
    assert anomaly_ids(text, "https://demo.qualytics.io") == [824]
    assert anomaly_ids(text) == [824, 5]


def test_json_of_an_undocumented_shape_is_read_as_text() -> None:
    """The Webhook action's body is not documented: any string in it may carry the link."""
    assert anomaly_ids({"text": HTTP_ACTION_MESSAGE, "blocks": [{"url": "x"}]}) == [824]
    assert anomaly_ids([{"message": "no link"}, "https://demo.qualytics.io/anomalies/7"]) == [7]


# ------------------------------------------------------------------------------------------ hostile bodies


@pytest.mark.parametrize("value", [10**30, 2**63, 0, -3, "99999999999999999999"])
async def test_an_id_out_of_range_is_400_and_syncs_nothing(
    client: httpx.AsyncClient, recorder: Recorder, value
) -> None:
    payload = {"context": {"anomalies": [{"id": 824}, {"id": value}]}}
    response = await client.post("/webhooks/qualytics", json=payload, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400 and "positive 63-bit integers" in response.json()["detail"]
    assert recorder.calls == []


async def test_the_largest_63_bit_id_is_accepted(client: httpx.AsyncClient, recorder: Recorder) -> None:
    payload = {"anomaly_id": 2**63 - 1}
    response = await client.post("/webhooks/qualytics", json=payload, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 202 and recorder.calls == [[2**63 - 1]]


@pytest.mark.parametrize("depth", [50_000, MAX_DEPTH + 1])
async def test_json_nested_too_deep_is_400(client: httpx.AsyncClient, recorder: Recorder, depth) -> None:
    body = "[" * depth + "]" * depth
    response = await client.post(
        "/webhooks/qualytics",
        content=body.encode(),
        headers={SECRET_HEADER: SECRET, "content-type": "application/json"},
    )
    assert response.status_code == 400 and "nested more than" in response.json()["detail"]
    assert recorder.calls == []


async def test_json_as_deep_as_allowed_is_read(client: httpx.AsyncClient, recorder: Recorder) -> None:
    payload: object = {"anomaly_id": 824}
    for _ in range(MAX_DEPTH - 1):
        payload = [payload]
    response = await client.post("/webhooks/qualytics", json=payload, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 202


async def test_a_body_declared_too_large_is_413_unread(client: httpx.AsyncClient, recorder: Recorder) -> None:
    body = b"x" * (MAX_BODY + 1)
    response = await client.post("/webhooks/qualytics", content=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 413 and recorder.calls == []


async def test_a_streamed_body_is_cut_off_once_it_is_too_large(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    sent: list[int] = []

    async def chunks():  # no Content-Length: the size is only known while reading
        for n in range(100):
            sent.append(n)
            yield b"x" * 16384

    response = await client.post("/webhooks/qualytics", content=chunks(), headers={SECRET_HEADER: SECRET})
    assert response.status_code == 413 and recorder.calls == []
    assert len(sent) <= MAX_BODY // 16384 + 2  # stopped reading, not 100 chunks (1.6 MB) read


async def test_a_body_at_the_limit_is_read(client: httpx.AsyncClient, recorder: Recorder) -> None:
    text = "https://demo.qualytics.io/anomalies/824 "
    body = (text + " " * (MAX_BODY - len(text))).encode()
    headers = {SECRET_HEADER: SECRET, "content-type": "text/plain"}
    response = await client.post("/webhooks/qualytics", content=body, headers=headers)
    assert response.status_code == 202 and recorder.calls == [[824]]


async def test_a_failing_sync_is_logged_not_raised(make_client, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(ids: list[int]) -> None:
        raise RuntimeError("database is locked")

    async with make_client(sync=broken) as client:
        response = await client.post("/webhooks/qualytics", json=N8N, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 202
    assert "sync of anomalies [456] (webhook) failed" in caplog.text


async def test_the_webhook_in_the_app_syncs_a_real_anomaly_end_to_end(
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
    q_emulator: QualyticsEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    settings = make_settings(webhook_secret=SECRET)
    snowbot = make_snowbot(settings)
    created = await snowbot.create_ticket_for_anomaly(
        824, TicketForm(short_description="max_value out of range"), "U1"
    )
    q_emulator.set_status(824, "Acknowledged")
    app = build_app(settings, snowbot=snowbot, extensions=[sync_extension])
    payload = {**N8N, "context": {"anomalies": [{"id": 824}]}}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://snowbot.test"
    ) as client:
        response = await client.post("/webhooks/qualytics", json=payload, headers={SECRET_HEADER: SECRET})

    assert response.status_code == 202
    [note] = [row["value"] for row in sn_emulator.journal(created.incident.sys_id)]
    assert (
        note.startswith("[")
        and " UTC] Qualytics Anomaly Status: Acknowledged\n(Qualytics anomaly 824, ref " in note
    )
