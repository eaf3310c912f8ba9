"""Several ServiceNow instances from Slack: the create and link modals offer the instance (the default
preselected; with one instance no select), the searches as you type search the chosen one, `--instance`
picks it from `/snow`, and `/snow tickets` names each ticket's instance."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.slack.blocks import ModalMetadata
from bot.slack.ids import ActionId, BlockId
from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.slack.conftest import Harness
from tests.bot.two_instances import connect_b, instance_b, routes

A, B = 1, 2


@pytest.fixture
def sn_b() -> ServiceNowEmulator:
    return instance_b()


@pytest.fixture
def servicenow_transport(
    sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator
) -> httpx.AsyncBaseTransport:
    return routes(sn_emulator, sn_b)


@pytest.fixture
async def two(h: Harness) -> Harness:
    """The harness with instance B connected too (B is the default: the last one connected)."""
    await connect_b(h.snowbot)
    return h


def instance_select(view: dict[str, Any]) -> dict[str, Any] | None:
    found = [b for b in view["blocks"] if b.get("block_id") == BlockId.INSTANCE]
    return found[0]["element"] if found else None


def metadata(view: dict[str, Any]) -> ModalMetadata:
    return ModalMetadata.decode(view["private_metadata"])


def choose(h: Harness, view_id: str, action_id: ActionId, integration_id: int) -> dict[str, Any]:
    action = {"type": "static_select", "action_id": action_id, "block_id": BlockId.INSTANCE}
    return h.block_actions_in_view(view_id, {**action, "selected_option": {"value": str(integration_id)}})


def reads(emulator: ServiceNowEmulator, table: str) -> int:
    return len([r for r in emulator.requests if r.method == "GET" and r.path.endswith(f"/{table}")])


async def test_the_create_modal_offers_the_instance_and_creates_in_the_chosen_one(
    two: Harness, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator
) -> None:
    h = two
    await h.command("create 824")
    view_id = h.slack.calls_to("views.update")[-1].args["view_id"]
    select = instance_select(h.slack.views[view_id])
    assert select is not None and select["type"] == "static_select"
    assert [o["text"]["text"] for o in select["options"]] == ["dev-b (default)", "dev-snowbot"]
    assert select["initial_option"]["value"] == str(B)
    assert metadata(h.slack.views[view_id]).integration_id == B

    await h.interact(choose(h, view_id, ActionId.CREATE_INSTANCE, A))
    view = h.slack.views[view_id]
    assert (metadata(view).integration_id, instance_select(view)["initial_option"]["value"]) == (A, str(A))  # type: ignore[index]
    assert metadata(view).anomaly_id == 824

    before_a, before_b = reads(sn_emulator, "sys_user_group"), reads(sn_b, "sys_user_group")
    groups = await h.interact(
        h.block_suggestion(view_id, ActionId.ASSIGNMENT_GROUP, BlockId.ASSIGNMENT_GROUP, "data")
    )
    assert [o["text"]["text"] for o in groups.json()["options"]] == ["Data Quality", "Database"]
    assert (reads(sn_emulator, "sys_user_group") - before_a, reads(sn_b, "sys_user_group") - before_b) == (
        1,
        0,
    )

    group = groups.json()["options"][0]
    assert group["value"].startswith(f"{A}:")  # the group's value names the instance it was found in
    entered = {
        BlockId.SHORT_DESCRIPTION: "Orders out of range in A",
        BlockId.ASSIGNMENT_GROUP: (group["value"], group["text"]["text"]),
    }
    await h.interact(choose(h, view_id, ActionId.CREATE_INSTANCE, B))  # switched after choosing the group
    refused = await h.interact(h.view_submission(view_id, entered))
    assert refused.json() == {
        "response_action": "errors",
        "errors": {
            BlockId.ASSIGNMENT_GROUP: "This group was found in another ServiceNow instance: choose it again in this one."
        },
    }
    await h.interact(choose(h, view_id, ActionId.CREATE_INSTANCE, A))
    await h.interact(h.view_submission(view_id, entered))
    [link] = links.for_anomaly(h.snowbot.db, 824)
    assert link.integration_id == A
    made = sn_emulator.get_by_number(link.ticket_number)
    assert made is not None and made["short_description"] == "Orders out of range in A"
    assert made["assignment_group"] == group["value"].split(":", 1)[1]
    assert sn_b.get_by_number(link.ticket_number) is None


async def test_the_link_modal_searches_the_chosen_instance_and_links_each_in_its_own(
    two: Harness, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator
) -> None:
    h = two
    await h.command("link 824")
    view_id = h.last_view()["id"]
    select = instance_select(h.slack.views[view_id])
    assert select is not None and select["initial_option"]["value"] == str(B)

    in_b = await h.interact(h.block_suggestion(view_id, ActionId.INCIDENTS, BlockId.INCIDENTS, "shared"))
    [option_b] = in_b.json()["options"]
    shared_b = sn_b.get_by_number("INC0000001")
    assert shared_b is not None and option_b["value"] == f"{B}:{shared_b['sys_id']}"

    await h.interact(choose(h, view_id, ActionId.LINK_INSTANCE, A))
    assert metadata(h.slack.views[view_id]).integration_id == A
    assert metadata(h.slack.views[view_id]).anomaly_id == 824
    before_a, before_b = reads(sn_emulator, "incident"), reads(sn_b, "incident")
    in_a = await h.interact(h.block_suggestion(view_id, ActionId.INCIDENTS, BlockId.INCIDENTS, "shared"))
    [option_a] = in_a.json()["options"]
    assert option_a["value"].startswith(f"{A}:")
    assert (reads(sn_emulator, "incident") > before_a, reads(sn_b, "incident") == before_b) == (True, True)

    chosen = [(o["value"], o["text"]["text"]) for o in (option_b, option_a)]  # the same number in each
    await h.interact(h.view_submission(view_id, {BlockId.INCIDENTS: chosen}))
    linked = links.for_anomaly(h.snowbot.db, 824)
    assert sorted((row.integration_id, row.ticket_number) for row in linked) == [
        (A, "INC0000001"),
        (B, "INC0000001"),
    ]
    for emulator in (sn_emulator, sn_b):
        assert "**Anomaly ID:** 824" in emulator.get_by_number("INC0000001")["description"]  # type: ignore[index]


async def test_snow_commands_take_the_instance_by_name_and_tickets_names_it(
    two: Harness, sn_emulator: ServiceNowEmulator, sn_b: ServiceNowEmulator
) -> None:
    h = two
    await h.command("create 824 --instance dev-snowbot")
    view_id = h.slack.calls_to("views.update")[-1].args["view_id"]
    assert metadata(h.slack.views[view_id]).integration_id == A
    assert instance_select(h.slack.views[view_id])["initial_option"]["value"] == str(A)  # type: ignore[index]

    await h.command("create 824 --instance nope")
    reply = h.world.hooks.to("command")[-1]
    assert reply["response_type"] == "ephemeral"
    assert "There is no ServiceNow instance 'nope'; connected: dev-b, dev-snowbot." in json.dumps(reply)

    await h.command("link 824 INC0000002 --instance=dev-snowbot")
    await h.command("link 824 INC0000002")  # the default: B's INC0000002, another ticket
    assert sorted(
        (row.integration_id, row.ticket_number) for row in links.for_anomaly(h.snowbot.db, 824)
    ) == [
        (A, "INC0000002"),
        (B, "INC0000002"),
    ]
    assert "**Anomaly ID:** 824" in sn_emulator.get_by_number("INC0000002")["description"]  # type: ignore[index]

    await h.command("search Unable to access --instance dev-b")
    found = json.dumps(h.world.hooks.to("command")[-1], ensure_ascii=False)
    assert "https://dev-b.service-now.com/" in found and "dev-snowbot.service-now.com" not in found

    await h.command("tickets 824")
    listed = json.dumps(h.world.hooks.to("command")[-1]["blocks"], ensure_ascii=False)
    assert "INC0000002> · dev-snowbot ·" in listed and "INC0000002> · dev-b ·" in listed


async def test_with_one_instance_the_modals_offer_no_choice(h: Harness) -> None:
    await h.command("create 824")
    create_view = h.slack.views[h.slack.calls_to("views.update")[-1].args["view_id"]]
    await h.command("link 824")
    link_view = h.last_view()
    assert (instance_select(create_view), instance_select(link_view)) == (None, None)
    assert (metadata(create_view).integration_id, metadata(link_view).integration_id) == (None, None)
    await h.command("create 824 --colour red")  # an option this command does not take is explained
    assert "I don't know the option `--colour`" in json.dumps(h.world.hooks.to("command")[-1])
