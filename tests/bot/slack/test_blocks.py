"""Block Kit builders, tested as data: limits, ids, exact texts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import blocks as b
from bot.slack.anomaly_ref import find_anomaly_id
from bot.slack.ids import ActionId, BlockId, Shortcut, Subcommand, ViewId
from emulators.slack import validate_message_blocks, validate_view

NOW = datetime(2026, 3, 19, 12, 0, tzinfo=UTC)
ANOMALY = b.AnomalySummary(
    id=824,
    type="record",
    status="Active",
    container="orders",
    datastore="Production DB",
    failed_checks=("total_amount is not between 0 and 100000",),
    weight=54,
)
META = b.ModalMetadata(channel="C_ALERTS", thread_ts="1700000001.000100")
KNOWN_IDS = {str(v) for enum in (ActionId, BlockId, ViewId, Shortcut) for v in enum}


def ids_in(node: Any) -> list[tuple[str, str]]:
    """Every (key, value) for action_id / block_id / callback_id in a payload."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("action_id", "block_id", "callback_id") and isinstance(value, str):
                found.append((key, value))
            else:
                found += ids_in(value)
    elif isinstance(node, list):
        for item in node:
            found += ids_in(item)
    return found


def elements(node: Any, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == kind:
            found.append(node)
        for value in node.values():
            found += elements(value, kind)
    elif isinstance(node, list):
        for item in node:
            found += elements(item, kind)
    return found


def input_element(view: dict[str, Any], block_id: BlockId) -> dict[str, Any]:
    return next(blk["element"] for blk in view["blocks"] if blk.get("block_id") == block_id)


def links(n: int, *, synced: datetime | None = NOW) -> list[b.TicketLink]:
    return [
        b.TicketLink(
            id=i,
            anomaly_id=824,
            ticket_number=f"INC{10000 + i:07d}",
            status="In Progress",
            url=f"https://dev.service-now.com/nav_to.do?uri=incident.do?sys_id={i:032x}",
            last_synced_at=synced,
        )
        for i in range(1, n + 1)
    ]


def incidents(n: int) -> list[b.IncidentSummary]:
    return [
        b.IncidentSummary(
            f"INC{i:07d}", f"Nightly load failed {i}", "New", f"https://dev.service-now.com/i/{i}"
        )
        for i in range(n)
    ]


def all_outputs() -> list[tuple[str, dict[str, Any]]]:
    """Every builder, with awkward inputs (long texts, long lists)."""
    long_choices = [b.Choice(f"value{i}", "x" * 90 + str(i)) for i in range(150)]
    failures = [
        b.FailedSync(f"ServiceNow answered 503 {'!' * 80}", anomaly_id=i, ticket_number="INC1")
        for i in range(500)
    ]
    return [
        ("help", b.help_message()),
        ("loading", b.loading_modal("Creating a ServiceNow incident for you", ViewId.CREATE_INCIDENT)),
        ("notice", b.notice_modal("Something went wrong", "x" * 5000, reference="abc123")),
        (
            "create",
            b.create_incident_modal(
                ANOMALY,
                META,
                description="d" * 5000,
                short_description="s" * 300,
                categories=long_choices,
                subcategories=long_choices[:3],
                category="value3",
                assignment_group=("Database " * 20, "a" * 32),
            ),
        ),
        ("create-plain", b.create_incident_modal(ANOMALY, META, description="short")),
        ("link", b.link_incident_modal(824, META, initial_incidents=[("INC0010001 · x" * 10, "b" * 32)])),
        ("link-unknown", b.link_incident_modal(None, META, error="Anomaly 9 was not found")),
        ("anomaly-id", b.anomaly_id_modal(META, then="create", error="not a number")),
        (
            "connect",
            b.connect_modal(instance_url="https://dev.service-now.com", error="401", advice="Check it"),
        ),
        ("tickets", b.tickets_message(824, links(150), now=NOW)),
        ("tickets-empty", b.tickets_message(824, [])),
        ("search", b.search_results_message("nightly", incidents(150), total=400)),
        ("search-empty", b.search_results_message("nothing", [], total=0)),
        ("created", b.ticket_created_message("INC0010006", "https://dev.service-now.com/x", 824)),
        ("linked", b.tickets_linked_message([("INC1", "https://x/1"), ("INC2", "https://x/2")], 824)),
        (
            "status",
            b.status_message(
                integration=b.IntegrationStatus(
                    "Error", "https://dev.service-now.com", error="401", advice="Fix"
                ),
                recent_links=links(150),
                health=b.SyncHealth(pending=3, failed=failures, last_run_at=NOW),
                now=NOW,
            ),
        ),
        (
            "home",
            b.app_home_view(
                integration=b.IntegrationStatus("Connected", "https://dev.service-now.com", checked_at=NOW),
                recent_links=links(150),
                health=b.SyncHealth(failed=failures),
                is_admin=True,
            ),
        ),
        ("alert", b.anomaly_alert_message(ANOMALY, "https://acme.qualytics.io/anomalies/824")),
        ("card", b.anomaly_alert_message(ANOMALY, "https://acme.qualytics.io/anomalies/824", links(150))),
        (
            "home-watched",
            b.app_home_view(
                integration=None,
                recent_links=links(150),
                health=b.SyncHealth(failed=failures),
                watched_channels=[f"C{i:010d}" for i in range(40)],
            ),
        ),
        ("watch", b.watch_message("C0123456789", watching=True, changed=True)),
        ("unwatch", b.watch_message("C0123456789", watching=False, changed=False)),
        ("archive", b.archive_modal(824, META)),
        ("comment", b.comment_modal(824, META)),
        ("error", b.error_message("Couldn't reach <ServiceNow> & retry", reference="ref-1")),
    ]


@pytest.mark.parametrize(("name", "output"), all_outputs(), ids=[name for name, _ in all_outputs()])
def test_every_builder_output_is_valid_block_kit_with_known_ids(name: str, output: dict[str, Any]) -> None:
    json.dumps(output)  # plain data
    unknown = [(k, v) for k, v in ids_in(output) if v not in KNOWN_IDS]
    assert unknown == []
    if output.get("type") in ("modal", "home"):
        assert validate_view(output, surface=output["type"]) == []
        assert len(output["blocks"]) <= b.MAX_VIEW_BLOCKS
    else:
        assert set(output) == {"text", "blocks"}
        assert output["text"]
        assert validate_message_blocks(output["blocks"]) == []
        assert len(output["blocks"]) <= b.MAX_MESSAGE_BLOCKS
    for opt in elements(output, "static_select"):
        assert len(opt["options"]) <= 100
        assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150 for o in opt["options"])


