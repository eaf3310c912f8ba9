"""A modal read once from a payload (`blocks.ViewState`), and what snowbot reads back from payloads
(`blocks.metadata`): tolerant of anything Slack or an old message may send."""

from __future__ import annotations

from bot.slack import blocks
from bot.slack.blocks import ModalMetadata, ViewState
from bot.slack.ids import ActionId, BlockId


def test_a_view_is_read_once_into_its_id_hash_metadata_and_values() -> None:
    view = {
        "id": "V1",
        "hash": "h1",
        "private_metadata": ModalMetadata(anomaly_id=824, channel="C1").encode(),
        "blocks": [
            {"type": "input", "block_id": BlockId.COMMENT},
            {"type": "section", "block_id": BlockId.ERROR},
        ],
        "state": {
            "values": {
                BlockId.COMMENT: {ActionId.COMMENT_TEXT: {"type": "plain_text_input", "value": "seen it"}},
                BlockId.URGENCY: {
                    ActionId.URGENCY: {"type": "static_select", "selected_option": {"value": "2"}}
                },
                BlockId.INCIDENTS: {
                    ActionId.INCIDENTS: {
                        "type": "multi_external_select",
                        "selected_options": [
                            {"value": "abc", "text": {"type": "plain_text", "text": "INC0010006 · x"}}
                        ],
                    }
                },
            }
        },
    }

    form = ViewState.of(view)

    assert (form.id, form.hash, form.metadata) == ("V1", "h1", ModalMetadata(anomaly_id=824, channel="C1"))
    assert form.text(BlockId.COMMENT, ActionId.COMMENT_TEXT) == "seen it"
    assert form.text(BlockId.URGENCY, ActionId.URGENCY) == "2"
    assert form.selected(BlockId.INCIDENTS, ActionId.INCIDENTS) == [("abc", "INC0010006 · x")]
    assert form.has_input(BlockId.COMMENT) and not form.has_input(BlockId.ERROR)


def test_a_view_without_state_or_metadata_reads_as_empty() -> None:
    form = ViewState.of({"id": "V2", "private_metadata": "not json", "state": {"values": None}})
    assert form.metadata == ModalMetadata()
    assert form.hash is None
    assert form.text(BlockId.COMMENT, ActionId.COMMENT_TEXT) is None
    assert form.selected(BlockId.INCIDENTS, ActionId.INCIDENTS) == []


def test_where_a_message_button_was_clicked() -> None:
    body = {
        "container": {"channel_id": "C1", "message_ts": "1.5", "thread_ts": "1.0"},
        "message": {"ts": "1.5"},
    }
    assert blocks.message_metadata(body) == ModalMetadata(channel="C1", thread_ts="1.0", message_ts="1.5")


def test_a_button_value_names_an_anomaly_only_as_a_positive_number() -> None:
    assert [blocks.anomaly_from_value(v) for v in ("824", "0", "-1", "x", None, 824)] == [
        824,
        None,
        None,
        None,
        None,
        None,
    ]
