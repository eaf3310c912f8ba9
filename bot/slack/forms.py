"""Reading what a person entered in a modal (a `ViewState`) into use-case inputs: pure functions.

Field errors are `InvalidInput` with `field` naming the form field; `block_for` gives the input block to
show them on (`ack(response_action="errors", errors={block_id: message})`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from bot.slack.anomaly_ref import parse_anomaly_arg
from bot.slack.blocks import ViewState, parse_ticket_value
from bot.slack.ids import ActionId, BlockId
from bot.usecases import InvalidInput, TicketForm
from servicenow import validate_instance_url
from servicenow.errors import ConfigurationError

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
    "auth": BlockId.AUTH_KIND,
    "client_id": BlockId.CLIENT_ID,
    "client_secret": BlockId.CLIENT_SECRET,
    "status": BlockId.ARCHIVE_STATUS,
    "comment": BlockId.COMMENT,
}
ANOMALY_HINT = "Give the anomaly's id (e.g. 824) or its Qualytics link."


def block_for(err: InvalidInput) -> BlockId | None:
    """The input block that shows `err` (`ViewState.has_input` says whether the modal has it)."""
    return FIELD_BLOCKS.get(err.field or "")


def ticket_form(form: ViewState) -> TicketForm:
    """The create modal's fields (checked: raises `InvalidInput` naming the first wrong field); the caller
    is the one the modal was opened with (its metadata)."""
    return TicketForm(
        short_description=form.text(BlockId.SHORT_DESCRIPTION, ActionId.SHORT_DESCRIPTION) or "",
        description=form.text(BlockId.DESCRIPTION, ActionId.DESCRIPTION),
        urgency=form.text(BlockId.URGENCY, ActionId.URGENCY),
        impact=form.text(BlockId.IMPACT, ActionId.IMPACT),
        category=form.text(BlockId.CATEGORY, ActionId.CATEGORY),
        subcategory=form.text(BlockId.SUBCATEGORY, ActionId.SUBCATEGORY),
        assignment_group=_of_instance(form, BlockId.ASSIGNMENT_GROUP, ActionId.ASSIGNMENT_GROUP, "group"),
        assigned_to=_of_instance(form, BlockId.ASSIGNED_TO, ActionId.ASSIGNED_TO, "user"),
        caller_id=form.metadata.caller,
        ticket_type=form.metadata.ticket_type,
        priority=form.text(BlockId.PRIORITY, ActionId.PRIORITY),
    ).validated()


def _of_instance(form: ViewState, block_id: BlockId, action_id: ActionId, what: str) -> str | None:
    """A group or user the modal's search found (`ticket_value`: the sys_id, prefixed with its instance
    when the modal offers a choice); one found in another instance than the chosen one (the person switched
    instances after choosing it) is refused on its field."""
    value = form.text(block_id, action_id)
    if value is None:
        return None
    integration_id, sys_id = parse_ticket_value(value)
    if integration_id is not None and integration_id != form.metadata.integration_id:
        raise InvalidInput(
            f"This {what} was found in another ServiceNow instance: choose it again in this one.",
            field=block_id,
        )
    return sys_id


def anomaly_id(form: ViewState, qualytics_host: str | None) -> int:
    """The anomaly the modal is about: the one it was opened for, else the one typed in it."""
    if form.metadata.anomaly_id is not None:
        return form.metadata.anomaly_id
    found = parse_anomaly_arg(form.text(BlockId.ANOMALY_ID, ActionId.ANOMALY_ID) or "", qualytics_host)
    if found is None:
        raise InvalidInput(ANOMALY_HINT, field="anomaly_id")
    return found


def incident_number(label: str) -> str:
    """ "INC0010006 · Nightly load failed" -> "INC0010006"."""
    return label.split(" · ", 1)[0].strip()


@dataclass(frozen=True)
class ConnectForm:
    instance_url: str
    credentials: SecretStr | None
    auth: str = "basic"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    sync_back: str = "off"

    def __repr__(self) -> str:
        return (
            f"ConnectForm(instance_url={self.instance_url!r}, auth={self.auth!r}, client_id={self.client_id!r}, "
            "credentials=SecretStr('**********'))"
        )


def connect_form(
    form: ViewState, *, allow_insecure: bool = False, allow_private: bool = False
) -> ConnectForm:
    """The connect modal's fields, checked as far as can be without asking ServiceNow."""
    url = (form.text(BlockId.INSTANCE_URL, ActionId.INSTANCE_URL) or "").strip()
    try:
        url = validate_instance_url(
            url.rstrip("/"), allow_insecure=allow_insecure, allow_private=allow_private
        )
    except ConfigurationError as err:
        raise InvalidInput(f"{err.message[:1].upper()}{err.message[1:]}.", field="instance_url") from None
    auth = form.text(BlockId.AUTH_KIND, ActionId.AUTH_KIND) or "basic"
    sync_back = form.text(BlockId.SYNC_BACK, ActionId.SYNC_BACK) or "off"
    client_id = (form.text(BlockId.CLIENT_ID, ActionId.CLIENT_ID) or "").strip() or None
    client_secret = form.text(BlockId.CLIENT_SECRET, ActionId.CLIENT_SECRET) or None
    if auth != "basic" and not client_id:
        raise InvalidInput(
            "OAuth needs the client id of the instance's OAuth application.", field="client_id"
        )
    if auth != "basic" and not client_secret:
        raise InvalidInput("OAuth needs the client secret of the OAuth application.", field="client_secret")
    secret = SecretStr(client_secret) if client_secret and auth != "basic" else None
    client_id = client_id if auth != "basic" else None
    if auth == "oauth_client_credentials":
        return ConnectForm(
            url, None, auth=auth, client_id=client_id, client_secret=secret, sync_back=sync_back
        )
    username = (form.text(BlockId.USERNAME, ActionId.USERNAME) or "").strip()
    if not username or ":" in username or "\n" in username:
        raise InvalidInput(
            "The user name may not be empty or hold a colon or a line break.", field="username"
        )
    password = form.text(BlockId.PASSWORD, ActionId.PASSWORD) or ""
    if not password or "\n" in password or "\r" in password:
        raise InvalidInput("The password may not be empty or hold line breaks.", field="password")
    credentials = SecretStr(f"{username}:{password}")
    return ConnectForm(
        url, credentials, auth=auth, client_id=client_id, client_secret=secret, sync_back=sync_back
    )
