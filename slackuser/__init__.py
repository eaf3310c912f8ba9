"""The simulated Slack user: Slack's side of a conversation with the bot, shared by the demo, the tests and
the benchmark.

It signs requests as Slack signs them, builds the payloads Slack sends (slash commands, message
shortcuts, button clicks on a message or in a modal, external-select suggestions, view submissions,
Events API deliveries) and Qualytics' own alert message. It owns no server and imports nothing from the
bot or the emulators: what it needs of Slack's side (trigger ids, the open views, which messages the app
posted) comes through `Workspace`, which the Slack emulator satisfies.
"""

from slackuser.alert import qualytics_alert
from slackuser.hooks import ResponseUrls, with_hooks
from slackuser.state import state_values
from slackuser.user import (
    APP_ID,
    CHANNEL,
    CHANNEL_NAME,
    TEAM,
    USERS,
    SlackDriver,
    SlackUser,
    Workspace,
)

__all__ = [
    "APP_ID",
    "CHANNEL",
    "CHANNEL_NAME",
    "TEAM",
    "USERS",
    "ResponseUrls",
    "SlackDriver",
    "SlackUser",
    "Workspace",
    "qualytics_alert",
    "state_values",
    "with_hooks",
]
