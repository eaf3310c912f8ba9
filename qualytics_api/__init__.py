"""snowbot's Qualytics side: an API client (anomalies, their status and comments), its models, errors and
retry policy. A sibling of `servicenow/`; named `qualytics_api` because `qualytics` is the package of
Qualytics' own CLI (qualytics-cli), which the tests run against the emulator.

async with QualyticsClient.connect(url, SecretStr(token)) as qualytics:
    anomaly = await qualytics.get_anomaly(824)
"""

from __future__ import annotations

from qualytics_api.client import QualyticsClient
from qualytics_api.errors import (
    QualyticsAuthError,
    QualyticsBadRequestError,
    QualyticsConfigError,
    QualyticsError,
    QualyticsNotFoundError,
    QualyticsRateLimitError,
    QualyticsTimeoutError,
    QualyticsUnavailableError,
)
from qualytics_api.models import (
    ARCHIVE_STATUSES,
    OPEN_STATUSES,
    Anomaly,
    AnomalyPage,
    Comment,
    CommentUser,
    Container,
    Datastore,
    FailedCheck,
    QualityCheck,
    QualyticsUser,
    anomaly_url,
)
from qualytics_api.retry import QualyticsRetry

__all__ = [
    "ARCHIVE_STATUSES",
    "OPEN_STATUSES",
    "Anomaly",
    "AnomalyPage",
    "Comment",
    "CommentUser",
    "Container",
    "Datastore",
    "FailedCheck",
    "QualityCheck",
    "QualyticsAuthError",
    "QualyticsBadRequestError",
    "QualyticsClient",
    "QualyticsConfigError",
    "QualyticsError",
    "QualyticsNotFoundError",
    "QualyticsRateLimitError",
    "QualyticsRetry",
    "QualyticsTimeoutError",
    "QualyticsUnavailableError",
    "QualyticsUser",
    "anomaly_url",
]
