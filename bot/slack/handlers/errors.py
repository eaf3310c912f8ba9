"""The one error handler (`app.error`): what a person sees when a listener fails.

A `UseCaseError` is shown as it is (its message says what to do). Slack refusing to open a modal for a
reason that passes (the click's trigger id expired or was already used, or Slack is rate-limiting) is
said as such, with "try again". Anything else is logged with its traceback under a short reference, and
the person sees only "something went wrong" with that reference.
Where: in the modal the request opened or came from, else as an ephemeral reply (response_url), else
as an ephemeral message in the channel; an App Home or an event has nowhere to show it, so it is logged.

Bolt calls it for a listener that raised before acknowledging (Slack then gets a 500). For a failure
after the ack, the listener calls it itself (`bot.slack.handlers.routes.guarded`): Bolt's runner would otherwise replace the ack it is
still about to send with nothing (a 404 to Slack) when the failure comes within its 10 ms polling step.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.usecases import UseCaseError

log = logging.getLogger(__name__)

OPEN_VIEW = "snowbot_open_view"
"""Context key: the modal the request opened, where a failure is shown."""

UNEXPECTED = "Something went wrong on snowbot's side; nothing more was done."

MODAL_METHODS = ("views.open", "views.push")
MODAL_NOT_OPENED = {
    # Slack's errors table for views.open and views.push (docs.slack.dev/reference/methods/views.open)
    "expired_trigger_id": "Slack did not open the form: the click had expired (Slack allows 3 seconds to "
    "answer it). Nothing was done; please try again.",
    "exchanged_trigger_id": "Slack did not open the form: that click had already opened one. Nothing was "
    "done; please try again.",
    "ratelimited": "Slack is busy and did not open the form. Nothing was done; please try again in a moment.",
}


def modal_not_opened(error: Exception) -> str | None:
    """What to tell the person when Slack refused views.open / views.push for a reason that passes."""
    if not isinstance(error, SlackApiError):
        return None
    method = str(getattr(error.response, "api_url", "")).rstrip("/").rsplit("/", 1)[-1]
    if method not in MODAL_METHODS:
        return None
    return MODAL_NOT_OPENED.get(str(error.response.get("error")))


def reference_id() -> str:
    return secrets.token_hex(4)


def describe(error: Exception) -> tuple[str, str | None]:
    """(text to show, reference or None). An unexpected error is logged here, with its traceback."""
    if isinstance(error, UseCaseError):
        log.info("Slack request refused: %s: %s", type(error).__name__, error.message)
        return error.message, None
    not_opened = modal_not_opened(error)
    if not_opened is not None:
        log.info("Slack did not open a modal: %s", getattr(error, "response", {}).get("error"))
        return not_opened, None
    reference = reference_id()
    log.error("Slack request failed (reference %s)", reference, exc_info=error)
    return UNEXPECTED, reference


def modal_of(body: Mapping[str, Any], context: Mapping[str, Any]) -> str | None:
    """The modal to show the error in: the one this request opened, or the one it came from."""
    if context.get(OPEN_VIEW):
        return str(context[OPEN_VIEW])
    view = body.get("view") or {}
    if body.get("type") in ("view_submission", "block_actions") and view.get("type") == "modal":
        return view.get("id")
    return None


async def on_error(
    error: Exception,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond | None,
) -> None:
    text, reference = describe(error)
    try:
        await show(text, reference, body, context, client, respond)
    except Exception as failure:  # Slack itself may be the problem; the log has the original error
        log.warning("could not show an error in Slack: %s", failure)


async def show(
    text: str,
    reference: str | None,
    body: Mapping[str, Any],
    context: Mapping[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond | None,
) -> None:
    title = "snowbot" if reference is None else "Something went wrong"
    view_id = modal_of(body, context)
    if view_id:
        await client.views_update(view_id=view_id, view=blocks.notice_modal(title, text, reference=reference))
        return
    message = blocks.error_message(text, reference)
    if respond is not None and (body.get("response_url") or body.get("response_urls")):
        await respond(response_type="ephemeral", replace_original=False, **message)
        return
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    if user and channel:
        await client.chat_postEphemeral(channel=channel, user=user, **message)
        return
    log.info("no place in Slack to show an error to %s", user or "an unknown user")
