"""Builds a `Snowbot` from `Settings`: the database, the SecretBox, the Qualytics client, the ServiceNow
client factory. Transports and retry policies are injectable so tests and the demo run on emulators."""

from __future__ import annotations

import httpx

from bot.settings import Settings
from bot.usecases import NotConfigured, ServiceNowFactory, Snowbot
from qualytics_api import QualyticsClient, QualyticsConfigError, QualyticsRetry
from servicenow import Credentials, RetryPolicy, ServiceNowClient
from storage import SecretBox, connect, migrate


def servicenow_factory(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> ServiceNowFactory:
    def build(instance_url: str, credentials: Credentials) -> ServiceNowClient:
        return ServiceNowClient.connect(
            instance_url,
            credentials,
            transport=transport,
            timeout=settings.http_timeout,
            retry=retry,
            allow_insecure=settings.allow_insecure_instance,
            allow_private=settings.allow_private_instance,
        )

    return build


def qualytics_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: QualyticsRetry | None = None,
) -> QualyticsClient | None:
    """The Qualytics client, or None when QUALYTICS_URL / QUALYTICS_TOKEN are not both set."""
    if not settings.qualytics_url or settings.qualytics_token is None:
        return None
    try:
        return QualyticsClient.connect(
            settings.qualytics_url,
            settings.qualytics_token,
            transport=transport,
            timeout=settings.http_timeout,
            retry=retry,
        )
    except QualyticsConfigError as err:
        raise NotConfigured(err.message) from None


def build_snowbot(
    settings: Settings,
    *,
    servicenow_transport: httpx.AsyncBaseTransport | None = None,
    qualytics_transport: httpx.AsyncBaseTransport | None = None,
    servicenow_retry: RetryPolicy | None = None,
    qualytics_retry: QualyticsRetry | None = None,
) -> Snowbot:
    """Open (and migrate) the database and wire the clients; records the environment's integration, if any.

    Without SNOWBOT_SECRET_KEY there is no SecretBox: connecting ServiceNow through the bot is refused
    (an integration from SERVICENOW_INSTANCE_URL / SERVICENOW_CREDENTIALS still works).
    """
    db = connect(settings.db_path)
    migrate(db)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    snowbot = Snowbot(
        db=db,
        settings=settings,
        box=SecretBox(secret) if secret else None,
        qualytics=qualytics_client(settings, transport=qualytics_transport, retry=qualytics_retry),
        servicenow_factory=servicenow_factory(
            settings, transport=servicenow_transport, retry=servicenow_retry
        ),
    )
    snowbot.ensure_env_integration()
    return snowbot
