"""The App Home: published on `app_home_opened`, refreshed by its button; status, links, sync health."""

from __future__ import annotations

import json

from bot.slack.ids import ActionId, ViewId
from storage import sync
from tests.bot.slack.conftest import Harness

NIGHTLY_LOAD = "INC0000002"


def home_opened(user: str) -> dict:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user[1:]}",
        "tab": "home",
        "event_ts": "1700000400.1",
    }


async def test_home_shows_the_integration_recent_links_and_sync_health(h: Harness) -> None:
    linked = await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    sync.record_events(
        h.snowbot.db,
        linked.link.id,
        "Acknowledged",
        False,
        [],
        [{"event_key": "status:1", "kind": "status", "payload": {"status": "Acknowledged"}}],
    )
    [item] = sync.items(h.snowbot.db, linked.link.id)
    sync.mark_failed(h.snowbot.db, item.id, "ServiceNow denied the operation: the service account needs itil")

    response = await h.event(home_opened("U_JANE"))

    assert response.status_code == 200
    [publish] = h.slack.calls_to("views.publish")
    assert publish.args["user_id"] == "U_JANE" and publish.error is None
    home = h.slack.views[h.slack.home_views["U_JANE"]]
    text = json.dumps(home, ensure_ascii=False)
    assert home["type"] == "home"
    assert "https://dev-snowbot.service-now.com" in text
    assert "Anomaly 824 → <" in text and NIGHTLY_LOAD in text
    assert "Pending: 0 · Failed: 1" in text and "the service account needs itil" in text
    assert ActionId.OPEN_CONNECT_MODAL not in text  # Jane is no admin


async def test_admins_get_the_connect_button_and_refresh_republishes(h: Harness) -> None:
    await h.event(home_opened("U_ADMIN"))
    home = h.slack.views[h.slack.home_views["U_ADMIN"]]
    assert ActionId.OPEN_CONNECT_MODAL in json.dumps(home)

    await h.snowbot.link_existing_ticket(824, NIGHTLY_LOAD, "test")
    refresh = {"type": "button", "action_id": ActionId.REFRESH_HOME, "block_id": "home_actions"}
    payload = h.block_actions_in_view(home["id"], refresh, user="U_ADMIN")
    payload["container"] = {"type": "view", "view_id": home["id"]}
    await h.interact(payload)

    assert len(h.slack.calls_to("views.publish")) == 2
    assert NIGHTLY_LOAD in json.dumps(h.slack.views[h.slack.home_views["U_ADMIN"]])


async def test_the_messages_tab_publishes_nothing(h: Harness) -> None:
    await h.event({**home_opened("U_JANE"), "tab": "messages"})

    assert h.world.methods() == []


async def test_help_and_connect_buttons_open_modals(h: Harness) -> None:
    await h.event(home_opened("U_ADMIN"))
    home_id = h.slack.home_views["U_ADMIN"]

    await h.interact(
        h.block_actions_in_view(home_id, {"type": "button", "action_id": ActionId.HELP}, user="U_ADMIN")
    )
    assert "/snow create" in json.dumps(h.last_view())

    connect = {"type": "button", "action_id": ActionId.OPEN_CONNECT_MODAL}
    await h.interact(h.block_actions_in_view(home_id, connect, user="U_ADMIN"))
    assert h.last_view()["callback_id"] == ViewId.CONNECT

    await h.interact(h.block_actions_in_view(home_id, connect, user="U_JANE"))
    assert "Only workspace admins and owners" in json.dumps(h.last_view())
