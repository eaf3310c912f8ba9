"""The text snowbot writes into ServiceNow: work notes (spec formats) and resolution notes.

Formats ("Key Integration Operations" of the spec), times always UTC:

    [2024-01-15 10:30:00 UTC] Qualytics Anomaly Status: Acknowledged
    [2024-01-15 10:31:00 UTC] Comment from Qualytics: <text>

and, once, when the anomaly is deleted in Qualytics (a "status" row whose payload says `deleted`):

    [2024-01-15 10:32:00 UTC] Qualytics anomaly 824 was deleted in Qualytics; snowbot no longer syncs it.

Every note ends with a trailer line naming the anomaly (and a comment's author) and the outbox row's
marker, so the spec's line stays exactly as the spec writes it:

    (Qualytics anomaly 824, ref snowbot-3f9c0a1b2c3d4e5f)
    (Qualytics anomaly 824, comment by Jane Doe, ref snowbot-3f9c0a1b2c3d4e5f)

The marker is how delivery stays exactly once. When an attempt's outcome is unknown (a timeout, a dropped
answer, a crash while sending) the engine reads the incident's journal and looks for the marker before
sending again. Matching on the note's text alone would not be safe: identical texts are legitimate
(several anomalies linked to one incident and acknowledged in the same pass, a status that flips and
flips back within a second, the same comment posted twice), and one of them would then be taken for
another and never sent. The marker is unique per outbox row (a UNIQUE column), so a match is proof.

The text of a note is a pure function of the outbox row (kind, payload, marker): every retry of an item
sends exactly the same bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

STATUS_PREFIX = "Qualytics Anomaly Status: "
COMMENT_PREFIX = "Comment from Qualytics: "


def stamp(moment: datetime) -> str:
    """`[2024-01-15 10:30:00 UTC]` for an aware datetime (naive ones are taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"[{aware.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC]"


def trailer(anomaly_id: int, marker: str, author: str = "") -> str:
    by = f", comment by {author}" if author else ""
    return f"(Qualytics anomaly {anomaly_id}{by}, ref {marker})"


def status_line(status: str, observed_at: datetime) -> str:
    return f"{stamp(observed_at)} {STATUS_PREFIX}{status}"


def deleted_line(anomaly_id: int, observed_at: datetime) -> str:
    return f"{stamp(observed_at)} Qualytics anomaly {anomaly_id} was deleted in Qualytics; snowbot no longer syncs it."


def comment_line(message: str, created: datetime) -> str:
    return f"{stamp(created)} {COMMENT_PREFIX}{message.strip()}"


def work_note(kind: str, payload: dict[str, Any], marker: str) -> str:
    """The work note for one outbox row: its spec line, then the trailer with the marker."""
    if kind == "comment":
        line = comment_line(payload["message"], _time(payload["created"]))
        author = " ".join(str(payload.get("author") or "").split())  # one line, whatever the name holds
    elif payload.get("deleted"):
        line = deleted_line(payload["anomaly_id"], _time(payload["observed_at"]))
        author = ""
    else:  # "status" and "resolve" both announce the new status
        line = status_line(payload["status"], _time(payload["observed_at"]))
        author = ""
    return f"{line}\n{trailer(payload['anomaly_id'], marker, author)}"


def close_notes(anomaly_id: int, status: str) -> str:
    """The resolution notes of an incident resolved because its anomaly was archived."""
    return f"Qualytics anomaly {anomaly_id} was archived as {status}."


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- ServiceNow back to Qualytics (`bot.sync.back`) -------------------------------------------------------

BACK_REF = "snowback-"
"""The marker prefix of the Qualytics comments snowbot writes from ServiceNow (`storage.syncback`)."""
_OWN_NOTE = re.compile(
    r"\(Qualytics anomaly \d+[^)\n]*, ref snowbot-[0-9a-f]{16}\)|^Linked to Qualytics anomaly \d+ by "
)
_BACK_TRAILER = re.compile(r"\(from ServiceNow by snowbot, ref snowback-[0-9a-f]{16}\)")


def is_own_note(text: str) -> bool:
    """A ServiceNow journal entry snowbot wrote: a sync note (its `ref snowbot-…` trailer) or the note of
    a link (`bot.usecases.description.link_note`). Such entries never come back to Qualytics or Slack."""
    return bool(_OWN_NOTE.search(text))


def is_from_servicenow(message: str) -> bool:
    """A Qualytics comment snowbot wrote from ServiceNow (its `ref snowback-…` trailer): the forward sync
    (`bot.sync.detect`) never sends it back to ServiceNow."""
    return bool(_BACK_TRAILER.search(message))


def back_trailer(marker: str) -> str:
    return f"(from ServiceNow by snowbot, ref {marker})"


def back_comment(payload: dict[str, Any], marker: str) -> str:
    """The Qualytics comment for one `storage.syncback` row (a pure function of the row: every retry sends
    the same text).

        Work note on INC0010001 by beth.anglin in ServiceNow: <text>
        INC0010001 resolved in ServiceNow by Beth Anglin: Solution provided - <close notes>
    """
    if payload["kind"] == "closed":
        code = payload.get("close_code") or "no resolution code"
        notes = " ".join(str(payload.get("close_notes") or "").split())
        line = f"{payload['number']} {payload['verb']} in ServiceNow by {payload['who']}: {code}"
        line += f" - {notes}" if notes else ""
    else:
        line = f"{payload['label']} on {payload['number']} by {payload['who']} in ServiceNow: {payload['text'].strip()}"
    return f"{line}\n{back_trailer(marker)}"
