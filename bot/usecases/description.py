"""The incident description text: the anomaly block snowbot writes (exactly as the spec's sample shows
it), the check that a text links to the anomaly, and the correlation id of a create.

Pure functions: no I/O.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from qualytics_api import Anomaly

BLOCK_HEADING = "## Qualytics Anomaly Linked"


def anomaly_block(anomaly: Anomaly, url: str, now: datetime) -> str:
    """The anomaly details put into an incident's description, exactly as the spec's sample shows them."""
    created = anomaly.created if anomaly.created.tzinfo else anomaly.created.replace(tzinfo=UTC)
    checks = [f"- {check.message}" for check in anomaly.failed_checks] or ["- (none reported)"]
    lines = [
        f"{BLOCK_HEADING} [{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC]",
        "",
        f"**Anomaly ID:** {anomaly.id}",
        f"**Status:** {anomaly.status}",
        f"**Type:** {anomaly.type}",
        f"**Detected:** {created.astimezone(UTC)}",
        "",
        "**Failed Checks:**",
        *checks,
        "",
        f"**View in Qualytics:** {url}",
    ]
    return "\n".join(lines) + "\n"


def mentions_url(text: str, url: str) -> bool:
    """Whether `text` holds `url` itself, not merely a longer URL it starts (`...?id=824` in `...?id=8240`)."""
    return re.search(re.escape(url) + r"(?![\w\-~%=&/#+?@:]|\.\S)", text) is not None


def with_anomaly_block(text: str | None, block: str, url: str) -> str:
    """The incident description: the person's text, always with the link back to Qualytics (`url`).

    A text without the anomaly block gets the whole block after it. A text that holds the block (the
    prefilled Slack modal) is used as it is while it still links to the anomaly; when the link is gone (a
    long description truncated from the end, or the line deleted), `**View in Qualytics:** <url>` is added.
    """
    text = (text or "").strip()
    if not text:
        return block
    if mentions_url(text, url):
        return text + "\n"
    if BLOCK_HEADING in text:
        return f"{text}\n\n**View in Qualytics:** {url}\n"
    return f"{text}\n\n{block}"


def link_note(anomaly_id: int, url: str, actor: str | None) -> str:
    """The work note a link adds to the incident."""
    return f"Linked to Qualytics anomaly {anomaly_id} by {actor or 'snowbot'}: {url}"


def new_correlation_id(anomaly_id: int) -> str:
    return f"snowbot:{anomaly_id}:{uuid.uuid4().hex}"
