"""Connections: ServiceNow integrations (connect, the environment's integration, check, list), their
credentials (decrypted through the SecretBox, read from Vault for a stored reference, or read from the
settings for "env"; read again after a 401, `reread`) and the cache of one
`ServiceNowClient` per integration, which the sync engine takes directly (`sync_client`).

Never reads Qualytics, never writes a ticket.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from bot.secrets import is_vault_reference
from bot.settings import Settings, SettingsError
from bot.usecases.base import Storage
from bot.usecases.errors import InvalidInput, NotConfigured, NotConnected, UseCaseError, servicenow_failure
from bot.usecases.logins import env_login, integration_login, login
from bot.usecases.referenced import ReferencedSecrets
from servicenow import Credentials, ServiceNowClient, validate_instance_url
from servicenow.errors import AuthenticationError, ConfigurationError, ServiceNowError
from storage import SecretBox, integrations
from storage.integrations import Integration

log = logging.getLogger(__name__)

CONNECTED_MESSAGE = "The Integration has been successfully created."
NOT_CONNECTED = (
    "ServiceNow is not connected yet: connect it with POST /api/integrations/ticketing "
    "(instance URL and username:password) or set SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS."
)


class ServiceNowFactory(Protocol):
    """Builds a client for an instance; tests and the demo inject in-process transports through it."""

    def __call__(self, instance_url: str, credentials: Credentials) -> ServiceNowClient: ...


@dataclass(frozen=True)
class Connected:
    integration: Integration
    message: str = CONNECTED_MESSAGE


class Connections:
    """The integrations and their cached clients. One per process (and per event loop)."""

    def __init__(
        self, *, storage: Storage, settings: Settings, box: SecretBox | None, factory: ServiceNowFactory
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.box = box
        self.factory = factory
        self._clients: dict[int, tuple[str, ServiceNowClient]] = {}
        self._lock = asyncio.Lock()
        self._retired: list[ServiceNowClient] = []
        self._generations: dict[int, int] = {}
        """Clients replaced (new credentials) while requests may still be using them: closed by `aclose()`."""
        self._referenced = ReferencedSecrets(settings)

    async def connect(
        self,
        *,
        instance_url: str,
        credentials: str | SecretStr | None,
        actor: str | None = None,
        auth: str = "basic",
        client_id: str | None = None,
        client_secret: str | SecretStr | None = None,
    ) -> Connected:
        """Validate, test (`GET incident?sysparm_limit=1`) and store a ServiceNow integration. `auth`:
        basic or oauth_password (`credentials` is `username:password`), oauth_client_credentials (none);
        both OAuth kinds take the OAuth application's `client_id` and `client_secret`."""
        url = self.instance_url(instance_url)
        secret = credentials.get_secret_value() if isinstance(credentials, SecretStr) else credentials
        reference = secret.strip() if secret and is_vault_reference(secret) else None  # stored in its stead
        if reference is not None:
            secret = await self._referenced.read(reference, field="credentials")
        creds = login(auth=auth, credentials=secret, client_id=client_id, client_secret=client_secret)
        if self.box is None and (reference is None or creds.auth != "basic"):
            raise NotConfigured(
                "SNOWBOT_SECRET_KEY is not set, so snowbot will not store ServiceNow credentials. Set it to a long "
                "random string, or configure SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS in the environment."
            )
        known = await self.storage.run(integrations.list_all)
        existing = next((i for i in known if i.instance_url == url), None)
        try:
            async with self.factory(url, creds) as client:
                await client.check_connection()
        except ServiceNowError as err:
            failure = servicenow_failure(err, "testing the connection")
            if existing is not None:
                await self.storage.run(integrations.set_status, existing.id, "Error", failure.message)
            log.info("connect to %s failed: %s", url, type(err).__name__)
            raise failure from err
        saved = await self.storage.run(
            integrations.save,
            self.box,
            instance_url=url,
            username=creds.username,
            password=creds.password if creds.auth != "oauth_client_credentials" else None,
            source="user",
            credentials_ref=reference,
            auth_type=creds.auth,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
        )
        await self.storage.run(integrations.set_status, saved.id, "Connected")
        await self.forget(saved.id)
        self._referenced.remember(saved.id, reference, secret or "")
        log.info("ServiceNow integration %s connected to %s by %s", saved.id, url, actor or "unknown")
        current: Integration | None = await self.storage.run(integrations.get, saved.id)
        return Connected(integration=current or saved)

    def ensure_env_integration(self) -> Integration | None:
        """Record the integration configured by SERVICENOW_INSTANCE_URL / SERVICENOW_CREDENTIALS (source "env").

        Its password is always read from the settings and never stored. No request is made: see
        `check_connection`. Called once while composing, before anything runs. Replicas starting at once
        on one PostgreSQL may both find it missing: the one whose insert loses reads the winner's.
        """
        try:
            return self._ensure_env_integration()
        except sqlite3.IntegrityError:  # another replica recorded it at the same moment (a unique URL)
            return self._ensure_env_integration()

    def _ensure_env_integration(self) -> Integration | None:
        url = self.settings.servicenow_instance_url
        if not url:
            return None
        creds = env_login(self.settings)
        if creds is None:
            return None
        url = self.instance_url(url)
        db = self.storage.db
        for known in integrations.list_all(db):
            same = (known.username, known.auth_type, known.client_id) == (
                creds.username,
                creds.auth,
                creds.client_id,
            )
            if known.instance_url == url and (known.source == "user" or same):
                return known  # unchanged, or connected through the bot since: that connection wins
        current = integrations.default(db)
        return integrations.save(
            db,
            None,  # nothing secret is stored for "env": no SecretBox is needed
            instance_url=url,
            username=creds.username,
            password=None,
            source="env",
            make_default=current is None or current.source == "env",
            auth_type=creds.auth,
            client_id=creds.client_id,
        )

    async def check_connection(self, *, integration_id: int | None = None) -> Integration:
        """Test an integration again and record Connected or Error (with the reason). A 401 reads the
        credentials again (`reread`: rotated in Vault or their file) and, when they changed, tests once more."""
        integration = await self.integration(integration_id)
        try:
            try:
                await (await self.client(integration)).check_connection()
            except AuthenticationError:
                if not await self.reread(integration):
                    raise
                await (await self.client(integration)).check_connection()
        except ServiceNowError as err:
            failure = servicenow_failure(err, "testing the connection")
            await self.storage.run(integrations.set_status, integration.id, "Error", failure.message)
            raise failure from err
        await self.storage.run(integrations.set_status, integration.id, "Connected")
        current: Integration | None = await self.storage.run(integrations.get, integration.id)
        return current or integration

    async def list_integrations(self) -> list[Integration]:
        return await self.storage.run(integrations.list_all)

    def instance_url(self, url: str) -> str:
        try:
            return validate_instance_url(
                url,
                allow_insecure=self.settings.allow_insecure_instance,
                allow_private=self.settings.allow_private_instance,
            )
        except ConfigurationError as err:
            raise InvalidInput(err.message, field="instance_url") from None

    async def integration(self, integration_id: int | None = None) -> Integration:
        """The integration (the default one when no id is given); `NotConnected` when there is none."""
        db = self.storage.db
        found = await self.storage.call(
            lambda: (
                integrations.default(db) if integration_id is None else integrations.get(db, integration_id)
            )
        )
        if found is None:
            raise NotConnected(NOT_CONNECTED)
        return found

    async def default_client(self) -> ServiceNowClient:
        """The client of the default integration."""
        return await self.client(await self.integration())

    async def servicenow_client(self, integration_id: int) -> ServiceNowClient:
        """The cached ServiceNow client of an integration."""
        return await self.client(await self.integration(integration_id))

    async def sync_client(self, integration_id: int) -> ServiceNowClient:
        """The sync engine's way to a client (its `servicenow` getter). A missing integration or secret (a
        `UseCaseError`) becomes a `ConfigurationError`, which the engine treats as a failed attempt to retry
        later: an operator can fix the setting without losing notes."""
        try:
            return await self.servicenow_client(integration_id)
        except UseCaseError as err:
            raise ConfigurationError(err.message) from err

    async def client(self, integration: Integration) -> ServiceNowClient:
        creds = await self._credentials(integration)
        secret = creds.client_secret.get_secret_value() if creds.client_secret else ""
        fingerprint = hashlib.sha256(
            f"{integration.instance_url}\0{creds.username}\0{creds.password.get_secret_value()}\0{creds.auth}"
            f"\0{creds.client_id}\0{secret}".encode()
        ).hexdigest()
        async with self._lock:  # two callers seeing a stale client build one new client
            cached = self._clients.get(integration.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            self._retire(integration.id)
            client = self.factory(integration.instance_url, creds)
            self._clients[integration.id] = (fingerprint, client)
            return client

    async def reread(self, integration: Integration) -> bool:
        """The hook for a 401: read the integration's secret again from where it lives (a `_FILE` or Vault,
        `Settings.refresh_secret`); True when it changed, and the next `client()` then uses it. A secret
        given as a plain value or stored encrypted cannot have changed: False."""
        if integration.source != "env":
            changed = await self._referenced.reread(integration.id)
        else:
            try:
                changed = await asyncio.to_thread(self.settings.refresh_secret, "servicenow_credentials")
            except SettingsError as err:
                raise NotConfigured(str(err)) from None
        if changed:
            log.info("ServiceNow credentials of integration %s were read again: they changed", integration.id)
            await self.forget(integration.id)
        return changed

    async def reread_id(self, integration_id: int) -> bool:
        """`reread` by id (the sync engine's `unauthorized` hook); False for an integration gone since."""
        integration = await self.storage.run(integrations.get, integration_id)
        return await self.reread(integration) if integration is not None else False

    def generation(self, integration_id: int) -> int:
        """Counts the integration's client replacements (new credentials): what was read with an older
        client (the form's choice lists) is read again."""
        return self._generations.get(integration_id, 0)

    def refused_reads(self) -> list[str]:
        """What the instances refused the clients in use (`ServiceNowClient.refused_reads`)."""
        return [text for _, client in self._clients.values() for text in client.refused_reads.values()]

    async def forget(self, integration_id: int) -> None:
        """Stop using the integration's cached client (its credentials were saved again)."""
        async with self._lock:
            self._retire(integration_id)

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        retired, self._retired = self._retired, []
        for client in [*(client for _, client in clients.values()), *retired]:
            await client.aclose()

    async def _credentials(self, integration: Integration) -> Credentials:
        return await integration_login(
            integration,
            storage=self.storage,
            settings=self.settings,
            box=self.box,
            referenced=self._referenced,
        )

    def _retire(self, integration_id: int) -> None:
        """Drop the cached client without closing it: requests may still be in flight on it (`aclose()`
        closes it with the others)."""
        self._generations[integration_id] = self.generation(integration_id) + 1
        cached = self._clients.pop(integration_id, None)
        if cached is not None:
            self._retired.append(cached[1])
