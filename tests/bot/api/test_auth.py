"""Every /api operation needs `Authorization: Bearer <SNOWBOT_API_TOKEN>`; without a configured token the API
is closed (503), never open."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from tests.conftest import API_TOKEN

EXAMPLE_VALUES = {
    "{anomaly_id}": "824",
    "{ticket_id}": "INC0000001",
    "{link_id}": "1",
    "{integration_id}": "1",
    "{rule_id}": "1",
}


def api_operations(settings: Settings, snowbot: Snowbot) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation in the app's OpenAPI document."""
    found = []
    for path, operations in build_app(settings, snowbot=snowbot).openapi()["paths"].items():
        for placeholder, value in EXAMPLE_VALUES.items():
            path = path.replace(placeholder, value)
        found += [(method.upper(), path) for method in operations if path.startswith("/api/")]
    return found


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Basic {API_TOKEN}"},
    {"Authorization": "Bearer "},
    {"Authorization": f"Bearer {API_TOKEN}x"},
    {"Authorization": "Bearer tökén".encode("latin-1")},
]


async def test_every_api_route_refuses_a_missing_or_wrong_token(
    snowbot: Snowbot, settings: Settings, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    operations = api_operations(settings, snowbot)
    assert len(operations) == 17  # 10, PATCH .../{integration_id} (sync_back), the six of /api/rules
    transport = httpx.ASGITransport(app=build_app(settings, snowbot=snowbot))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path in operations:
            for headers in BAD_HEADERS:
                response = await client.request(method, path, headers=headers, json={"title": "x"})
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                assert "SNOWBOT_API_TOKEN" in response.json()["detail"]
            # a malformed body does not get past the token check either
            response = await client.request(
                method, path, content=b"{oops", headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 401
    assert sn_emulator.requests == [] and q_emulator.requests == []
    assert list(snowbot.db.query("SELECT * FROM links")) == []


async def test_without_a_configured_token_the_api_is_closed(
    make_snowbot: Callable[..., Snowbot], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(api_token=None)
    bot = make_snowbot(settings)
    transport = httpx.ASGITransport(app=build_app(settings, snowbot=bot))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path in api_operations(settings, bot):
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
                response = await client.request(method, path, headers=headers)
                assert response.status_code == 503
                assert "SNOWBOT_API_TOKEN is not set" in response.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_right_token_is_accepted_with_any_scheme_case(
    api_client: httpx.AsyncClient, scheme: str
) -> None:
    response = await api_client.get(
        "/api/integrations/ticketing", headers={"Authorization": f"{scheme} {API_TOKEN}"}
    )
    assert response.status_code == 200
