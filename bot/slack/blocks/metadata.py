"""What snowbot carries in Slack payloads and reads back: a modal's `private_metadata`
(`ModalMetadata`), the message a shortcut or button was used on, and button values (an anomaly id, an
Unlink button's "anomaly:link"). Pure functions; anything unreadable reads as "not known"."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks.inputs import LinkLike
from bot.slack.blocks.primitives import MAX_PRIVATE_METADATA


@dataclass(frozen=True)
class ModalMetadata:
    """What a modal carries in `private_metadata` (compact JSON, at most 3000 characters)."""

    anomaly_id: int | None = None
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    then: str | None = None  # the step after the anomaly-id modal: "create" | "link"
    caller: str | None = None  # the ServiceNow caller's sys_id (create modal), found from the person's e-mail
    integration_id: int | None = None  # the instance the create or link modal is for (None: the default)
    ticket_type: str | None = None  # the kind the create modal creates (`servicenow.kinds`; None: incident)

    def encode(self) -> str:
        data = {k: v for k, v in vars(self).items() if v is not None}
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if len(text) > MAX_PRIVATE_METADATA:
            raise ValueError(
                f"private_metadata would be {len(text)} characters (Slack allows {MAX_PRIVATE_METADATA})"
            )
        return text

    @classmethod
    def decode(cls, text: str | None) -> ModalMetadata:
        """Tolerant: anything unreadable gives an empty `ModalMetadata`."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        anomaly_id = data.get("anomaly_id")
        integration_id = data.get("integration_id")
        strings = {
            k: data[k]
            for k in ("channel", "thread_ts", "message_ts", "then", "caller", "ticket_type")
            if isinstance(data.get(k), str)
        }
        return cls(anomaly_id=_an_id(anomaly_id), integration_id=_an_id(integration_id), **strings)


def _an_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ticket_value(integration_id: int | None, sys_id: str) -> str:
    """An incident option's value: its sys_id, prefixed with its instance when the modal chose one
    ("2:46d44e..."), so a submission links each incident in the instance it was found in."""
    return sys_id if integration_id is None else f"{integration_id}:{sys_id}"


def parse_ticket_value(value: str) -> tuple[int | None, str]:
    """(integration_id or None, sys_id) from `ticket_value`."""
    prefix, sep, rest = value.partition(":")
    return (int(prefix), rest) if sep and prefix.isdigit() else (None, value)


def unlink_value(link_row: LinkLike) -> str:
    """An Unlink button value that names the anomaly too ("824:7"): a click on an ephemeral list does
    not carry the message, so the value is all the listener gets."""
    return f"{link_row.anomaly_id}:{link_row.id}"


def parse_unlink_value(value: Any) -> tuple[int, int] | None:
    """(anomaly_id, link_id) from `unlink_value`, or None."""
    if not isinstance(value, str):
        return None
    anomaly, _, link_id = value.partition(":")
    if not (anomaly.isdigit() and link_id.isdigit()):
        return None
    return int(anomaly), int(link_id)


def message_metadata(body: Mapping[str, Any]) -> ModalMetadata:
    """Where a message shortcut or a message button was used: the channel, the message, and its thread
    (the message's own ts unless it is a reply)."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message_ts = message.get("ts") or container.get("message_ts") or body.get("message_ts")
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
    return ModalMetadata(channel=channel, thread_ts=thread_ts, message_ts=message_ts)


def anomaly_from_value(value: Any) -> int | None:
    """A button's value naming an anomaly ("824"), or None."""
    return int(value) if isinstance(value, str) and value.isdigit() and int(value) > 0 else None
