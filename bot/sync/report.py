"""What a sync pass (or one `sync_anomalies`) did: `PassReport`, and how a failure is worded in it.

Pure data and text: the steps add to the report, `snowbot sync --once` prints its `lines()`, the scheduler
logs its `summary()` with `log_fields()`, and `storage.sync.record_run` stores `as_dict()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from qualytics_api import QualyticsError
from servicenow.errors import ServiceNowError


@dataclass
class PassReport:
    """What one pass (or one `sync_anomalies`) did."""

    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    anomalies_read: int = 0
    read_failures: int = 0
    baselined: int = 0
    events_recorded: int = 0
    notes_sent: int = 0
    confirmed: int = 0
    """Notes found already in the journal after an uncertain attempt (marked done, not sent again)."""
    resolved: int = 0
    retried: int = 0
    failed: int = 0
    not_delivered: int = 0
    """Notes not written because their incident is Closed or Canceled (the row fails with that reason)."""
    links_refreshed: int = 0
    refresh_failures: int = 0
    incidents_closed: int = 0
    notified: int = 0
    unwatched: int = 0
    rewatched: int = 0
    deleted: int = 0
    """Anomalies found deleted in Qualytics in this pass (each gets its one note)."""
    native_ticket_links: list[int] = field(default_factory=list)
    """Linked anomalies that Qualytics' own ticketing integration links tickets to as well (notes twice)."""
    errors: list[str] = field(default_factory=list)
    """A few distinct failure reasons, for the summary."""

    def add_error(self, reason: str) -> None:
        if reason not in self.errors and len(self.errors) < 5:
            self.errors.append(reason)

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    def summary(self) -> str:
        """One line: `sync pass: 200 anomalies read, 12 events recorded, 12 notes sent, ...`."""
        parts = [
            f"{self.anomalies_read} anomalies read",
            f"{self.events_recorded} events recorded",
            f"{self.notes_sent} notes sent",
            f"{self.resolved} resolved",
            f"{self.retried} retried",
            f"{self.failed} failed",
            f"{self.links_refreshed} links refreshed",
        ]
        if self.read_failures:
            parts.insert(1, f"{self.read_failures} reads failed")
        if self.confirmed:
            parts.insert(-3, f"{self.confirmed} found already sent")
        if self.not_delivered:
            parts.insert(-1, f"{self.not_delivered} not delivered (incident closed)")
        return f"sync {self.trigger}: {', '.join(parts)} in {self.seconds:.2f}s"

    def log_fields(self) -> dict[str, Any]:
        """The figures the pass's log line carries as fields (`SNOWBOT_LOG_FORMAT=json`)."""
        return {
            "sync_trigger": self.trigger,
            "anomalies_read": self.anomalies_read,
            "events_recorded": self.events_recorded,
            "notes_sent": self.notes_sent,
            "resolved": self.resolved,
            "retried": self.retried,
            "failures": self.read_failures + self.failed + self.refresh_failures,
            "links_refreshed": self.links_refreshed,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """One line per kind of work, then the summary (what `snowbot sync --once` prints)."""
        out = [
            f"anomalies read:     {self.anomalies_read}"
            + (f" ({self.read_failures} could not be read)" if self.read_failures else ""),
            f"links baselined:    {self.baselined}",
            f"events recorded:    {self.events_recorded}",
            f"work notes sent:    {self.notes_sent}"
            + (f" (+{self.confirmed} found already in the journal)" if self.confirmed else ""),
            f"incidents resolved: {self.resolved}",
            f"retries scheduled:  {self.retried}",
            f"given up (failed):  {self.failed}",
            f"not delivered:      {self.not_delivered} (incident Closed or Canceled)",
            f"links refreshed:    {self.links_refreshed}"
            + (f" ({self.refresh_failures} batches failed)" if self.refresh_failures else ""),
            f"incidents closed:   {self.incidents_closed} ({self.notified} Slack threads told)",
            f"polling stopped:    {self.unwatched} links; resumed: {self.rewatched}",
        ]
        if self.deleted:
            out.append(f"deleted anomalies:  {self.deleted} (told their incidents once, no longer polled)")
        if self.native_ticket_links:
            out.append(
                "warning: Qualytics' own ticketing integration also links tickets to anomalies "
                f"{', '.join(map(str, self.native_ticket_links[:10]))}: every work note arrives twice"
            )
        out += [f"error: {reason}" for reason in self.errors]
        out.append(self.summary())
        return out

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        data["seconds"] = round(self.seconds, 3)
        return data

    def __str__(self) -> str:
        return self.summary()


def reason_of(err: ServiceNowError | QualyticsError) -> str:
    """A failure in one line for `last_error`, the report and the log: `HTTP 503 ServerError: ...`."""
    status = f"HTTP {err.status_code} " if err.status_code else ""
    return f"{status}{type(err).__name__}: {err.message}"[:500]


def named(anomaly_ids: list[int]) -> str:
    """The trigger of a `sync_anomalies` report: `of anomalies 824, 825`."""
    shown = ", ".join(map(str, anomaly_ids[:5])) + (", ..." if len(anomaly_ids) > 5 else "")
    return f"of anomal{'y' if len(anomaly_ids) == 1 else 'ies'} {shown}"
