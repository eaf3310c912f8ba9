"""Modals: loading and notice views, help, and the forms (create incident, which anomaly, link incident,
connect, archive, comment). Each form's `private_metadata` is a `ModalMetadata`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from bot.models import SHORT_DESCRIPTION_MAX
from bot.slack.blocks.inputs import AnomalySummary, ChoiceLike
from bot.slack.blocks.messages import help_message
from bot.slack.blocks.metadata import ModalMetadata
from bot.slack.blocks.primitives import (
    DESCRIPTION_TRUNCATED_NOTE,
    MAX_INPUT_LENGTH,
    MAX_PLACEHOLDER,
    Block,
    View,
    context,
    escape,
    external_select,
    input_block,
    modal,
    plain_text,
    section,
    static_select,
    text_input,
)
from bot.slack.ids import ActionId, BlockId, ViewId
from qualytics_api import ARCHIVE_STATUSES
from servicenow.kinds import INCIDENT

URGENCY_CHOICES = INCIDENT.levels
IMPACT_CHOICES = INCIDENT.levels
PRIORITY_CHOICES = tuple((str(code), label) for code, label in INCIDENT.priorities.items())
PRIORITY_LABELS = INCIDENT.priorities


def priority_for(urgency: str | int, impact: str | int) -> tuple[int, str]:
    """ServiceNow's default Priority Lookup (`servicenow.kinds`): 1+1 → 1 Critical … 3+3 → 5 Planning."""
    return INCIDENT.priority_for(urgency, impact)


def priority_hint(urgency: str | int, impact: str | int) -> Block:
    _, label = priority_for(urgency, impact)
    return context(
        f"ServiceNow will set priority *{label}* (impact {impact} × urgency {urgency}).",
        block_id=BlockId.PRIORITY_HINT,
    )


def loading_modal(title: str, callback_id: str, text: str = "Loading…") -> View:
    """The placeholder opened at once with the trigger_id, then replaced with views.update."""
    return modal(title, [section(f":hourglass_flowing_sand: {escape(text)}")], callback_id=callback_id)


def notice_modal(title: str, text: str, *, reference: str | None = None) -> View:
    """A read-only modal for a result or an error (e.g. views.update after a failed load)."""
    blocks = [section(escape(text))]
    if reference:
        blocks.append(context(f"Reference `{escape(reference)}`"))
    return modal(title, blocks, callback_id=ViewId.MESSAGE, close="Close")


def help_modal() -> View:
    """The `/snow` help as a read-only modal (App Home's Help button has no channel to answer in)."""
    blocks = [blk for blk in help_message()["blocks"] if blk["type"] != "header"]
    return modal("snowbot help", blocks, callback_id=ViewId.MESSAGE, close="Close")


def _choice_input(
    label: str,
    action_id: ActionId,
    block_id: BlockId,
    choices: Sequence[ChoiceLike],
    initial: str | None,
    *,
    dispatch: bool = False,
) -> Block:
    if choices:
        element = static_select(action_id, [(c.value, c.label) for c in choices], initial=initial)
        return input_block(label, element, block_id, optional=True, dispatch_action=dispatch)
    return input_block(label, text_input(action_id, initial=initial, max_length=40), block_id, optional=True)


def instance_input(action_id: ActionId, instances: Sequence[ChoiceLike], initial: int | None) -> list[Block]:
    """The ServiceNow instance select of the create and link modals (value: the integration id), the chosen
    one (else the first: the default) preselected; it dispatches its change, so the listener re-renders
    the modal for that instance. Nothing when there is only one instance to choose."""
    if len(instances) < 2:
        return []
    values = [c.value for c in instances]
    chosen = str(initial) if str(initial) in values else values[0]
    element = static_select(action_id, [(c.value, c.label) for c in instances], initial=chosen)
    return [input_block("ServiceNow instance", element, BlockId.INSTANCE, dispatch_action=True)]


def with_metadata(view: View, metadata: ModalMetadata) -> View:
    """The view with other `private_metadata` (the link modal after its instance select changed)."""
    return {**view, "private_metadata": metadata.encode()}


def subcategory_input(choices: Sequence[ChoiceLike], initial: str | None = None) -> Block:
    """The Subcategory block of the create modal (swapped in when the category changes)."""
    return _choice_input("Subcategory", ActionId.SUBCATEGORY, BlockId.SUBCATEGORY, choices, initial)


def default_short_description(anomaly: AnomalySummary) -> str:
    where = f" in {anomaly.container}" if anomaly.container else ""
    return f"[Qualytics] {anomaly.type} anomaly {anomaly.id}{where}"


