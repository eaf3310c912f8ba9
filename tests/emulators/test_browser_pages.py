"""What the emulators answer a person's browser: their index, and stand-ins for the vendors' UI pages that
snowbot links to (the incident's `nav_to.do` link, the anomaly's page in Qualytics)."""

from __future__ import annotations

import httpx
import pytest

from emulators.qualytics import DEMO_TOKEN, QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from emulators.slack import SlackEmulator
from qualytics_api import Anomaly, anomaly_url
from servicenow.models import incident_url

BASE = "http://emulator.test"


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def test_servicenow_serves_the_incident_link_snowbot_gives_behind_the_login() -> None:
    servicenow = ServiceNowEmulator(base_url=BASE)
    row = servicenow.get_by_number("INC0000002")
    assert row is not None
    link = incident_url(BASE, row["sys_id"])
    async with client(servicenow.app) as http:
        anonymous = await http.get(link)
        page = await http.get(link, auth=("admin", "admin"))
        record = await http.get(link, auth=("admin", "admin"), headers={"Accept": "application/json"})
        missing = await http.get(incident_url(BASE, "0" * 32), auth=("admin", "admin"))
        index = await http.get("/")

    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "INC0000002" in page.text and "Nightly orders_daily load failed" in page.text
    body = record.json()
    assert body["record"]["number"] == "INC0000002" and body["record"]["state"] == "New"  # display values
    assert body["work_notes"] == [entry["value"] for entry in servicenow.journal(row["sys_id"])]
    assert missing.status_code == 404
    assert index.status_code == 200 and row["sys_id"] in index.text


async def test_qualytics_serves_its_index_and_the_anomaly_page_snowbot_links_to() -> None:
    qualytics = QualyticsEmulator(base_url=BASE)
    async with client(qualytics.app) as http:
        detail = (
            await http.get("/api/anomalies/824", headers={"Authorization": f"Bearer {DEMO_TOKEN}"})
        ).json()
        link = anomaly_url(BASE, Anomaly.model_validate(detail))
        page = await http.get(link)
        as_json = await http.get(link, headers={"Accept": "application/json"})
        elsewhere = await http.get(link.replace("/datastores/23/", "/datastores/24/"))
        index = await http.get("/api", headers={"Accept": "application/json"})

    assert page.status_code == 200 and "Anomaly 824" in page.text and "orders_daily" in page.text
    assert as_json.json()["id"] == 824
    assert elsewhere.status_code == 404
    assert 824 in index.json()["anomalies"]
    assert any(line.startswith("GET /api/anomalies/{id}") for line in index.json()["endpoints"])


@pytest.mark.parametrize("path", ["/", "/api/"])
async def test_slack_lists_its_methods_at_the_api_root(path: str) -> None:
    async with client(SlackEmulator().app) as http:
        answer = await http.get(path)
    assert answer.status_code == 200
    assert {"auth.test", "chat.postMessage", "views.open"} <= set(answer.json()["methods"])
