"""The person at the Slack client, as the bot sees them: signed requests and the payloads Slack builds.

`SlackUser` builds and signs (no I/O); `SlackDriver` also sends them to the bot's `/slack/events` over an
httpx client and then waits, through a caller-given `settle`, for the work the bot does after its ack.

Sources: signing is Slack's v0 scheme (api.slack.com/authentication/verifying-requests-from-slack),
computed by slack_sdk's own `SignatureVerifier`; slash command fields are Slack's "Slash commands"
reference; interaction payloads (message_action, block_actions, block_suggestion, view_submission) and
the Events API envelope follow Slack's interaction-payload and Events API references and the payloads in
bolt-python's tests/scenario_tests; the retry headers are the Events API's X-Slack-Retry-Num/-Reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from slackuser.state import state_values

TEAM = {"id": "T0001", "domain": "acme"}
USERS = {
    "U_JANE": {"id": "U_JANE", "username": "jane.doe", "name": "jane.doe", "team_id": "T0001"},
    "U_BOB": {"id": "U_BOB", "username": "bob", "name": "bob", "team_id": "T0001"},
    "U_ADMIN": {"id": "U_ADMIN", "username": "admin", "name": "admin", "team_id": "T0001"},
    # in the payload but unknown to users.info (e.g. a guest from another workspace)
    "U_NOBODY": {"id": "U_NOBODY", "username": "nobody", "name": "nobody", "team_id": "T0001"},
}
CHANNEL, CHANNEL_NAME = "C_ALERTS", "dq-alerts"
APP_ID = "A_SNOWBOT"
TOKEN = "legacy-verification-token"  # the deprecated verification token Slack still puts in payloads
FORM = "application/x-www-form-urlencoded"


class Workspace(Protocol):
    """What the user sees of Slack's side; `emulators.slack.SlackEmulator` has all of it."""

    @property
    def views(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def channels(self) -> Mapping[str, Mapping[str, Any]]: ...

    def issue_trigger_id(self) -> str: ...

    def posted_by_app(self, message: Mapping[str, Any]) -> bool: ...


class SlackUser:
    """Signed request bodies and Slack's payloads for one workspace; `user` names who acts by default."""

    def __init__(
        self,
        *,
        signing_secret: str,
        workspace: Workspace,
        hooks_url: str,
        user: str = "U_JANE",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.workspace = workspace
        self.hooks_url = hooks_url
        self.user = user
        self.clock = clock

    # ---------------------------------------------------------------------------------- signing

    def request(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        signed: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """httpx keyword arguments for a POST to /slack/events, signed as Slack signs (v0, HMAC-SHA256)."""
        sent = {"Content-Type": content_type, **(headers or {})}
        if signed:
            ts = str(int(self.clock()) if timestamp is None else timestamp)
            sent["X-Slack-Request-Timestamp"] = ts
            sent["X-Slack-Signature"] = signature or self.sign(ts, body)
        return {"content": body.encode(), "headers": sent}

    def sign(self, timestamp: str, body: str) -> str:
        """Slack's `v0=` signature of `body` sent at `timestamp`."""
        signature = self.verifier.generate_signature(timestamp=timestamp, body=body)
        assert signature is not None  # slack_sdk returns None only when given no timestamp or body
        return signature

    def interaction_request(self, payload: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        return self.request(urlencode({"payload": json.dumps(payload)}), FORM, **kw)

    def response_url(self, name: str) -> str:
        return f"{self.hooks_url}/{name}"

    def trigger_id(self) -> str:
        return self.workspace.issue_trigger_id()

    # ---------------------------------------------------------------------------------- bodies

    def command_body(
        self, text: str, *, user: str | None = None, channel: str = CHANNEL, hook: str = "command"
    ) -> str:
        """`/snow <text>` typed in `channel`: the form-encoded fields Slack posts."""
        who = USERS[user or self.user]
        fields = {
            "token": TOKEN,
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": CHANNEL_NAME,
            "user_id": who["id"],
            "user_name": who["username"],
            "command": "/snow",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.response_url(hook),
            "trigger_id": self.trigger_id(),
        }
        return urlencode(fields)

    def event_body(self, event: Mapping[str, Any], *, event_id: str = "Ev0001") -> str:
        """An Events API delivery (`event_callback` envelope) of `event`."""
        envelope = {
            "token": TOKEN,
            "team_id": TEAM["id"],
            "api_app_id": APP_ID,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(self.clock()),
            "authorizations": [{"team_id": TEAM["id"], "user_id": "U_SNOWBOT", "is_bot": True}],
        }
        return json.dumps(envelope)

    # ---------------------------------------------------------------------------------- payloads

    def _interaction(self, kind: str, user: str | None, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "token": TOKEN,
            "team": TEAM,
            "user": USERS[user or self.user],
            "api_app_id": APP_ID,
            "is_enterprise_install": False,
            **fields,
        }

    def _now(self) -> str:
        return f"{self.clock():.6f}"

    def message_event(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The `message` event Slack sends for a stored message (the fields of bolt-python's
        tests/scenario_tests message payloads: type, subtype, bot_id, channel, ts, event_ts, channel_type)."""
        event = {k: v for k, v in message.items() if k != "app_id"}
        channel = self.workspace.channels.get(str(message["channel"]), {})
        return {
            **event,
            "type": "message",
            "team": TEAM["id"],
            "event_ts": message["ts"],
            "channel_type": "group" if channel.get("is_private") else "channel",
        }

    def message_action(
        self, callback_id: str, message: Mapping[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        """A message shortcut (`callback_id`) chosen on `message` in the alerts channel."""
        return self._interaction(
            "message_action",
            user,
            callback_id=callback_id,
            action_ts=self._now(),
            channel={"id": CHANNEL, "name": CHANNEL_NAME},
            trigger_id=self.trigger_id(),
            response_url=self.response_url("shortcut"),
            message_ts=message["ts"],
            message={k: v for k, v in message.items() if k != "channel"},
        )

    def block_actions_in_view(
        self, view_id: str, action: Mapping[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        """A click (or a select) on an element of an open modal."""
        return self._interaction(
            "block_actions",
            user,
            container={"type": "view", "view_id": view_id},
            trigger_id=self.trigger_id(),
            view=self.workspace.views[view_id],
            actions=[{**action, "action_ts": self._now()}],
        )

    def block_actions_on_message(
        self,
        message: Mapping[str, Any],
        action: Mapping[str, Any],
        *,
        user: str | None = None,
        ephemeral: bool = False,
        hook: str = "button",
    ) -> dict[str, Any]:
        """A click on one of a message's buttons; Slack sends an app the clicks on its own messages only,
        and leaves the message out when it was ephemeral."""
        if not ephemeral:
            if not self.workspace.posted_by_app(message):
                raise ValueError("a click on a message the bot did not post")
            blocks = message.get("blocks", [])
            ids = [e.get("action_id") for b in blocks for e in b.get("elements", [])]
            ids += [b["accessory"].get("action_id") for b in blocks if b.get("accessory")]
            if action.get("action_id") not in ids:
                raise ValueError(f"{action.get('action_id')} is not on that message")
        payload = self._interaction(
            "block_actions",
            user,
            container={
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": ephemeral,
            },
            trigger_id=self.trigger_id(),
            channel={"id": message["channel"], "name": CHANNEL_NAME},
            response_url=self.response_url(hook),
            actions=[{**action, "action_ts": self._now()}],
        )
        if not ephemeral:
            payload["message"] = {k: v for k, v in message.items() if k != "channel"}
        return payload

    def view_submission(
        self, view_id: str, entered: Mapping[str, Any] | None = None, *, user: str | None = None
    ) -> dict[str, Any]:
        """The modal as it is now, submitted with what the person `entered` (see `state_values`)."""
        view = dict(self.workspace.views[view_id])
        view["state"] = {"values": state_values(view, entered or {})}
        return self._interaction(
            "view_submission", user, trigger_id=self.trigger_id(), view=view, response_urls=[]
        )

    def block_suggestion(
        self, view_id: str, action_id: str, block_id: str, value: str, *, user: str | None = None
    ) -> dict[str, Any]:
        """`value` typed into an external select of an open modal: Slack asks the app for options."""
        return self._interaction(
            "block_suggestion",
            user,
            container={"type": "view", "view_id": view_id},
            action_id=action_id,
            block_id=block_id,
            value=value,
            view=self.workspace.views[view_id],
        )


class SlackDriver(SlackUser):
    """A `SlackUser` who sends: each request goes to `/slack/events` on `http`, then `settle()` waits for
    the bot's work after its ack (never a fixed time)."""

    def __init__(
        self, *, http: httpx.AsyncClient, settle: Callable[[], Awaitable[None]], **user: Any
    ) -> None:
        super().__init__(**user)
        self.http = http
        self._settle = settle

    async def settle(self) -> None:
        await self._settle()

    async def post(self, body: str, content_type: str, **kw: Any) -> httpx.Response:
        """Send, then wait until the work Bolt does after the ack has finished."""
        response = await self.http.post("/slack/events", **self.request(body, content_type, **kw))
        await self.settle()
        return response

    async def interact(self, payload: Mapping[str, Any], **kw: Any) -> httpx.Response:
        return await self.post(urlencode({"payload": json.dumps(payload)}), FORM, **kw)

    async def command(
        self,
        text: str,
        *,
        user: str | None = None,
        channel: str = CHANNEL,
        hook: str = "command",
        **kw: Any,
    ) -> httpx.Response:
        body = self.command_body(text, user=user, channel=channel, hook=hook)
        return await self.post(body, FORM, **kw)

    async def event(
        self, event: Mapping[str, Any], *, event_id: str = "Ev0001", retry: int | None = None, **kw: Any
    ) -> httpx.Response:
        """An Events API delivery; `retry` > 0 is Slack delivering it again after it saw no answer in time."""
        if retry:
            kw["headers"] = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(self.event_body(event, event_id=event_id), "application/json", **kw)
