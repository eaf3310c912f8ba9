"""What a request to `POST /slack/events` must be before Bolt sees it: signed, then shaped like Slack's.

`check_signature` is Slack's v0 scheme (https://docs.slack.dev/authentication/verifying-requests-from-slack/):
`v0=` + hex HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<raw body bytes>` under the signing secret,
and a timestamp within 5 minutes of this host's clock. It runs on the raw bytes, before anything is
parsed, so an unsigned body is never decoded, parsed or logged.

`check_shape` then looks at the payload Bolt parsed (`AsyncBoltRequest.body`) and names what is missing
from what Slack always sends and the listeners rely on (the shapes of Slack's docs and of bolt-python's
test payloads: `user.id`, a non-empty `actions` list of objects with an `action_id`, `view` an object,
an event an object with a `type`, ...). Messages name fields, never their values. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

REPLAY_WINDOW = 5 * 60
"""Seconds a request's timestamp may differ from this host's clock (Slack's and Bolt's window)."""


def check_signature(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: Callable[[], float] = time.time,
) -> str | None:
    """None when Slack signed `body`; else why not, for the log (never the body or the signature)."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        return "no X-Slack-Signature / X-Slack-Request-Timestamp header (not sent by Slack)"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "X-Slack-Request-Timestamp is not a number of seconds"
    skew = now() - int(timestamp)
    if abs(skew) > REPLAY_WINDOW:
        return (
            f"the request is {abs(skew):.0f} s {'old' if skew > 0 else 'in the future'} (more than 5 minutes): "
            "a replay, or this host's clock is wrong (check NTP)"
        )
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "the signature does not match: check SLACK_SIGNING_SECRET (Basic Information of the Slack app)"
    return None


def _object(payload: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    return None if isinstance(value, dict) else f"`{key}` is not an object"


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return None if isinstance(value, str) and value else f"`{key}` is missing or not a string"


def _state(state: object) -> str | None:
    """`view.state.values`: block_id -> action_id -> the element's state (an object)."""
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return "`view.state.values` is missing or not an object"
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(v, dict) for v in block.values()):
            return "`view.state.values` holds something other than block_id -> action_id -> object"
        for element in block.values():
            if not _element_state(element):
                return "an input's state in `view.state.values` has a value of the wrong type"
    return None


def _element_state(element: Mapping[str, Any]) -> bool:
    """An input's state as Slack sends it: `value` text (or null), `selected_option` an option object
    (or null), `selected_options` a list of option objects."""
    if element.get("value") is not None and not isinstance(element["value"], str):
        return False
    if element.get("selected_option") is not None and not isinstance(element["selected_option"], dict):
        return False
    options = element.get("selected_options", [])
    return isinstance(options, list) and all(isinstance(o, dict) for o in options)


def _interaction(payload: Mapping[str, Any]) -> str | None:
    """Interactivity payloads (form field `payload`): block_actions, view_submission, shortcuts, ..."""
    kind = payload.get("type")
    problems = [_text(payload, "type"), _object(payload, "user", required=True)]
    problems += [_object(payload, key) for key in ("team", "channel", "container", "message", "view")]
    if isinstance(payload.get("user"), dict):
        problems.append(_text(payload["user"], "id") and "`user.id` is missing or not a string")
    view = payload.get("view")
    if isinstance(view, dict):  # Bolt's own matchers read `view.type`
        problems += [
            _text(view, "id") and "`view.id` is missing",
            _text(view, "type") and "`view.type` is missing",
        ]
    if kind in ("block_actions", "view_submission"):
        problems.append(_text(payload, "trigger_id"))
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            problems.append("`actions` is missing or empty")
        elif not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            problems.append("an action is not an object with an `action_id`")
    if kind in ("view_submission", "view_closed"):
        problems.append(_object(payload, "view", required=True))
        if isinstance(view, dict):
            problems.append(_text(view, "callback_id"))
            problems.append(_state(view.get("state")) if kind == "view_submission" else None)
            if not isinstance(view.get("private_metadata", ""), str):
                problems.append("`view.private_metadata` is not a string")
    if kind == "block_suggestion":
        problems += [_text(payload, "action_id")]
        problems.append(None if isinstance(payload.get("value"), str) else "`value` is not a string")
    if kind in ("message_action", "shortcut"):
        problems += [_text(payload, "callback_id"), _text(payload, "trigger_id")]
    return next((p for p in problems if p), None)


def _command(payload: Mapping[str, Any]) -> str | None:
    """A slash command (form fields; Slack always sends these)."""
    problems = [_text(payload, key) for key in ("command", "user_id", "trigger_id", "response_url")]
    return next((p for p in problems if p), None)


EVENT_FIELDS: dict[str, tuple[str, ...]] = {"app_home_opened": ("user",)}
"""What the events snowbot listens to always carry (Slack's event reference) and its listeners read."""


def _event_envelope(payload: Mapping[str, Any]) -> str | None:
    """The Events API: url_verification, event_callback, app_rate_limited, ..."""
    if payload.get("type") == "url_verification":
        return _text(payload, "challenge")
    if payload.get("type") == "event_callback":
        event = payload.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "`event` is not an object with a `type`"
        for key in EVENT_FIELDS.get(event["type"], ()):
            if not isinstance(event.get(key), str):
                return f"`event.{key}` of a {event['type']} event is missing or not a string"
    return _text(payload, "type")


def is_event(payload: object) -> bool:
    """An Events API delivery, which Slack retries unless answered 2xx."""
    return isinstance(payload, dict) and payload.get("type") == "event_callback"


def check_shape(payload: object, *, interactive: bool) -> str | None:
    """None when `payload` (Bolt's parse of the body) has what Slack always sends; else what is wrong.

    `interactive`: the body was a form with a `payload` field (Slack's interactivity requests)."""
    if not isinstance(payload, dict):
        return f"the payload is a JSON {type(payload).__name__}, not an object"
    if interactive:
        return _interaction(payload)
    if "command" in payload:
        return _command(payload)
    return _event_envelope(payload)


def describe(payload: Mapping[str, Any]) -> str:
    """Which request this is, for a log line: its type and ids (no values a person typed)."""
    parts = [str(payload.get("type") or payload.get("command") or "request")]
    event = payload.get("event")
    if isinstance(event, dict):
        parts.append(f"event {event.get('type')}")
    for key in ("callback_id", "action_id"):
        if isinstance(payload.get(key), str):
            parts.append(f"{key} {payload[key]}")
    view = payload.get("view")
    if isinstance(view, dict) and isinstance(view.get("callback_id"), str):
        parts.append(f"view {view['callback_id']}")
    actions = payload.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        parts.append(f"action {actions[0].get('action_id')}")
    return ", ".join(parts)


KINDS = frozenset(
    {
        "event_callback",
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "url_verification",
    }
)
"""The payload types `kind` names as they are (Slack's request types; the rest are "other")."""


def kind(payload: Mapping[str, Any]) -> str:
    """The request's kind for a metric label, from a bounded set: its `type`, "command" or "other"."""
    if "command" in payload and "type" not in payload:
        return "command"
    found = payload.get("type")
    return found if isinstance(found, str) and found in KINDS else "other"
