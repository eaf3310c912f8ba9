"""`/snow status` and the App Home: integration status, sync health, recent links, watched channels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.slack.blocks.inputs import FailedSync, IntegrationStatus, LinkLike, SyncHealth
from bot.slack.blocks.primitives import (
    MAX_PLACEHOLDER,
    MAX_TEXT,
    Block,
    Message,
    View,
    actions,
    and_more,
    bullet_lines,
    button,
    context,
    divider,
    escape,
    fit_groups,
    header,
    link,
    message,
    plain_text,
    section,
    slack_date,
    truncate,
)
from bot.slack.ids import SHORTCUT_NAMES, ActionId, BlockId, Command, Shortcut, Subcommand


def _integration_text(integration: IntegrationStatus | None, now: datetime | None) -> str:
    if integration is None or not integration.instance_url:
        return f"*ServiceNow:* not connected. An admin can run `{Command.SNOW} {Subcommand.CONNECT}`."
    text = _connection_text(integration, now)
    if integration.refused_reads:
        refused = [f":warning: {escape(line)}" for line in integration.refused_reads]
        text += "\n" + bullet_lines(refused, limit=MAX_TEXT - len(text) - 1, max_lines=4)
    return text


def _connection_text(integration: IntegrationStatus, now: datetime | None) -> str:
    url = integration.instance_url or ""
    where = link(url, url)
    checked = f" (checked {slack_date(integration.checked_at, now=now)})" if integration.checked_at else ""
    if integration.status == "Connected":
        return f"*{escape(integration.name)}:* :white_check_mark: Connected to {where}{checked}"
    if integration.status == "Error":
        lines = [f"*{escape(integration.name)}:* :x: Error with {where}{checked}"]
        if integration.error:
            lines.append(escape(integration.error))
        if integration.advice:
            lines.append(f"_{escape(integration.advice)}_")
        return "\n".join(lines)
    return f"*{escape(integration.name)}:* {where} — not checked yet{checked}"


def _failure_line(failure: FailedSync) -> str:
    subject = [
        f"anomaly {failure.anomaly_id}" if failure.anomaly_id is not None else "",
        failure.ticket_number or "",
    ]
    what = " / ".join(part for part in subject if part)
    return f"• {escape(what)}: {escape(failure.reason)}" if what else f"• {escape(failure.reason)}"


def _health_text(health: SyncHealth, now: datetime | None) -> str:
    last = slack_date(health.last_run_at, now=now) if health.last_run_at else "never"
    failed = health.failed_total if health.failed_total is not None else len(health.failed)
    icon = ":white_check_mark:" if not failed and not health.last_run_error else ":warning:"
    lines = [
        f"*Sync health* {icon}",
        f"Pending: {health.pending} · Failed: {failed} · Last run: {last}",
    ]
    if health.last_run_error:
        lines.append(f"Last run failed: {escape(truncate(health.last_run_error, 500))}")
    if health.native_ticket_links:
        shown = ", ".join(map(str, health.native_ticket_links[:10]))
        more = (
            f" and {len(health.native_ticket_links) - 10} more"
            if len(health.native_ticket_links) > 10
            else ""
        )
        lines.append(
            f":warning: Qualytics' own ticketing integration also links tickets to anomalies {shown}{more}: "
            "it writes its own work notes, so each note arrives twice. snowbot replaces it: disconnect it "
            "in Qualytics (Settings → Integrations)."
        )
    text = "\n".join(lines)
    if health.failed:
        failures = [_failure_line(f) for f in health.failed]
        text += "\n" + bullet_lines(failures, limit=MAX_TEXT - len(text) - 1)
    return text


def _recent_text(recent_links: Sequence[LinkLike]) -> str:
    if not recent_links:
        return "*Recent links*\nNone yet."
    lines = [
        f"• Anomaly {row.anomaly_id} → {link(row.url, row.ticket_number)} ({escape(row.status or 'unknown')})"
        + (" · anomaly deleted in Qualytics" if row.anomaly_deleted_at else "")
        for row in recent_links
    ]
    return "*Recent links*\n" + bullet_lines(lines, limit=MAX_TEXT - 20)


def status_blocks(
    *,
    integration: IntegrationStatus | None,
    recent_links: Sequence[LinkLike] = (),
    health: SyncHealth | None = None,
    now: datetime | None = None,
) -> list[Block]:
    """Integration status (Connected, or the error with its advice), sync health, recent links."""
    return [
        section(_integration_text(integration, now)),
        divider(),
        section(_health_text(health or SyncHealth(), now)),
        divider(),
        section(_recent_text(recent_links)),
    ]


def status_message(
    *,
    integration: IntegrationStatus | None,
    recent_links: Sequence[LinkLike] = (),
    health: SyncHealth | None = None,
    now: datetime | None = None,
    diagnosis: Sequence[tuple[bool, str]] = (),
) -> Message:
    """`diagnosis`: `snowbot doctor`'s lines as (ok, line), shown to admins only."""
    state = integration.status if integration and integration.instance_url else "not connected"
    shown = status_blocks(integration=integration, recent_links=recent_links, health=health, now=now)
    return message(f"ServiceNow integration: {state}", shown + diagnosis_blocks(diagnosis))