def test_ticket_created_text_is_exact_and_has_a_view_button() -> None:
    msg = b.ticket_created_message("INC0010006", "https://dev.service-now.com/inc/6", 824)
    assert msg["text"] == "INC0010006 created and linked to anomaly 824"
    (button,) = elements(msg, "button")
    assert button["action_id"] == ActionId.VIEW_TICKET
    assert button["url"] == "https://dev.service-now.com/inc/6"


def test_help_lists_every_subcommand_with_its_arguments() -> None:
    text = json.dumps(b.help_message())
    for sub in Subcommand:
        assert f"/snow {sub}" in text
    assert (
        "/snow create <anomaly id or Qualytics anomaly URL>" in b.help_message()["blocks"][1]["text"]["text"]
    )
    assert "/snow link <anomaly> [INC|PRB|DFCT|ENHC number...]" in text


def test_create_modal_prefills_and_respects_limits() -> None:
    view = b.create_incident_modal(ANOMALY, META, description="Anomaly ID: 824\nType: record")
    short = input_element(view, BlockId.SHORT_DESCRIPTION)
    assert short["initial_value"] == "[Qualytics] record anomaly 824 in orders"
    assert short["max_length"] == 160
    assert input_element(view, BlockId.DESCRIPTION)["initial_value"] == "Anomaly ID: 824\nType: record"
    assert input_element(view, BlockId.DESCRIPTION)["multiline"] is True
    for block_id in (BlockId.URGENCY, BlockId.IMPACT):
        select = input_element(view, block_id)
        assert [o["text"]["text"] for o in select["options"]] == ["1 - High", "2 - Medium", "3 - Low"]
        assert select["initial_option"]["value"] == "3"
    hint = next(blk for blk in view["blocks"] if blk.get("block_id") == BlockId.PRIORITY_HINT)
    assert "5 - Planning" in hint["elements"][0]["text"]
    # no choices: category/subcategory are free text
    assert input_element(view, BlockId.CATEGORY)["type"] == "plain_text_input"
    group = input_element(view, BlockId.ASSIGNMENT_GROUP)
    person = input_element(view, BlockId.ASSIGNED_TO)
    assert (group["type"], group["min_query_length"]) == ("external_select", 0)
    assert (person["type"], person["min_query_length"]) == ("external_select", 1)
    assert view["callback_id"] == ViewId.CREATE_INCIDENT
    meta = b.ModalMetadata.decode(view["private_metadata"])
    assert meta == b.ModalMetadata(anomaly_id=824, channel="C_ALERTS", thread_ts="1700000001.000100")
    assert " " not in view["private_metadata"]  # compact JSON


