"""Every identifier snowbot exchanges with Slack, in one place.

Slash commands, shortcut and modal callback ids, action ids and block ids are `StrEnum`s, so a builder
writes `ActionId.UNLINK_TICKET` and a listener registers `app.action(ActionId.UNLINK_TICKET)` with the
same value; `manifest.yml` repeats the command and the shortcut callback ids (a test keeps them equal).
Slack caps callback_id, action_id and block_id at 255 characters; these are all short and stable —
renaming one breaks buttons on messages already posted, so add new members rather than rename.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    """Slash commands (declared in manifest.yml `features.slash_commands`)."""

    SNOW = "/snow"


class Subcommand(StrEnum):
    """The first word after `/snow`."""

    CREATE = "create"
    LINK = "link"
    TICKETS = "tickets"
    SEARCH = "search"
    CONNECT = "connect"
    STATUS = "status"
    WATCH = "watch"
    UNWATCH = "unwatch"
    RULES = "rules"
    HELP = "help"


class Shortcut(StrEnum):
    """Message shortcut callback ids (declared in manifest.yml `features.shortcuts`)."""

    CREATE_INCIDENT = "create_incident_shortcut"
    LINK_INCIDENT = "link_incident_shortcut"


SHORTCUT_NAMES: dict[Shortcut, str] = {
    Shortcut.CREATE_INCIDENT: "Create ServiceNow ticket",
    Shortcut.LINK_INCIDENT: "Link ServiceNow ticket",
}
"""What people see in a message's ⋮ menu: manifest.yml `features.shortcuts[].name` (Slack's manifest schema
caps it at 24 characters) and the help texts that name the shortcuts."""


class ViewId(StrEnum):
    """Modal `callback_id`s: what a `view_submission` is about."""

    CREATE_INCIDENT = "create_incident_modal"
    LINK_INCIDENT = "link_incident_modal"
    CONNECT = "connect_modal"
    COMMENT = "comment_modal"
    ARCHIVE = "archive_modal"
    ANOMALY_ID = "anomaly_id_modal"
    """Asks for the anomaly when a shortcut found none in the message (then continues to create/link)."""
    MESSAGE = "message_modal"
    """A read-only modal (errors, results); it has no submit button."""
    RULE_ADD = "rule_add_modal"


class ActionId(StrEnum):
    """Interactive elements: buttons, selects and inputs (`action_id`)."""

    # tickets / search results
    VIEW_TICKET = "view_ticket"
    UNLINK_TICKET = "unlink_ticket"
    # create-incident modal
    SHORT_DESCRIPTION = "short_description_input"
    DESCRIPTION = "description_input"
    URGENCY = "urgency_select"
    IMPACT = "impact_select"
    CATEGORY = "category_select"
    SUBCATEGORY = "subcategory_select"
    ASSIGNMENT_GROUP = "assignment_group_select"
    ASSIGNED_TO = "assigned_to_select"
    TICKET_KIND = "ticket_kind_select"
    PRIORITY = "priority_select"
    # link-incident modal
    INCIDENTS = "incidents_select"
    ANOMALY_ID = "anomaly_id_input"
    # the instance select of the create and link modals (only when several instances are connected)
    CREATE_INSTANCE = "create_instance_select"
    LINK_INSTANCE = "link_instance_select"
    # connect modal
    INSTANCE_URL = "instance_url_input"
    USERNAME = "username_input"
    PASSWORD = "password_input"
    AUTH_KIND = "auth_kind_select"
    CLIENT_ID = "client_id_input"
    CLIENT_SECRET = "client_secret_input"
    SYNC_BACK = "sync_back_select"
    # archive / comment modals
    ARCHIVE_STATUS = "archive_status_select"
    COMMENT_TEXT = "comment_input"
    # chat-ops buttons on our anomaly message
    ACKNOWLEDGE = "anomaly_acknowledge"
    ARCHIVE = "anomaly_archive"
    COMMENT = "anomaly_comment"
    OPEN_CREATE_MODAL = "open_create_modal"
    OPEN_LINK_MODAL = "open_link_modal"
    VIEW_ANOMALY = "view_anomaly"
    # App Home and help
    WATCH_CHANNEL = "watch_channel_select"
    UNWATCH_CHANNEL = "unwatch_channel"
    OPEN_CONNECT_MODAL = "open_connect_modal"
    REFRESH_HOME = "refresh_home"
    HELP = "help"
    # creation rules (/snow rules, their modal and dry run)
    RULE_ENABLE = "rule_enable"
    RULE_NAME = "rule_name_input"
    RULE_MATCH = "rule_match_input"
    RULE_SHORT_DESCRIPTION = "rule_short_description_input"
    RULE_CHANNEL = "rule_channel_select"


class BlockId(StrEnum):
    """`block_id`s of input blocks (keys of `view.state.values` and of `response_action=errors`)
    and of the few message blocks a listener looks up."""

    SHORT_DESCRIPTION = "short_description"
    DESCRIPTION = "description"
    TICKET_KIND = "ticket_kind"
    PRIORITY = "priority"
    URGENCY = "urgency"
    IMPACT = "impact"
    PRIORITY_HINT = "priority_hint"
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    ASSIGNMENT_GROUP = "assignment_group"
    ASSIGNED_TO = "assigned_to"
    INCIDENTS = "incidents"
    ANOMALY_ID = "anomaly_id"
    INSTANCE = "instance"
    INSTANCE_URL = "instance_url"
    USERNAME = "username"
    PASSWORD = "password"
    AUTH_KIND = "auth_kind"
    CLIENT_ID = "client_id"
    CLIENT_SECRET = "client_secret"
    SYNC_BACK = "sync_back"
    ARCHIVE_STATUS = "archive_status"
    COMMENT = "comment"
    ERROR = "error"
    ANOMALY_ACTIONS = "anomaly_actions"
    HOME_ACTIONS = "home_actions"
    WATCH_CHANNEL = "watch_channel"
    RULE_ACTIONS = "rule_actions"
    RULE_NAME = "rule_name"
    RULE_MATCH = "rule_match"
    RULE_SHORT_DESCRIPTION = "rule_short_description"
    RULE_CHANNEL = "rule_channel"
