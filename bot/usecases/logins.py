"""Logins: how an integration logs in to ServiceNow, as `servicenow.Credentials`: from what a person gave
(`login`), from the environment (`env_login`: SERVICENOW_AUTH, SERVICENOW_CREDENTIALS,
SERVICENOW_CLIENT_ID, SERVICENOW_CLIENT_SECRET) or from storage (`stored_login`, decrypted through the
SecretBox). Never sends a request, never logs a secret.
"""

from __future__ import annotations

from pydantic import SecretStr

from bot.settings import Settings
from bot.usecases.base import Storage
from bot.usecases.errors import InvalidInput, NotConfigured
from bot.usecases.referenced import ReferencedSecrets
from servicenow import Credentials, parse_credentials
from servicenow.auth import AuthKind, check_auth_kind
from servicenow.errors import ConfigurationError
from storage import SecretBox, integrations
from storage.crypto import SecretKeyMismatchError
from storage.integrations import Integration


def login(
    *,
    auth: str,
    credentials: str | SecretStr | None,
    client_id: str | None,
    client_secret: str | SecretStr | None,
) -> Credentials:
    """The `Credentials` of one way to log in; `InvalidInput` naming the field that is wrong (auth,
    credentials, client_id, client_secret). The service account's password is empty for client
    credentials, which log in as the OAuth application's own user."""
    try:
        kind: AuthKind = check_auth_kind(auth)
    except ConfigurationError as err:
        raise InvalidInput(err.message, field="auth") from None
    secret = credentials.get_secret_value() if isinstance(credentials, SecretStr) else credentials
    if kind == "oauth_client_credentials":
        if secret:
            raise InvalidInput(
                "oauth_client_credentials logs in with the OAuth client only: leave credentials out, or use "
                "oauth_password to log in as the service account",
                field="credentials",
            )
        creds = Credentials(username="", password=SecretStr(""))
    else:
        try:
            creds = parse_credentials(secret or "")
        except ConfigurationError as err:
            raise InvalidInput(err.message, field="credentials") from None
    if kind == "basic":
        return creds
    client_id = (client_id or "").strip()
    if not client_id:
        raise InvalidInput(
            f"{kind} needs the client id of the instance's OAuth application (System OAuth > Application Registry)",
            field="client_id",
        )
    plain = client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    if not plain:
        raise InvalidInput(
            f"{kind} needs the client secret of the OAuth application {client_id}", field="client_secret"
        )
    return creds.model_copy(update={"auth": kind, "client_id": client_id, "client_secret": SecretStr(plain)})


def env_login(settings: Settings) -> Credentials | None:
    """The login SERVICENOW_AUTH, SERVICENOW_CREDENTIALS and SERVICENOW_CLIENT_ID/SECRET describe (None:
    not enough is set)."""
    auth, secret = settings.servicenow_auth, settings.servicenow_credentials_value
    if auth != "oauth_client_credentials" and not secret:
        return None
    if auth != "basic" and not (settings.servicenow_client_id and settings.servicenow_client_secret):
        return None
    try:
        return login(
            auth=auth,
            credentials=secret,
            client_id=settings.servicenow_client_id,
            client_secret=settings.servicenow_client_secret,
        )
    except InvalidInput as err:
        variable = {"credentials": "SERVICENOW_CREDENTIALS", "auth": "SERVICENOW_AUTH"}.get(
            err.field or "", "SERVICENOW_CLIENT_ID"
        )
        raise NotConfigured(f"{variable}: {err.message}") from None


async def stored_login(storage: Storage, box: SecretBox, integration: Integration) -> Credentials:
    """The stored integration's login, its secrets decrypted (`SecretKeyMismatchError` if the key changed)."""
    kind = check_auth_kind(integration.auth_type)
    password = (
        SecretStr("")
        if kind == "oauth_client_credentials"
        else await storage.run(integrations.password, box, integration)
    )
    client_secret = (
        None if kind == "basic" else await storage.run(integrations.client_secret, box, integration)
    )
    return Credentials(
        username=integration.username,
        password=password,
        auth=kind,
        client_id=integration.client_id,
        client_secret=client_secret,
    )


async def integration_login(
    integration: Integration,
    *,
    storage: Storage,
    settings: Settings,
    box: SecretBox | None,
    referenced: ReferencedSecrets,
) -> Credentials:
    """How a stored integration logs in: from the environment (`env`), from its Vault reference, or
    decrypted from storage; `NotConfigured` saying what is missing."""
    if integration.source == "env":
        creds = env_login(settings)
        if creds is None:
            raise NotConfigured(
                "This integration comes from the environment but SERVICENOW_CREDENTIALS is not set any more; "
                "set it again or connect ServiceNow with POST /api/integrations/ticketing."
            )
        return creds
    reference = await storage.run(integrations.credentials_ref, integration)
    if reference is not None:
        try:
            stored = parse_credentials(await referenced.get(integration.id, reference))
        except ConfigurationError as err:
            raise NotConfigured(f"{reference}: {err.message}") from None
        if integration.auth_type == "basic" or box is None:
            return stored
        client_secret = await storage.run(integrations.client_secret, box, integration)
        return stored.model_copy(
            update={
                "auth": check_auth_kind(integration.auth_type),
                "client_id": integration.client_id,
                "client_secret": client_secret,
            }
        )
    if box is None:
        raise NotConfigured(
            "SNOWBOT_SECRET_KEY is not set, so the stored ServiceNow credentials cannot be decrypted; set it to "
            "the key used when the integration was connected."
        )
    try:
        return await stored_login(storage, box, integration)
    except SecretKeyMismatchError as err:
        raise NotConfigured(str(err)) from None
