"""`PATCH /api/integrations/ticketing/{integration_id}`: an integration's `sync_back` mode."""

from __future__ import annotations

import httpx
import pytest

from bot.usecases import Snowbot
from storage import syncback


async def test_patch_sets_sync_back_and_the_list_shows_it(
    api_client: httpx.AsyncClient, snowbot: Snowbot
) -> None:
    [integration] = (await api_client.get("/api/integrations/ticketing")).json()
    assert integration["sync_back"] == "off"  # the default

    answer = await api_client.patch(
        f"/api/integrations/ticketing/{integration['id']}", json={"sync_back": "comment_and_archive"}
    )

    assert answer.status_code == 200 and answer.json()["sync_back"] == "comment_and_archive"
    assert syncback.mode(snowbot.db, integration["id"]) == "comment_and_archive"
    listed = (await api_client.get("/api/integrations/ticketing")).json()
    assert [i["sync_back"] for i in listed] == ["comment_and_archive"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/integrations/ticketing/999", {"sync_back": "comment"}, 404),
        ("/api/integrations/ticketing/1", {"sync_back": "always"}, 422),
        ("/api/integrations/ticketing/1", {}, 422),
        ("/api/integrations/ticketing/1", {"sync_back": "comment", "name": "x"}, 422),
    ],
)
async def test_patch_refuses_unknown_integrations_and_values(
    api_client: httpx.AsyncClient, path: str, body: dict[str, str], status: int
) -> None:
    answer = await api_client.patch(path, json=body)
    assert answer.status_code == status, answer.text
