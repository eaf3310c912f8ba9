"""Qualytics' own ticket links: the warning that every work note arrives twice.

Qualytics' own ticketing integration writes its own work notes: when it also links tickets to a linked
anomaly (`GET /api/anomalies/{id}/ticket-links` not empty), every note arrives twice. `NativeLinks` asks
when the detect step is about to write notes for an anomaly (a link baselined or new events: a quiet pass
costs no extra request), at most once per `NATIVE_LINKS_RECHECK` per anomaly, and no more once Qualytics
refuses or lacks the endpoint. The pass report lists those anomalies (`native_ticket_links`); `/snow
status` warns. A warning, never a failure of the sync.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.sync.report import reason_of
from qualytics_api import QualyticsAuthError, QualyticsBadRequestError, QualyticsError, QualyticsNotFoundError

log = logging.getLogger("bot.sync.engine")  # the name the sync's log lines have always carried

NATIVE_LINKS_RECHECK = timedelta(hours=1)
"""How often one anomaly's Qualytics-side ticket links are read again."""


class NativeLinks:
    """What this process learnt of Qualytics' own ticket links, per anomaly (kept from pass to pass)."""

    def __init__(self) -> None:
        self._checked: dict[int, tuple[datetime, int]] = {}  # anomaly -> (checked at, Qualytics' links)
        self._readable = True

    @property
    def checked_any(self) -> bool:
        return bool(self._checked)

    async def check(self, qualytics: object, anomaly_id: int, *, now: datetime) -> None:
        """Read the anomaly's ticket links when the last look is `NATIVE_LINKS_RECHECK` old. A refusal or a
        missing endpoint (an older Qualytics, a token without the permission) ends the checks for this
        process."""
        reader = getattr(qualytics, "ticket_links", None)
        checked = self._checked.get(anomaly_id)
        if reader is None or not self._readable or (checked and now - checked[0] < NATIVE_LINKS_RECHECK):
            return
        try:
            found = await reader(anomaly_id)
        except (QualyticsAuthError, QualyticsNotFoundError, QualyticsBadRequestError) as err:
            self._readable = False
            log.info(
                "sync: Qualytics' own ticket links cannot be read, not checked again: %s", reason_of(err)
            )
            return
        except QualyticsError as err:
            log.debug(
                "sync: Qualytics' own ticket links of anomaly %s not read: %s", anomaly_id, reason_of(err)
            )
            return
        self._checked[anomaly_id] = (now, len(found))
        if found:
            log.warning(
                "sync: Qualytics' own ticketing integration links %d tickets to anomaly %s: it writes its own "
                "work notes, so they arrive twice (snowbot replaces that integration)",
                len(found),
                anomaly_id,
            )

    def doubled(self, linked: set[int]) -> list[int]:
        """The anomalies among `linked` that Qualytics links tickets to as well, sorted."""
        return sorted(
            anomaly_id for anomaly_id, (_, count) in self._checked.items() if count and anomaly_id in linked
        )