def test_create_modal_cuts_long_short_and_long_description_with_a_note() -> None:
    view = b.create_incident_modal(ANOMALY, META, description="d" * 5000, short_description="s" * 300)
    short = input_element(view, BlockId.SHORT_DESCRIPTION)["initial_value"]
    assert len(short) == 160 and short.endswith("…")
    description = input_element(view, BlockId.DESCRIPTION)["initial_value"]
    assert len(description) <= 3000
    assert description.endswith(b.DESCRIPTION_TRUNCATED_NOTE)
    assert "hint" in next(blk for blk in view["blocks"] if blk.get("block_id") == BlockId.DESCRIPTION)


def test_create_modal_category_choices_become_a_select_with_75_char_options() -> None:
    choices = [b.Choice(f"c{i}", "L" * 90) for i in range(120)]
    view = b.create_incident_modal(ANOMALY, META, description="", categories=choices, category="c7")
    select = input_element(view, BlockId.CATEGORY)
    assert select["type"] == "static_select"
    assert len(select["options"]) == 100
    assert all(len(o["text"]["text"]) == 75 and o["text"]["text"].endswith("…") for o in select["options"])
    assert select["initial_option"]["value"] == "c7"
    block = next(blk for blk in view["blocks"] if blk.get("block_id") == BlockId.CATEGORY)
    assert block["dispatch_action"] is True  # so subcategories can follow the category


@pytest.mark.parametrize(
    ("urgency", "impact", "expected"),
    [
        ("1", "1", "1 - Critical"),
        ("1", "2", "2 - High"),
        ("2", "1", "2 - High"),
        ("2", "2", "3 - Moderate"),
        ("1", "3", "3 - Moderate"),
        ("3", "2", "4 - Low"),
        ("3", "3", "5 - Planning"),
        ("x", "1", "5 - Planning"),
    ],
)
def test_priority_matrix(urgency: str, impact: str, expected: str) -> None:
    assert b.priority_for(urgency, impact)[1] == expected


def test_link_modal_asks_for_the_anomaly_only_when_unknown() -> None:
    known = b.link_incident_modal(824, META)
    unknown = b.link_incident_modal(None, META)
    assert all(blk.get("block_id") != BlockId.ANOMALY_ID for blk in known["blocks"])
    assert any(blk.get("block_id") == BlockId.ANOMALY_ID for blk in unknown["blocks"])
    select = input_element(known, BlockId.INCIDENTS)
    assert select["type"] == "multi_external_select"
    assert select["action_id"] == ActionId.INCIDENTS
    assert b.ModalMetadata.decode(known["private_metadata"]).anomaly_id == 824
    assert b.ModalMetadata.decode(unknown["private_metadata"]).anomaly_id is None


def test_anomaly_id_modal_remembers_the_next_step() -> None:
    view = b.anomaly_id_modal(META, then="link")
    assert view["callback_id"] == ViewId.ANOMALY_ID
    assert b.ModalMetadata.decode(view["private_metadata"]).then == "link"


