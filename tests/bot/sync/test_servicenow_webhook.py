"""`POST /webhooks/servicenow`: the signature, the body, and the immediate refresh it triggers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlite_utils import Database

from bot.sync.engine import SyncEngine
from bot.sync.servicenow_webhook import MAX_BODY, servicenow_webhook_router
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from storage import syncback
from storage.integrations import Integration
from tests.bot.sync.conftest import Clock, Linked

SECRET = "sn-webhook-secret-0123456789"
SYS_ID = "0123456789abcdef0123456789abcdef"


def sign(body: bytes, secret: str = SECRET) -> str:
    """What the Business Rule computes (docs/servicenow-business-rule.md), written independently."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Calls:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, table: str, sys_id: str) -> None:
        self.seen.append((table, sys_id))


def client_for(refresh: object, secret: str | None = SECRET) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(servicenow_webhook_router(refresh, SecretStr(secret) if secret else None))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://snowbot.test")


BODY = json.dumps({"table": "incident", "sys_id": SYS_ID}).encode()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Snowbot-Signature": "sha256=" + "0" * 64}, 401),
        ({"X-Snowbot-Signature": sign(BODY, "another-secret")}, 401),
        ({"X-Snowbot-Signature": sign(BODY).removeprefix("sha256=")}, 401),  # the scheme is part of it
        ({"X-Snowbot-Signature": sign(BODY + b" ")}, 401),  # signed bytes differ from those sent
        ({"X-Snowbot-Signature": sign(BODY)}, 202),
        ({"X-Snowbot-Signature": sign(BODY).upper().replace("SHA256=", "sha256=")}, 202),  # hex any case
    ],
)
async def test_only_a_body_signed_with_the_secret_is_accepted(headers: dict[str, str], status: int) -> None:
    calls = Calls()
    async with client_for(calls) as client:
        answer = await client.post("/webhooks/servicenow", content=BODY, headers=headers)
    assert answer.status_code == status, answer.text
    assert calls.seen == ([("incident", SYS_ID)] if status == 202 else [])


@pytest.mark.parametrize(
    "body",
    [
        b"{nope",
        b"[]",
        json.dumps({"table": "sys_user", "sys_id": SYS_ID}).encode(),
        json.dumps({"table": "incident", "sys_id": "INC0010001"}).encode(),
        json.dumps({"table": "incident"}).encode(),
        b"\xff\xfe",
    ],
)
async def test_a_signed_body_of_the_wrong_shape_is_400(body: bytes) -> None:
    calls = Calls()
    async with client_for(calls) as client:
        answer = await client.post(
            "/webhooks/servicenow", content=body, headers={"X-Snowbot-Signature": sign(body)}
        )
    assert answer.status_code == 400 and calls.seen == []


async def test_no_secret_is_503_and_a_large_body_413() -> None:
    calls = Calls()
    async with client_for(calls, secret=None) as client:
        off = await client.post(
            "/webhooks/servicenow", content=BODY, headers={"X-Snowbot-Signature": sign(BODY)}
        )
    big = b" " * (MAX_BODY + 1)
    async with client_for(calls) as client:
        large = await client.post(
            "/webhooks/servicenow", content=big, headers={"X-Snowbot-Signature": sign(big)}
        )
    assert (off.status_code, large.status_code, calls.seen) == (503, 413, [])


async def test_a_signed_notification_refreshes_that_ticket_now(
    db: Database,
    integration: Integration,
    make_engine: Callable[..., SyncEngine],
    link_anomaly: Callable[..., Linked],
    sn: ServiceNowEmulator,
    qe: QualyticsEmulator,
    clock: Clock,
) -> None:
    engine = make_engine()
    assert syncback.set_mode(db, integration.id, "comment")
    linked = link_anomaly()
    await engine.run_pass()
    clock.advance(seconds=5)
    sn.update_as("beth.anglin", linked.sys_id, comments="Told through the Business Rule.")
    body = json.dumps({"table": "incident", "sys_id": linked.sys_id}).encode()
    unknown = json.dumps({"table": "incident", "sys_id": SYS_ID}).encode()

    async with client_for(engine.sync_ticket) as client:
        answer = await client.post(
            "/webhooks/servicenow", content=body, headers={"X-Snowbot-Signature": sign(body)}
        )
        nobody = await client.post(
            "/webhooks/servicenow", content=unknown, headers={"X-Snowbot-Signature": sign(unknown)}
        )

    assert (answer.status_code, nobody.status_code) == (202, 202)
    assert [c["message"].split("\n")[0] for c in qe.anomalies[linked.anomaly_id]["comments"]] == [
        f"Comment on {linked.number} by beth.anglin in ServiceNow: Told through the Business Rule."
    ]
