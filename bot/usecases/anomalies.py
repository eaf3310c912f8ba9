"""Reading an anomaly from Qualytics for the use cases: the client (or `NotConfigured` without one), the
anomaly (`AnomalyNotFound`, or the translated failure) and its URL in Qualytics.

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

    def url(self, anomaly: Anomaly) -> str:
        return self.client().anomaly_url(anomaly)

    async def aclose(self) -> None:
        if self.qualytics is not None:
            await self.qualytics.aclose()