def test_connect_modal_never_prefills_or_echoes_credentials() -> None:
    secret = "pa:ss-W0rd!"
    view = b.connect_modal(
        instance_url=f"https://admin:{secret}@dev12345.service-now.com/",
        error="ServiceNow rejected the user name or password (401).",
        advice="Check the integration user's password.",
    )
    dumped = json.dumps(view)
    assert secret not in dumped and "admin:" not in dumped
    assert input_element(view, BlockId.INSTANCE_URL)["initial_value"] == "https://dev12345.service-now.com/"
    for block_id in (BlockId.USERNAME, BlockId.PASSWORD):
        assert "initial_value" not in input_element(view, block_id)
    error = next(blk for blk in view["blocks"] if blk.get("block_id") == BlockId.ERROR)
    assert "401" in error["text"]["text"] and "Check the integration" in error["text"]["text"]
    assert "private_metadata" not in view
    assert b.connect_modal()["blocks"][0]["block_id"] == BlockId.INSTANCE_URL  # no error section


def test_tickets_message_rows_and_unlink_confirm() -> None:
    msg = b.tickets_message(824, links(2, synced=NOW - timedelta(minutes=5)), now=NOW)
    assert msg["text"] == "2 tickets linked to anomaly 824"
    row = msg["blocks"][1]["text"]["text"]
    assert "INC0010001" in row and "In Progress" in row
    ts = int((NOW - timedelta(minutes=5)).timestamp())
    assert f"<!date^{ts}^{{date_short_pretty}} {{time}}|5 min ago>" in row
    view_button, unlink = msg["blocks"][2]["elements"]
    assert view_button["action_id"] == ActionId.VIEW_TICKET and view_button["url"].startswith("https://")
    assert unlink["action_id"] == ActionId.UNLINK_TICKET and unlink["value"] == "1"
    assert unlink["confirm"]["style"] == "danger"


def test_tickets_message_never_synced_and_fallback_timestamp() -> None:
    assert "not synced yet" in json.dumps(b.tickets_message(824, links(1, synced=None)))
    text = json.dumps(b.tickets_message(824, links(1)))
    assert "|2026-03-19 12:00 UTC>" in text


def test_tickets_message_with_150_links_says_and_n_more() -> None:
    msg = b.tickets_message(824, links(150), now=NOW)
    assert len(msg["blocks"]) <= 50
    shown = sum(1 for blk in msg["blocks"] if blk["type"] == "actions")
    last = msg["blocks"][-1]["elements"][0]["text"]
    n_more = int(re.search(r"and (\d+) more", last).group(1))
    assert shown + n_more == 150


def test_search_results_counts_everything_not_shown() -> None:
    msg = b.search_results_message("nightly", incidents(150), total=400)
    assert msg["text"] == '400 incidents match "nightly"'
    assert len(msg["blocks"]) <= 50
    shown = sum(1 for blk in msg["blocks"] if blk.get("accessory"))
    n_more = int(re.search(r"and (\d+) more", msg["blocks"][-1]["elements"][0]["text"]).group(1))
    assert shown + n_more == 400
    few = b.search_results_message("x", incidents(3), total=10)
    assert "and 7 more" in few["blocks"][-1]["elements"][0]["text"]
    assert b.search_results_message("x", incidents(3), total=3)["blocks"][-1]["type"] == "section"


def test_status_shows_connected_or_error_with_advice_and_sync_health() -> None:
    connected = b.status_message(
        integration=b.IntegrationStatus("Connected", "https://dev.service-now.com"),
        health=b.SyncHealth(pending=2, last_run_at=NOW),
        now=NOW,
    )
    text = json.dumps(connected)
    assert "Connected" in text and "Pending: 2" in text and "Failed: 0" in text
    error = b.status_message(
        integration=b.IntegrationStatus(
            "Error", "https://dev.service-now.com", error="401 Unauthorized", advice="Run /snow connect again"
        ),
        health=b.SyncHealth(
            failed=[b.FailedSync("ServiceNow timed out", anomaly_id=824, ticket_number="INC1")]
        ),
    )
    text = json.dumps(error)
    assert "401 Unauthorized" in text and "Run /snow connect again" in text
    assert "anomaly 824 / INC1: ServiceNow timed out" in text
    assert "not connected" in b.status_message(integration=None)["text"]


def test_status_with_hundreds_of_failures_stays_within_section_limits() -> None:
    failures = [b.FailedSync("x" * 200, anomaly_id=i) for i in range(500)]
    blocks = b.status_blocks(integration=None, recent_links=links(150), health=b.SyncHealth(failed=failures))
    assert all(len(blk["text"]["text"]) <= 3000 for blk in blocks if blk["type"] == "section")
    assert "more_" in json.dumps(blocks)