def fit_description(text: str, limit: int = MAX_INPUT_LENGTH) -> tuple[str, bool]:
    """(text, was_cut): text within `limit` characters, ending with a note when it was cut."""
    if len(text) <= limit:
        return text, False
    return text[: limit - len(DESCRIPTION_TRUNCATED_NOTE)].rstrip() + DESCRIPTION_TRUNCATED_NOTE, True


def create_incident_modal(
    anomaly: AnomalySummary,
    metadata: ModalMetadata,
    *,
    description: str,
    short_description: str | None = None,
    urgency: str = "3",
    impact: str = "3",
    categories: Sequence[ChoiceLike] = (),
    subcategories: Sequence[ChoiceLike] = (),
    category: str | None = None,
    subcategory: str | None = None,
    assignment_group: tuple[str, str] | None = None,
    assigned_to: tuple[str, str] | None = None,
    choices_hint: str | None = None,
    instances: Sequence[ChoiceLike] = (),
    recurrence_hint: str | None = None,
    kind: CreateKind | None = None,
) -> View:
    """The create form of a ticket kind (default incident). assignment_group/assigned_to are initial
    (label, sys_id) pairs; `choices_hint` says why category and subcategory are free text (shown under
    them); `instances` (value: the integration id) are offered when there are several,
    `metadata.integration_id` preselected; `recurrence_hint` names an earlier occurrence's open ticket,
    offered first. `kind` offers the kinds the instance has (a select that dispatches, so a listener
    redraws the form for the one chosen) with a hint for those it lacks; a kind without impact and
    urgency gets a priority to choose, one without categories none.

    Urgency, impact and category dispatch block_actions, so a listener can refresh the priority hint
    (`priority_hint`) and the subcategories with views.update; inputs keep their values across updates
    because the block and action ids stay the same."""
    kind = kind or CreateKind()
    metadata = replace(metadata, anomaly_id=anomaly.id)
    body, cut = fit_description(description)
    where = f" · {escape(anomaly.container)}" if anomaly.container else ""
    blocks: list[Block] = [
        context(f"Anomaly *{anomaly.id}* · {escape(anomaly.type)} · {escape(anomaly.status)}{where}"),
        *instance_input(ActionId.CREATE_INSTANCE, instances, metadata.integration_id),
        *([context(f":repeat: {escape(recurrence_hint)}")] if recurrence_hint else []),
        input_block(
            "Short description",
            text_input(
                ActionId.SHORT_DESCRIPTION,
                initial=short_description or default_short_description(anomaly),
                max_length=SHORT_DESCRIPTION_MAX,
            ),
            BlockId.SHORT_DESCRIPTION,
        ),
        input_block(
            "Description",
            text_input(ActionId.DESCRIPTION, initial=body, multiline=True),
            BlockId.DESCRIPTION,
            optional=True,
            hint="Shortened to fit Slack; the full anomaly details are in Qualytics." if cut else None,
        ),
    ]
    if kind.levels:
        blocks += _level_inputs(urgency, impact)
    else:
        blocks.append(
            input_block(
                "Priority",
                static_select(ActionId.PRIORITY, PRIORITY_CHOICES, initial=kind.priority),
                BlockId.PRIORITY,
            )
        )
    if kind.categorized:
        blocks += [
            _choice_input(
                "Category", ActionId.CATEGORY, BlockId.CATEGORY, categories, category, dispatch=True
            ),
            _choice_input(
                "Subcategory", ActionId.SUBCATEGORY, BlockId.SUBCATEGORY, subcategories, subcategory
            ),
            *([context(f":information_source: {escape(choices_hint)}")] if choices_hint else []),
        ]
    blocks += [
        input_block(
            "Assignment group",
            external_select(
                ActionId.ASSIGNMENT_GROUP,
                placeholder="Search groups",
                min_query_length=0,
                initial=[assignment_group] if assignment_group else (),
            ),
            BlockId.ASSIGNMENT_GROUP,
            optional=True,
        ),
        input_block(
            "Assigned to",
            external_select(
                ActionId.ASSIGNED_TO,
                placeholder="Type a name",
                min_query_length=1,
                initial=[assigned_to] if assigned_to else (),
            ),
            BlockId.ASSIGNED_TO,
            optional=True,
        ),
    ]
    return modal(
        f"Create {kind.label.lower()}",
        [*_kind_blocks(kind), *blocks],
        callback_id=ViewId.CREATE_INCIDENT,
        submit="Create",
        private_metadata=replace(
            metadata, ticket_type=None if kind.ticket_type == INCIDENT.type_name else kind.ticket_type
        ).encode(),
    )


