"""The whole chain over real loopback sockets: client -> snowbot (uvicorn) -> ServiceNow and Qualytics
emulators (uvicorn), each in its own thread.

`serve_in_thread` runs without lifespan, so the bot's clients (which live on the server's event loop) are
closed through a test-only route on that loop before the server stops."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import APIRouter

from bot.app import Extension, build_app
from bot.composition import build_snowbot
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import QualyticsRetry
from servicenow import RetryPolicy
from tests.conftest import API_TOKEN, no_sleep

SAMPLE = {"title": "My ticket description", "priority": "3", "urgency": "3", "impact": "3"}


def closer(settings: Settings, snowbot: Snowbot) -> Extension:
    router = APIRouter()

    @router.post("/test/close")
    async def close() -> None:
        await snowbot.aclose()

    return Extension(routers=[router])


async def test_create_search_link_and_unlink_over_loopback(
    sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator, make_settings: Callable[..., Settings]
) -> None:
    with serve_in_thread(sn_emulator.app) as sn_url, serve_in_thread(q_emulator.app) as q_url:
        settings = make_settings(
            servicenow_instance_url=sn_url, allow_insecure_instance=True, qualytics_url=q_url
        )
        bot = build_snowbot(
            settings,
            servicenow_retry=RetryPolicy(sleep=no_sleep),
            qualytics_retry=QualyticsRetry(sleep=no_sleep),
        )
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        try:
            with serve_in_thread(build_app(settings, snowbot=bot, extensions=[closer])) as url:
                async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
                    created = await client.post(
                        "/api/integrations/ticketing/anomalies/824/tickets", json=SAMPLE
                    )
                    assert created.status_code == 201, created.text
                    ticket = created.json()["ticket"]
                    assert ticket["url"] == f"{sn_url}/nav_to.do?uri=incident.do?sys_id={ticket['ticket_id']}"

                    search = "/api/integrations/ticketing/tickets/search"
                    found = await client.get(search, params={"query": ticket["ticket_number"]})
                    assert [i["ticket_number"] for i in found.json()["items"]] == [ticket["ticket_number"]]

                    link = {"ticket_id": "INC0000002"}
                    linked = await client.post("/api/anomalies/824/ticket-links", json=link)
                    again = await client.post("/api/anomalies/824/ticket-links", json=link)
                    assert (linked.status_code, again.status_code) == (201, 409)

                    listed = (await client.get("/api/anomalies/824/ticket-links")).json()
                    assert [row["ticket_number"] for row in listed] == [ticket["ticket_number"], "INC0000002"]
                    gone = await client.delete(f"/api/anomalies/824/ticket-links/{linked.json()['id']}")
                    assert gone.status_code == 204

                    no_token = {"Authorization": ""}
                    assert (
                        await client.get("/api/anomalies/824/ticket-links", headers=no_token)
                    ).status_code == 401
                    assert (await client.post("/test/close")).status_code == 200
        finally:
            bot.db.close()
    assert [r.method for r in sn_emulator.requests if r.method != "GET"] == ["POST", "PATCH"]