def test_app_home_connect_button_only_for_admins() -> None:
    admin = b.app_home_view(integration=None, is_admin=True)
    member = b.app_home_view(integration=None)
    assert admin["type"] == "home"
    assert ActionId.OPEN_CONNECT_MODAL in [v for _, v in ids_in(admin)]
    assert ActionId.OPEN_CONNECT_MODAL not in [v for _, v in ids_in(member)]


def test_anomaly_alert_message_is_found_by_the_shortcut_parser() -> None:
    msg = b.anomaly_alert_message(ANOMALY, "https://acme.qualytics.io/anomalies/824")
    assert msg["text"].startswith("Anomaly ID: 824")
    assert "*Anomaly ID:* 824" in json.dumps(msg)
    assert find_anomaly_id(msg, None) == 824
    assert find_anomaly_id({"blocks": msg["blocks"]}, None) == 824
    actions = next(blk for blk in msg["blocks"] if blk.get("block_id") == BlockId.ANOMALY_ACTIONS)
    assert [e["action_id"] for e in actions["elements"]] == [
        ActionId.ACKNOWLEDGE,
        ActionId.ARCHIVE,
        ActionId.COMMENT,
        ActionId.OPEN_CREATE_MODAL,
        ActionId.OPEN_LINK_MODAL,
        ActionId.VIEW_ANOMALY,
    ]
    assert all(e["value"] == "824" for e in actions["elements"])
    acknowledged = b.anomaly_alert_message(
        b.AnomalySummary(id=5, status="Acknowledged"), "https://q/anomalies/5"
    )
    assert ActionId.ACKNOWLEDGE not in [v for _, v in ids_in(acknowledged)]


def test_archive_and_comment_modals() -> None:
    archive = b.archive_modal(824, META)
    select = input_element(archive, BlockId.ARCHIVE_STATUS)
    assert [o["value"] for o in select["options"]] == ["Resolved", "Duplicate", "Invalid", "Discarded"]
    assert select["initial_option"]["value"] == "Resolved"
    assert b.ModalMetadata.decode(archive["private_metadata"]).anomaly_id == 824
    comment = b.comment_modal(824, META)
    assert comment["callback_id"] == ViewId.COMMENT
    assert input_element(comment, BlockId.COMMENT)["action_id"] == ActionId.COMMENT_TEXT


def test_error_message_escapes_and_shows_the_reference() -> None:
    msg = b.error_message("Couldn't reach <ServiceNow> & retry", reference="ref-1")
    assert "&lt;ServiceNow&gt; &amp; retry" in msg["blocks"][0]["text"]["text"]
    assert "ref-1" in msg["blocks"][1]["elements"][0]["text"]
    assert len(b.error_message("plain")["blocks"]) == 1


def test_option_and_title_limits() -> None:
    opt = b.option("y" * 90, "v")
    assert len(opt["text"]["text"]) == 75 and opt["text"]["text"].endswith("…")
    assert b.option("x", "v" * 150)["value"] == "v" * 150
    with pytest.raises(ValueError, match="150"):
        b.option("x", "v" * 151)
    view = b.loading_modal("Creating a ServiceNow incident", ViewId.CREATE_INCIDENT)
    assert len(view["title"]["text"]) == 24
    with pytest.raises(ValueError, match="100 blocks"):
        b.modal("t", [b.divider()] * 101, callback_id=ViewId.MESSAGE)
    with pytest.raises(ValueError, match="50 blocks"):
        b.message("t", [b.divider()] * 51)


def test_options_response_and_incident_option() -> None:
    options = [b.incident_option("INC0010006", "A" * 100, "f" * 32) for _ in range(120)]
    body = b.options_response(options)
    assert len(body["options"]) == 100
    assert body["options"][0]["text"]["text"].startswith("INC0010006 · ")
    assert len(body["options"][0]["text"]["text"]) == 75