@dataclass(frozen=True)
class CreateKind:
    """The kind a create form is for (`ticket_type`, its label and what its form has) and the kinds it
    offers as (ticket_type, label) pairs, with the hint naming those the instance lacks."""

    ticket_type: str = INCIDENT.type_name
    label: str = INCIDENT.label
    levels: bool = True
    categorized: bool = True
    priority: str = "4"
    offered: tuple[tuple[str, str], ...] = ()
    hint: str | None = None


def _kind_blocks(kind: CreateKind) -> list[Block]:
    """The ticket-type select (when there is a choice) and the hint about kinds not offered."""
    found: list[Block] = []
    if len(kind.offered) > 1:
        found.append(
            input_block(
                "Ticket type",
                static_select(ActionId.TICKET_KIND, kind.offered, initial=kind.ticket_type),
                BlockId.TICKET_KIND,
                dispatch_action=True,
            )
        )
    if kind.hint:
        found.append(context(f":information_source: {escape(kind.hint)}"))
    return found


def _level_inputs(urgency: str, impact: str) -> list[Block]:
    return [
        input_block(
            "Urgency",
            static_select(ActionId.URGENCY, URGENCY_CHOICES, initial=urgency),
            BlockId.URGENCY,
            dispatch_action=True,
        ),
        input_block(
            "Impact",
            static_select(ActionId.IMPACT, IMPACT_CHOICES, initial=impact),
            BlockId.IMPACT,
            dispatch_action=True,
        ),
        priority_hint(urgency, impact),
    ]


def anomaly_id_input(initial: str | None = None, *, optional: bool = False) -> Block:
    return input_block(
        "Anomaly",
        text_input(
            ActionId.ANOMALY_ID, initial=initial, placeholder="824 or https://…/anomalies/824", max_length=500
        ),
        BlockId.ANOMALY_ID,
        optional=optional,
        hint="The anomaly's id, or its Qualytics link.",
    )


def anomaly_id_modal(
    metadata: ModalMetadata, *, then: Literal["create", "link"], error: str | None = None
) -> View:
    """Asks for the anomaly when the message shortcut found none in the message."""
    blocks: list[Block] = [
        section("I couldn't find a Qualytics anomaly in that message. Which anomaly is it about?")
    ]
    if error:
        blocks.append(section(f":warning: {escape(error)}", block_id=BlockId.ERROR))
    blocks.append(anomaly_id_input())
    return modal(
        "Which anomaly?",
        blocks,
        callback_id=ViewId.ANOMALY_ID,
        submit="Next",
        private_metadata=replace(metadata, then=then).encode(),
    )


def link_incident_modal(
    anomaly_id: int | None,
    metadata: ModalMetadata,
    *,
    initial_incidents: Sequence[tuple[str, str]] = (),
    error: str | None = None,
    instances: Sequence[ChoiceLike] = (),
) -> View:
    """Search-as-you-type over incidents (`app.options(ActionId.INCIDENTS)`), values are sys_ids
    (`ticket_value`: prefixed with the instance when one was chosen); asks for the anomaly too when it is
    not known. initial_incidents are (label, value) pairs. With several `instances` (value: the integration
    id) the instance is chosen first, `metadata.integration_id` preselected; the search searches it."""
    blocks: list[Block] = []
    if error:
        blocks.append(section(f":warning: {escape(error)}", block_id=BlockId.ERROR))
    if anomaly_id is None:
        blocks.append(anomaly_id_input())
    else:
        blocks.append(context(f"Linking to anomaly *{anomaly_id}*"))
    blocks += instance_input(ActionId.LINK_INSTANCE, instances, metadata.integration_id)
    blocks.append(
        input_block(
            "Incidents",
            external_select(
                ActionId.INCIDENTS,
                placeholder="Search by number or short description",
                min_query_length=0,
                multi=True,
                initial=initial_incidents,
            ),
            BlockId.INCIDENTS,
        )
    )
    blocks.append(context("Linking appends the anomaly's details to each incident's description."))
    return modal(
        "Link incident",
        blocks,
        callback_id=ViewId.LINK_INCIDENT,
        submit="Link",
        private_metadata=replace(metadata, anomaly_id=anomaly_id).encode(),
    )


def _without_userinfo(url: str) -> str:
    """Drop any `user:password@` from a URL before showing it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


AUTH_CHOICES = [
    ("basic", "Basic (username and password)"),
    ("oauth_password", "OAuth 2.0 password grant"),
    ("oauth_client_credentials", "OAuth 2.0 client credentials"),
]
"""The connect modal's ways to log in (`servicenow.auth`), value and label."""
SYNC_BACK_CHOICES = [
    ("off", "Slack thread only"),
    ("comment", "Also comment in Qualytics"),
    ("comment_and_archive", "Comment, and archive when resolved"),
]
"""What comes back from ServiceNow (`storage.syncback` modes), value and label."""