def diagnosis_blocks(lines: Sequence[tuple[bool, str]]) -> list[Block]:
    """`snowbot doctor`'s report: a divider, a heading and the checks, as many sections as the lines
    need (a section's text holds at most MAX_TEXT characters)."""
    if not lines:
        return []
    chunks: list[str] = [""]
    for ok, line in lines:
        text = f"{':white_check_mark:' if ok else ':x:'} {escape(line)}"[: MAX_TEXT // 2]
        if len(chunks[-1]) + len(text) + 1 > MAX_TEXT:
            chunks.append("")
        chunks[-1] = f"{chunks[-1]}\n{text}" if chunks[-1] else text
    failed = sum(1 for ok, _ in lines if not ok)
    summary = "every check holds" if not failed else f"{failed} of {len(lines)} checks need you"
    return [divider(), section(f"*Doctor* (admins only): {summary}"), *(section(chunk) for chunk in chunks)]


MAX_WATCHED_SHOWN = 20


def conversations_select(action_id: ActionId, placeholder: str) -> dict[str, Any]:
    """A channel picker (public and private channels the person can see; no DMs)."""
    return {
        "type": "conversations_select",
        "action_id": action_id,
        "placeholder": plain_text(placeholder, MAX_PLACEHOLDER),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }


def watched_channels_blocks(channels: Sequence[str]) -> list[Block]:
    """The App Home's anomaly-card channels: a picker to watch one more, and Unwatch per channel."""
    head = section(
        "*Anomaly cards* — under each Qualytics alert in these channels snowbot posts a card with "
        "Acknowledge, Archive, Comment, Create and Link. Invite snowbot to the channel first.",
        accessory=conversations_select(ActionId.WATCH_CHANNEL, "Watch a channel…"),
        block_id=BlockId.WATCH_CHANNEL,
    )
    if not channels:
        return [
            head,
            context(f"No channel is watched yet (`{Command.SNOW} {Subcommand.WATCH}` in one works too)."),
        ]
    groups = [
        [
            section(
                f"<#{escape(channel)}>", accessory=button("Unwatch", ActionId.UNWATCH_CHANNEL, value=channel)
            )
        ]
        for channel in channels
    ]
    return [head, *fit_groups(groups, MAX_WATCHED_SHOWN, and_more("channels"))]


def app_home_view(
    *,
    integration: IntegrationStatus | None,
    recent_links: Sequence[LinkLike] = (),
    health: SyncHealth | None = None,
    now: datetime | None = None,
    is_admin: bool = False,
    watched_channels: Sequence[str] = (),
    extra: Sequence[Block] = (),
) -> View:
    """The App Home; `extra` are further sections (the creation rules') above the closing hint."""
    buttons = [button("Refresh", ActionId.REFRESH_HOME), button("Help", ActionId.HELP)]
    if is_admin:
        connected = integration is not None and integration.status == "Connected"
        buttons.insert(
            0, button("Reconnect" if connected else "Connect ServiceNow", ActionId.OPEN_CONNECT_MODAL)
        )
    blocks = [
        header("snowbot · ServiceNow for Qualytics"),
        actions(buttons, block_id=BlockId.HOME_ACTIONS),
        *status_blocks(integration=integration, recent_links=recent_links, health=health, now=now),
        divider(),
        *watched_channels_blocks(watched_channels),
        *extra,
        context(
            f"Use the *{SHORTCUT_NAMES[Shortcut.CREATE_INCIDENT]}* shortcut on a Qualytics alert, or "
            f"`{Command.SNOW} {Subcommand.HELP}`."
        ),
    ]
    return {"type": "home", "blocks": blocks}