def test_metadata_round_trip_and_tolerant_decode() -> None:
    meta = b.ModalMetadata(anomaly_id=824, channel="C1", thread_ts="1.2", message_ts="1.3", then="create")
    assert b.ModalMetadata.decode(meta.encode()) == meta
    for garbage in (
        None,
        "",
        "not json",
        "[1,2]",
        '{"anomaly_id": "824", "channel": 5}',
        '{"anomaly_id": true}',
    ):
        assert b.ModalMetadata.decode(garbage) == b.ModalMetadata()
    with pytest.raises(ValueError, match="3000"):
        b.ModalMetadata(channel="C" * 3000).encode()


def test_bullet_lines_and_fit_groups() -> None:
    assert b.bullet_lines(["a", "b"]) == "a\nb"
    assert b.bullet_lines([f"line {i}" for i in range(30)], max_lines=10).endswith("_and 20 more_")
    text = b.bullet_lines(["z" * 100] * 100, limit=550)
    assert len(text) <= 550 and text.endswith("more_")
    groups = [[b.divider(), b.divider()] for _ in range(10)]
    fitted = b.fit_groups(groups, 7, lambda n: {"type": "context", "n": n})
    assert len(fitted) == 7 and fitted[-1]["n"] == 7
    assert len(b.fit_groups(groups[:3], 6, lambda n: {"n": n})) == 6  # all fit exactly, no "more"


CARD_URL = "https://acme.qualytics.io/anomalies/824"


def test_the_card_lists_the_linked_incidents_with_their_states_and_passes_slack_sdks_models() -> None:
    many = b.anomaly_alert_message(ANOMALY, CARD_URL, links(150))
    none = b.anomaly_alert_message(ANOMALY, CARD_URL)
    text = json.dumps(many, ensure_ascii=False)
    assert "*Linked tickets*" in text and "INC0010001> · Incident · In Progress" in text
    assert "_and 140 more_" in text
    assert "*Linked tickets:* none yet" in json.dumps(none)
    for message in (many, none):
        for block in message["blocks"]:
            Block.parse(block).validate_json()  # slack_sdk's Block Kit models raise on what Slack refuses


KINDED = [
    b.TicketLink(
        1,
        824,
        "PRB0010001",
        "Root Cause Analysis",
        "https://sn/p",
        NOW,
        None,
        "problem",
        NOW - timedelta(hours=2),
    ),
    b.TicketLink(2, 824, "DFCT0010001", "Open", "https://sn/d", NOW, None, "rm_defect", None),
]


def test_the_card_and_the_tickets_list_show_each_tickets_kind_state_and_last_change() -> None:
    changed = int((NOW - timedelta(hours=2)).timestamp())
    card = b.anomaly_alert_message(ANOMALY, CARD_URL, KINDED)
    listed = b.tickets_message(824, KINDED, now=NOW)
    for message in (card, listed):
        text = json.dumps(message, ensure_ascii=False)
        assert (
            "<https://sn/p|PRB0010001> · Problem · Root Cause Analysis · changed <!date^" + str(changed)
            in text
        )
        assert "<https://sn/d|DFCT0010001> · Defect · Open" in text  # never read back: no last change
        assert "DFCT0010001> · Defect · Open · changed" not in text
        validate_message_blocks(message["blocks"])  # the Slack emulator's Block Kit checks
        for block in message["blocks"]:
            Block.parse(block).validate_json()  # and slack_sdk's models
    assert listed["text"] == "2 tickets linked to anomaly 824"


def test_the_home_offers_a_channel_picker_and_unwatch_per_watched_channel() -> None:
    home = b.app_home_view(integration=None, watched_channels=["C_ALERTS", "G_PRIVATE"])
    picker = next(blk for blk in home["blocks"] if blk.get("block_id") == BlockId.WATCH_CHANNEL)
    assert picker["accessory"]["type"] == "conversations_select"
    assert picker["accessory"]["action_id"] == ActionId.WATCH_CHANNEL
    unwatch = [e for e in elements(home, "button") if e["action_id"] == ActionId.UNWATCH_CHANNEL]
    assert [e["value"] for e in unwatch] == ["C_ALERTS", "G_PRIVATE"]
    View(**home).validate_json()
    empty = b.app_home_view(integration=None)
    assert "No channel is watched yet" in json.dumps(empty)
    many = b.app_home_view(integration=None, watched_channels=[f"C{i:010d}" for i in range(40)])
    assert "_and 21 more channels_" in json.dumps(many)
    View(**many).validate_json()