def connect_modal(
    *,
    instance_url: str | None = None,
    error: str | None = None,
    advice: str | None = None,
    auth: str = "basic",
    client_id: str | None = None,
    sync_back: str = "off",
) -> View:
    """Instance URL, how to log in (Basic / OAuth password / OAuth client credentials), username, password,
    and the OAuth client. Credentials are never prefilled: only the instance URL is (without any
    `user:password@`). Slack has no masked input, so the hint says so. Slack cannot hide fields by the
    chosen kind, so the login fields are optional here and `bot.slack.forms.connect_form` checks them."""
    blocks: list[Block] = []
    if error:
        text = f":warning: *Could not connect:* {escape(error)}"
        if advice:
            text += f"\n{escape(advice)}"
        blocks.append(section(text, block_id=BlockId.ERROR))
    url_element: dict[str, Any] = {"type": "url_text_input", "action_id": ActionId.INSTANCE_URL}
    prefill = _without_userinfo(instance_url) if instance_url else ""
    if prefill and len(prefill) <= MAX_INPUT_LENGTH:
        url_element["initial_value"] = prefill
    url_element["placeholder"] = plain_text("https://your-instance.service-now.com", MAX_PLACEHOLDER)
    blocks += [
        input_block("Instance URL", url_element, BlockId.INSTANCE_URL),
        input_block(
            "Authentication",
            static_select(ActionId.AUTH_KIND, AUTH_CHOICES, initial=auth),
            BlockId.AUTH_KIND,
        ),
        input_block(
            "Username",
            text_input(ActionId.USERNAME, max_length=100, placeholder="integration user"),
            BlockId.USERNAME,
            optional=True,
            hint="Basic and OAuth password. Use a dedicated integration user with the itil role.",
        ),
        input_block(
            "Password",
            text_input(ActionId.PASSWORD, max_length=500),
            BlockId.PASSWORD,
            optional=True,
            hint="Slack shows what you type here. snowbot stores it encrypted and never shows it again.",
        ),
        input_block(
            "OAuth client id",
            text_input(ActionId.CLIENT_ID, initial=client_id, max_length=255),
            BlockId.CLIENT_ID,
            optional=True,
            hint="OAuth only: the client id of the instance's OAuth application (System OAuth).",
        ),
        input_block(
            "OAuth client secret",
            text_input(ActionId.CLIENT_SECRET, max_length=500),
            BlockId.CLIENT_SECRET,
            optional=True,
            hint="OAuth only. Slack shows what you type here; snowbot stores it encrypted.",
        ),
        input_block(
            "Back from ServiceNow",
            static_select(ActionId.SYNC_BACK, SYNC_BACK_CHOICES, initial=sync_back),
            BlockId.SYNC_BACK,
            hint="Work notes and comments people write on linked tickets always reach the alert's thread; "
            "resolutions and those notes can also become Qualytics comments, and all tickets resolved can "
            "archive the anomaly.",
        ),
        context("snowbot checks the connection before saving."),
    ]
    return modal("Connect ServiceNow", blocks, callback_id=ViewId.CONNECT, submit="Connect")


def archive_modal(anomaly_id: int, metadata: ModalMetadata) -> View:
    return modal(
        "Archive anomaly",
        [
            section(f"Archive anomaly *{anomaly_id}* in Qualytics."),
            input_block(
                "Archive as",
                static_select(
                    ActionId.ARCHIVE_STATUS, [(s, s) for s in ARCHIVE_STATUSES], initial="Resolved"
                ),
                BlockId.ARCHIVE_STATUS,
            ),
            context("Linked incidents get a work note. Archived anomalies can no longer be commented on."),
        ],
        callback_id=ViewId.ARCHIVE,
        submit="Archive",
        private_metadata=replace(metadata, anomaly_id=anomaly_id).encode(),
    )


def comment_modal(anomaly_id: int, metadata: ModalMetadata) -> View:
    return modal(
        "Comment on anomaly",
        [
            input_block(
                f"Comment on anomaly {anomaly_id}",
                text_input(ActionId.COMMENT_TEXT, multiline=True, placeholder="What did you find?"),
                BlockId.COMMENT,
            ),
            context("The comment is added in Qualytics and to linked incidents as a work note."),
        ],
        callback_id=ViewId.COMMENT,
        submit="Comment",
        private_metadata=replace(metadata, anomaly_id=anomaly_id).encode(),
    )
