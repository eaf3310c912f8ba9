"""`/api/rules`: create, read (with who changed it and when), change, delete, and the dry run over the
newest anomalies, through the app and the emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from tests.conftest import API_TOKEN

from .conftest import new_anomaly

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
RULE: dict[str, Any] = {
    "name": "Severe sales anomalies",
    "match": {"datastore": 23, "min_weight": 40},
    "template": {"short_description": "{rule_type} on {container} (anomaly {id})", "urgency": "1"},
    "channel_id": "C0RULES",
}


@pytest.fixture
async def api(bot: Snowbot, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, snowbot=bot)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
    ) as http:
        yield http


async def test_crud_records_who_changed_a_rule_and_when(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/rules", json=RULE)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["enabled"] is True and rule["ticket_kind"] == "incident"
    assert (rule["recurrence_window"], rule["max_per_hour"]) == (604800, 20)
    assert rule["created_by"] == rule["updated_by"] == "api" and rule["created_at"].endswith("Z")

    patched = await api.patch(f"/api/rules/{rule['id']}", json={"enabled": False, "max_per_hour": 5})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert patched.json()["max_per_hour"] == 5 and patched.json()["channel_id"] == "C0RULES"
    detail = (await api.get(f"/api/rules/{rule['id']}")).json()
    assert [c["action"] for c in detail["changes"]] == ["created", "updated"]
    assert detail["changes"][1]["detail"] == {"enabled": False, "max_per_hour": 5}
    assert [r["id"] for r in (await api.get("/api/rules")).json()] == [rule["id"]]

    assert (await api.delete(f"/api/rules/{rule['id']}")).status_code == 204
    assert (await api.get(f"/api/rules/{rule['id']}")).status_code == 404
    assert (await api.delete(f"/api/rules/{rule['id']}")).status_code == 404
    assert (await api.get("/api/rules")).json() == []


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"short_description": "Anomaly {id} {secret}"}, "template.short_description"),
        ({"short_description": "{id.__class__}"}, "template.short_description"),
        ({"short_description": "{weight:>99999999}"}, "template.short_description"),
        ({"short_description": "ok", "description": "{datastore!r}"}, "template.description"),
        ({"short_description": "ok", "urgency": "9"}, "template.urgency"),
    ],
)
async def test_a_template_with_an_unknown_field_is_refused_when_saved(
    api: httpx.AsyncClient, template: dict[str, str], field: str
) -> None:
    answer = await api.post("/api/rules", json={**RULE, "template": template})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert (await api.get("/api/rules")).json() == []


async def test_the_dry_run_says_what_would_have_been_created_and_writes_nothing(
    api: httpx.AsyncClient, q_emulator: QualyticsEmulator, sn_emulator: ServiceNowEmulator
) -> None:
    rule = (await api.post("/api/rules", json={**RULE, "enabled": False})).json()
    new_anomaly(q_emulator, 900)
    before = len(sn_emulator.incidents)
    answer = await api.post(f"/api/rules/{rule['id']}/dry-run", params={"last": 5})
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["looked_at"] == 5 and run["over_rate"] is False
    by_id = {item["anomaly_id"]: item for item in run["items"]}
    assert by_id[900] == {
        "anomaly_id": 900,
        "outcome": "create",
        "short_description": "between on orders_daily (anomaly 900)",
        "ticket_number": None,
    }
    assert by_id[827]["outcome"] == "no_match"  # datastore 12
    assert run["would_create"] == sum(item["outcome"] == "create" for item in run["items"])
    assert len(sn_emulator.incidents) == before
    assert (await api.post(f"/api/rules/{rule['id']}/dry-run", params={"last": 0})).status_code == 422
    assert (await api.post("/api/rules/999/dry-run")).status_code == 404
