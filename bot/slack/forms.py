"""Reading what a person entered in a modal (`view.state.values`) into use-case inputs: pure functions.

Field errors are `InvalidInput` with `field` naming the form field; `block_for` gives the input block to
show them on (`ack(response_action="errors", errors={block_id: message})`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from bot.slack.anomaly_ref import parse_anomaly_arg
from bot.slack.ids import ActionId, BlockId
from bot.usecases import InvalidInput, TicketForm
from servicenow import validate_instance_url
from servicenow.errors import ConfigurationError

Values = Mapping[str, Mapping[str, Mapping[str, Any]]]

FIELD_BLOCKS: dict[str, BlockId] = {
    "short_description": BlockId.SHORT_DESCRIPTION,
    "title": BlockId.SHORT_DESCRIPTION,
    "description": BlockId.DESCRIPTION,
    "urgency": BlockId.URGENCY,
    "impact": BlockId.IMPACT,
    "category": BlockId.CATEGORY,
    "subcategory": BlockId.SUBCATEGORY,
    "assignment_group": BlockId.ASSIGNMENT_GROUP,
    "assigned_to": BlockId.ASSIGNED_TO,
    "anomaly_id": BlockId.ANOMALY_ID,
    "incidents": BlockId.INCIDENTS,
    "instance_url": BlockId.INSTANCE_URL,
    "username": BlockId.USERNAME,
    "password": BlockId.PASSWORD,
    "status": BlockId.ARCHIVE_STATUS,
    "comment": BlockId.COMMENT,
}
ANOMALY_HINT = "Give the anomaly's id (e.g. 824) or its Qualytics link."


def block_for(err: InvalidInput, view: Mapping[str, Any]) -> str | None:
    """The input block of the view that shows `err`, or None when the view has no such input."""
    block_id = FIELD_BLOCKS.get(err.field or "")
    present = {block.get("block_id") for block in view.get("blocks", []) if block.get("type") == "input"}
    return block_id if block_id in present else None


def state(view: Mapping[str, Any]) -> Values:
    return view.get("state", {}).get("values", {})


def entry(values: Values, block_id: str, action_id: str) -> Mapping[str, Any]:
    return values.get(block_id, {}).get(action_id, {}) or {}


def text(values: Values, block_id: str, action_id: str) -> str | None:
    """A text input's value, or a select's chosen value (the same fields may be either)."""
    found = entry(values, block_id, action_id)
    option = found.get("selected_option")
    if isinstance(option, Mapping):
        return option.get("value")
    value = found.get("value")
    return value if isinstance(value, str) else None


def selected(values: Values, block_id: str, action_id: str) -> list[tuple[str, str]]:
    """A multi-select's chosen options as (value, label)."""
    options = entry(values, block_id, action_id).get("selected_options") or []
    return [(o["value"], o.get("text", {}).get("text", o["value"])) for o in options if o.get("value")]


def ticket_form(values: Values, caller: str | None) -> TicketForm:
    """The create modal's fields (checked: raises `InvalidInput` naming the first wrong field)."""
    return TicketForm(
        short_description=text(values, BlockId.SHORT_DESCRIPTION, ActionId.SHORT_DESCRIPTION) or "",
        description=text(values, BlockId.DESCRIPTION, ActionId.DESCRIPTION),
        urgency=text(values, BlockId.URGENCY, ActionId.URGENCY),
        impact=text(values, BlockId.IMPACT, ActionId.IMPACT),
        category=text(values, BlockId.CATEGORY, ActionId.CATEGORY),
        subcategory=text(values, BlockId.SUBCATEGORY, ActionId.SUBCATEGORY),
        assignment_group=text(values, BlockId.ASSIGNMENT_GROUP, ActionId.ASSIGNMENT_GROUP),
        assigned_to=text(values, BlockId.ASSIGNED_TO, ActionId.ASSIGNED_TO),
        caller_id=caller,
    ).validated()


def anomaly_id(values: Values, known: int | None, qualytics_host: str | None) -> int:
    """The anomaly the modal is about: the one it was opened for, else the one typed in it."""
    if known is not None:
        return known
    found = parse_anomaly_arg(text(values, BlockId.ANOMALY_ID, ActionId.ANOMALY_ID) or "", qualytics_host)
    if found is None:
        raise InvalidInput(ANOMALY_HINT, field="anomaly_id")
    return found


def incident_number(label: str) -> str:
    """ "INC0010006 · Nightly load failed" -> "INC0010006"."""
    return label.split(" · ", 1)[0].strip()


@dataclass(frozen=True)
class ConnectForm:
    instance_url: str
    credentials: SecretStr

    def __repr__(self) -> str:
        return f"ConnectForm(instance_url={self.instance_url!r}, credentials=SecretStr('**********'))"


def connect_form(values: Values, *, allow_insecure: bool = False, allow_private: bool = False) -> ConnectForm:
    """The connect modal's fields, checked as far as can be without asking ServiceNow."""
    url = (text(values, BlockId.INSTANCE_URL, ActionId.INSTANCE_URL) or "").strip()
    try:
        url = validate_instance_url(
            url.rstrip("/"), allow_insecure=allow_insecure, allow_private=allow_private
        )
    except ConfigurationError as err:
        raise InvalidInput(f"{err.message[:1].upper()}{err.message[1:]}.", field="instance_url") from None
    username = (text(values, BlockId.USERNAME, ActionId.USERNAME) or "").strip()
    if not username or ":" in username or "\n" in username:
        raise InvalidInput(
            "The user name may not be empty or hold a colon or a line break.", field="username"
        )
    password = text(values, BlockId.PASSWORD, ActionId.PASSWORD) or ""
    if not password or "\n" in password or "\r" in password:
        raise InvalidInput("The password may not be empty or hold line breaks.", field="password")
    return ConnectForm(instance_url=url, credentials=SecretStr(f"{username}:{password}"))
