"""Reading an anomaly from Qualytics for the use cases: the client (or `NotConfigured` without one), the
anomaly (`AnomalyNotFound`, or the translated failure), the newest ones (the creation rules' poll) and
its URL in Qualytics.

Never changes an anomaly (`bot.usecases.chatops` does).
"""

from __future__ import annotations

from bot.usecases.errors import QUALYTICS_NOT_CONFIGURED, AnomalyNotFound, NotConfigured, qualytics_failure
from qualytics_api import Anomaly, QualyticsClient, QualyticsError, QualyticsNotFoundError


class Anomalies:
    def __init__(self, qualytics: QualyticsClient | None) -> None:
        self.qualytics = qualytics

    def client(self) -> QualyticsClient:
        if self.qualytics is None:
            raise NotConfigured(QUALYTICS_NOT_CONFIGURED)
        return self.qualytics

    async def get(self, anomaly_id: int) -> Anomaly:
        qualytics = self.client()
        try:
            return await qualytics.get_anomaly(anomaly_id)
        except QualyticsNotFoundError:
            raise AnomalyNotFound(anomaly_id) from None
        except QualyticsError as err:
            raise qualytics_failure(err, f"reading anomaly {anomaly_id}") from err

    async def newest(self, *, last_seen: int | None, limit: int, page_size: int = 100) -> list[Anomaly]:
        """The newest anomalies (the list endpoint's order, newest first) down to the one with id
        `last_seen`, at most `limit`; with `last_seen` None only the newest (where a poll starts)."""
        qualytics = self.client()
        found: list[Anomaly] = []
        page = 1
        while len(found) < limit:
            size = 1 if last_seen is None else page_size
            try:
                result = await qualytics.list_anomalies(page=page, size=size)
            except QualyticsError as err:
                raise qualytics_failure(err, "listing the newest anomalies") from err
            for anomaly in result.items:
                if last_seen is not None and anomaly.id <= last_seen:
                    return found
                found.append(anomaly)
            if last_seen is None or not result.has_more:
                return found
            page += 1
        return found[:limit]

    def url(self, anomaly: Anomaly) -> str:
        return self.client().anomaly_url(anomaly)

    async def aclose(self) -> None:
        if self.qualytics is not None:
            await self.qualytics.aclose()
