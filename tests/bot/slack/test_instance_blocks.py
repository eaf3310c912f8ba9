"""The instance select of the create and link modals, ticket option values that name their instance,
the instance names on the card and in `/snow tickets`, and `--option` parsing: pure functions, tested as
data and against slack_sdk's models."""

from __future__ import annotations

import json

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import blocks as b
from bot.slack import render
from bot.slack.flags import split_flags
from bot.slack.ids import ActionId, BlockId
from bot.usecases import Instance, InvalidInput
from emulators.slack import validate_view

ANOMALY = b.AnomalySummary(id=824, container="orders_daily")
META = b.ModalMetadata(channel="C_ALERTS", thread_ts="1.2", integration_id=1)
TWO = [
    Instance(2, "dev-b", "https://dev-b.service-now.com", True),
    Instance(1, "dev-snowbot", "https://dev-snowbot.service-now.com", False),
]


def select_of(view: b.View) -> dict | None:
    found = [blk for blk in view["blocks"] if blk.get("block_id") == BlockId.INSTANCE]
    return found[0] if found else None


def test_several_instances_give_a_dispatching_select_with_the_chosen_one_preselected() -> None:
    create = b.create_incident_modal(ANOMALY, META, description="d", instances=render.instance_choices(TWO))
    link = render.link_modal(824, b.ModalMetadata(), TWO)  # none chosen: the default
    for view, action_id, chosen in (
        (create, ActionId.CREATE_INSTANCE, "1"),
        (link, ActionId.LINK_INSTANCE, "2"),
    ):
        block = select_of(view)
        assert block is not None and block["type"] == "input" and block["dispatch_action"] is True
        element = block["element"]
        assert (element["type"], element["action_id"]) == ("static_select", action_id)
        assert [(o["value"], o["text"]["text"]) for o in element["options"]] == [
            ("2", "dev-b (default)"),
            ("1", "dev-snowbot"),
        ]
        assert element["initial_option"]["value"] == chosen
        assert validate_view(view, surface="modal") == []
        View(**view).validate_json()  # slack_sdk's models raise on what Slack refuses
    assert b.ModalMetadata.decode(link["private_metadata"]).integration_id == 2


def test_one_instance_gives_no_select_and_no_instance_in_the_metadata() -> None:
    one = TWO[:1]
    create = b.create_incident_modal(
        ANOMALY, b.ModalMetadata(), description="d", instances=render.instance_choices(one)
    )
    link = render.link_modal(824, b.ModalMetadata(), one)
    assert (select_of(create), select_of(link)) == (None, None)
    assert b.ModalMetadata.decode(link["private_metadata"]).integration_id is None


def test_metadata_and_ticket_values_carry_the_instance() -> None:
    assert b.ModalMetadata.decode(META.encode()) == META
    assert b.ModalMetadata.decode('{"integration_id": true}').integration_id is None
    sys_id = "46d44a5ea9fe198200f4e1e6d05d2f5b"
    assert b.ticket_value(None, sys_id) == sys_id
    assert b.parse_ticket_value(b.ticket_value(2, sys_id)) == (2, sys_id)
    assert b.parse_ticket_value(sys_id) == (None, sys_id)
    updated = b.with_metadata(
        b.link_incident_modal(824, META), b.ModalMetadata(anomaly_id=824, integration_id=2)
    )
    assert b.ModalMetadata.decode(updated["private_metadata"]).integration_id == 2


def test_the_card_and_the_ticket_list_name_the_instance_only_when_given() -> None:
    rows = [
        b.TicketLink(1, 824, "INC0010001", "New", "https://a/x", integration_id=1),
        b.TicketLink(2, 824, "INC0010001", "In Progress", "https://b/x", integration_id=2),
    ]
    names = {1: "dev-snowbot", 2: "dev-b"}
    card = json.dumps(b.anomaly_alert_message(ANOMALY, "https://q/824", rows, names), ensure_ascii=False)
    assert "INC0010001> · dev-snowbot · Incident · New" in card
    assert "INC0010001> · dev-b · Incident · In Progress" in card
    listed = json.dumps(b.tickets_message(824, rows, instances=names), ensure_ascii=False)
    assert "INC0010001> · dev-b · Incident · In Progress" in listed
    plain = json.dumps(b.anomaly_alert_message(ANOMALY, "https://q/824", rows), ensure_ascii=False)
    assert "dev-b" not in plain and "INC0010001> · Incident · New" in plain
    for message in (
        b.anomaly_alert_message(ANOMALY, "https://q/824", rows, names),
        b.tickets_message(824, rows, instances=names),
    ):
        for block in message["blocks"]:
            Block.parse(block).validate_json()


def test_split_flags() -> None:
    known = ("instance", "kind")
    assert split_flags(["824", "--instance", "dev-b"], known) == (["824"], {"instance": "dev-b"})
    assert split_flags(["--INSTANCE=dev-b", "824", "INC1"], known) == (["824", "INC1"], {"instance": "dev-b"})
    assert split_flags(["824"], known) == (["824"], {})
    with pytest.raises(InvalidInput, match="`--instance` needs a value"):
        split_flags(["824", "--instance"], known)
    with pytest.raises(InvalidInput, match="`--instance` needs a value"):
        split_flags(["824", "--instance="], known)
    with pytest.raises(
        InvalidInput, match=r"I don't know the option `--colour` \(options here: --instance, --kind\)"
    ):
        split_flags(["824", "--colour", "red"], known)
