"""The one place snowbot reads its configuration (environment variables and an optional `.env`).

Everything else receives a `Settings` instance (or the values it needs) as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.secrets import (
    Origin,
    SecretError,
    Sources,
    Vault,
    VaultLogin,
    VaultReference,
    file_origins,
    is_vault_reference,
)

MIN_SECRET_KEY = 16
"""Shortest SNOWBOT_SECRET_KEY accepted (a generated key has 44 characters; a passphrase needs 16)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,  # each field's docstring is its description (`snowbot run --help`)
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    """The bot token (`xoxb-…`)."""
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    """Verifies Slack's HTTP requests (HTTP mode)."""
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    """App-level token (`xapp-…`): when set, Socket Mode is used instead of HTTP."""
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    """Another base URL for the Slack Web API (the emulator); unset: Slack's own."""

    # ServiceNow
    servicenow_instance_url: str | None = Field(default=None, validation_alias="SERVICENOW_INSTANCE_URL")
    """`https://<instance>.service-now.com`, no path, no trailing slash."""
    servicenow_credentials: SecretStr | None = Field(default=None, validation_alias="SERVICENOW_CREDENTIALS")
    """`username:password` of the ServiceNow service account."""
    servicenow_auth: Literal["basic", "oauth_password", "oauth_client_credentials"] = Field(
        default="basic", validation_alias="SERVICENOW_AUTH"
    )
    """How snowbot logs in: basic (SERVICENOW_CREDENTIALS), oauth_password (SERVICENOW_CREDENTIALS plus the
    OAuth client) or oauth_client_credentials (the OAuth client only; Washington DC and later)."""
    servicenow_client_id: str | None = Field(default=None, validation_alias="SERVICENOW_CLIENT_ID")
    """The client id of the instance's OAuth application (System OAuth > Application Registry)."""
    servicenow_client_secret: SecretStr | None = Field(
        default=None, validation_alias="SERVICENOW_CLIENT_SECRET"
    )
    """The client secret of that OAuth application."""
    allow_insecure_instance: bool = Field(default=False, validation_alias="SNOWBOT_ALLOW_INSECURE_INSTANCE")
    """Accept `http://` instance URLs on loopback (emulators only)."""
    allow_private_instance: bool = Field(default=False, validation_alias="SNOWBOT_ALLOW_PRIVATE_INSTANCE")
    """An on-premises instance: its URL may be (or resolve to) a private address (servicenow/config.py)."""

    # Qualytics
    qualytics_url: str | None = Field(default=None, validation_alias="QUALYTICS_URL")
    """`https://<your-instance>.qualytics.io`."""
    qualytics_token: SecretStr | None = Field(default=None, validation_alias="QUALYTICS_TOKEN")
    """A Qualytics API token."""

    # snowbot itself
    db_path: Path = Field(default=Path("snowbot.db"), validation_alias="SNOWBOT_DB")
    """The SQLite database file (unless SNOWBOT_DATABASE_URL is set)."""
    database_url: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_DATABASE_URL")
    """PostgreSQL instead of SQLite: `postgresql://user:password@host:5432/dbname` (libpq's URI; `snowbot
    db copy --to` moves a SQLite database there)."""
    secret_key: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_SECRET_KEY")
    """Key that encrypts stored ServiceNow credentials (`snowbot secret-key` prints a new one)."""
    api_token: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_API_TOKEN")
    """Bearer token of the REST API (unset: every /api call answers 503)."""
    sync_interval: int = Field(default=60, ge=1, validation_alias="SNOWBOT_SYNC_INTERVAL")
    """Seconds between sync passes."""
    rules_poll_interval: int = Field(default=60, ge=1, validation_alias="SNOWBOT_RULES_POLL_INTERVAL")
    """Seconds between the creation rules' polls of new Qualytics anomalies."""
    recurrence_window: int = Field(default=604800, ge=0, validation_alias="SNOWBOT_RECURRENCE_WINDOW")
    """Seconds within which an anomaly like one with an open ticket is a recurrence (new rules' default, and the create form's suggestion)."""
    host: str = Field(default="127.0.0.1", validation_alias="SNOWBOT_HOST")
    """Address `snowbot run` listens on."""
    port: int = Field(default=3000, ge=1, le=65535, validation_alias="SNOWBOT_PORT")
    """Port `snowbot run` listens on."""
    admins: str = Field(default="", validation_alias="SNOWBOT_ADMINS")
    """Comma-separated Slack user ids allowed to connect ServiceNow besides workspace admins."""
    unfurl_domains: str = Field(default="", validation_alias="SNOWBOT_UNFURL_DOMAINS")
    """Comma-separated extra domains whose links snowbot unfurls (besides QUALYTICS_URL's and SERVICENOW_INSTANCE_URL's hosts; `snowbot manifest`)."""
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_WEBHOOK_SECRET")
    """Shared secret of the Qualytics Flow webhook (`x-qualytics-secret`)."""
    servicenow_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="SNOWBOT_SERVICENOW_WEBHOOK_SECRET"
    )
    """Key of the HMAC-SHA256 signature (X-Snowbot-Signature) a ServiceNow Business Rule puts on
    POST /webhooks/servicenow (docs/servicenow-business-rule.md); unset, that route answers 503."""
    close_code: str | None = Field(default=None, validation_alias="SNOWBOT_CLOSE_CODE")
    """Resolution code used when an archived anomaly resolves its incidents (default: read from the instance)."""
    sync_concurrency: int = Field(default=16, ge=1, le=256, validation_alias="SNOWBOT_SYNC_CONCURRENCY")
    """Parallel Qualytics reads and ServiceNow writes in a sync pass."""
    sync_min_read_interval: int = Field(default=60, ge=0, validation_alias="SNOWBOT_SYNC_MIN_READ_INTERVAL")
    """Seconds before an anomaly that just changed (or that a webhook or Slack action named) is read again."""
    sync_max_read_interval: int = Field(default=900, ge=0, validation_alias="SNOWBOT_SYNC_MAX_READ_INTERVAL")
    """Longest wait between reads of a quiet anomaly: the wait doubles per quiet read from the minimum up to it."""
    sync_hot_window: int = Field(default=86400, ge=0, validation_alias="SNOWBOT_SYNC_HOT_WINDOW")
    """Seconds an anomaly is still read at the minimum interval after its last change."""
    http_timeout: float = Field(default=10.0, gt=0, validation_alias="SNOWBOT_HTTP_TIMEOUT")
    """Seconds before a ServiceNow or Qualytics request times out."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="SNOWBOT_LOG_LEVEL"
    )
    """Least level logged; DEBUG adds every outbound request's URL."""
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="SNOWBOT_LOG_FORMAT")
    """`json`: one JSON object per line (time, level, logger, message, extra fields) for log shippers."""
    shutdown_timeout: float = Field(default=20.0, gt=0, validation_alias="SNOWBOT_SHUTDOWN_TIMEOUT")
    """Seconds `snowbot run` may take to stop on SIGTERM; work still running then is cancelled (logged)."""

    # Several replicas on one database (bot/sync/leader.py; README "Running several replicas")
    outbox_lease: float = Field(default=300.0, ge=1, le=86400, validation_alias="SNOWBOT_OUTBOX_LEASE")
    """Seconds a replica owns an outbox row or an interrupted create it claimed; after that another replica
    may take it over (looking in ServiceNow first); interrupted creates are reconciled at least this often,
    and the sync's leadership is tried for every min(this, SNOWBOT_SYNC_INTERVAL). At least
    SNOWBOT_HTTP_TIMEOUT + SNOWBOT_WRITE_SETTLE."""
    write_settle: float = Field(default=120.0, ge=0.1, le=86400, validation_alias="SNOWBOT_WRITE_SETTLE")
    """Seconds to wait after a work note that may have landed (a timeout, a lost answer, a 5xx) before its
    journal is read to decide whether to send it again. At least SNOWBOT_HTTP_TIMEOUT."""
    create_settle: float = Field(default=300.0, ge=0.1, le=86400, validation_alias="SNOWBOT_CREATE_SETTLE")
    """Seconds after which an interrupted create or link not found in ServiceNow is retired (its write
    surely never happened); until then a new create of that anomaly waits. At least SNOWBOT_HTTP_TIMEOUT."""
    retry_base: float = Field(default=30.0, ge=0.1, le=86400, validation_alias="SNOWBOT_RETRY_BASE")
    """Seconds before a failed work note is tried again; doubles per attempt (with jitter) up to SNOWBOT_RETRY_MAX."""
    retry_max: float = Field(default=1800.0, ge=0.1, le=86400, validation_alias="SNOWBOT_RETRY_MAX")
    """Longest wait between two attempts of a failed work note (a 429's Retry-After aside)."""

    # HashiCorp Vault (bot/secrets.py): any secret setting may be `vault:<mount>/<path>#<key>`
    vault_addr: str | None = Field(default=None, validation_alias="VAULT_ADDR")
    """Vault's address (`https://vault.example.com:8200`), for secret settings written `vault:<mount>/<path>#<key>`."""
    vault_token: SecretStr | None = Field(default=None, validation_alias="VAULT_TOKEN")
    """A Vault token that may read those secrets (or log in with VAULT_ROLE_ID and VAULT_SECRET_ID)."""
    vault_role_id: SecretStr | None = Field(default=None, validation_alias="VAULT_ROLE_ID")
    """AppRole role id (with VAULT_SECRET_ID), instead of VAULT_TOKEN."""
    vault_secret_id: SecretStr | None = Field(default=None, validation_alias="VAULT_SECRET_ID")
    """AppRole secret id (with VAULT_ROLE_ID)."""

    _sources: Sources | None = PrivateAttr(default=None)

    @field_validator(
        "qualytics_url", "slack_api_url", "servicenow_instance_url", "servicenow_client_id", "vault_addr"
    )
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    @field_validator("servicenow_auth", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip()
        return value.upper() if info.field_name == "log_level" else value.lower()

    @field_validator("database_url")
    @classmethod
    def _postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        text = value.get_secret_value().strip()
        if not text.startswith(("postgresql://", "postgres://")) and not is_vault_reference(text):
            raise ValueError(
                "is not a PostgreSQL URL: set it to postgresql://user:password@host:5432/dbname, or unset it "
                "to use the SQLite file SNOWBOT_DB"
            )
        return SecretStr(text)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY:
            raise ValueError(
                f"is too short ({len(value.get_secret_value())} characters, at least {MIN_SECRET_KEY}); "
                f"run `snowbot secret-key` and set SNOWBOT_SECRET_KEY to the key it prints"
            )
        return value

    @property
    def unfurl_hosts(self) -> tuple[str, ...]:
        """The hosts whose links snowbot unfurls, in order, without repeats: QUALYTICS_URL's,
        SERVICENOW_INSTANCE_URL's, then SNOWBOT_UNFURL_DOMAINS."""
        urls = (self.qualytics_url or "", self.servicenow_instance_url or "")
        hosts = [urlsplit(url).hostname or "" for url in urls if "://" in url]
        hosts += [part.strip().lower() for part in self.unfurl_domains.split(",")]
        return tuple(dict.fromkeys(host for host in hosts if host))

    @property
    def database(self) -> str | Path:
        """What `storage.connect` opens: SNOWBOT_DATABASE_URL when set, else the SQLite file SNOWBOT_DB."""
        return self.database_url.get_secret_value() if self.database_url else self.db_path

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admins.split(",") if part.strip())

    @property
    def servicenow_credentials_value(self) -> str | None:
        """The clear `username:password`, computed on each use so it never sits in the instance's dict."""
        return self.servicenow_credentials.get_secret_value() if self.servicenow_credentials else None

    def read_reference(self, reference: str) -> str:
        """The secret a `vault:<mount>/<path>#<key>` reference points at (a connected integration's
        credentials); `SettingsError` saying what to do when it cannot be read."""
        sources = self._sources or Sources(origins={}, vault=None)
        try:
            return sources.read_reference(reference)
        except SecretError as err:
            raise SettingsError(f"{reference.strip()}: {err}") from None

    def refresh_secret(self, name: str) -> bool:
        """Read the secret setting `name` (`servicenow_credentials`) again from its `_FILE` or Vault, as
        after a 401 (the secret may have been rotated); True when its value changed. A plain value from the
        environment cannot change: False. `SettingsError` when it cannot be read."""
        if self._sources is None:
            return False
        try:
            value = self._sources.refresh(name)
        except SecretError as err:
            raise SettingsError(_secret_problem(self._sources, name, err)) from None
        current = getattr(self, name)
        if value is None or (current is not None and current.get_secret_value() == value):
            return False
        setattr(self, name, SecretStr(value))
        return True


class SettingsError(ValueError):
    """A setting has a value snowbot cannot use; `str()` gives one line per bad variable, each naming it,
    saying what is wrong and how to fix it (never echoing a secret)."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; keyword overrides win (tests, the demo).

    Each secret setting may instead come from the file named by `<VARIABLE>_FILE`, or be a Vault reference
    `vault:<mount>/<path>#<key>` (bot/secrets.py). A bad value raises `SettingsError` (not pydantic's
    `ValidationError`)."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        check_timings(settings)
        sources = _secret_sources(settings, _environment())
        if sources is None:
            return settings
        values = {name: _read_secret(sources, name) for name in sources.origins}
        if values:  # validated like any value (SNOWBOT_SECRET_KEY's length, ...)
            settings = Settings(**{**overrides, **values})  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingsError("\n".join(_explain(error) for error in err.errors())) from None
    settings._sources = sources
    return settings


def check_timings(settings: Settings) -> None:
    """The replicas' timings against each other (`SettingsError`, one line each): a claim must outlive one
    write and its settling, or another replica could send a note whose first write is still landing."""
    timeout = settings.http_timeout
    problems = []
    if settings.outbox_lease < timeout + settings.write_settle:
        problems.append(
            f"SNOWBOT_OUTBOX_LEASE={settings.outbox_lease:g} is shorter than SNOWBOT_HTTP_TIMEOUT + "
            f"SNOWBOT_WRITE_SETTLE ({timeout:g} + {settings.write_settle:g}): raise it, or shorten those"
        )
    for name in ("write_settle", "create_settle"):
        if getattr(settings, name) < timeout:
            problems.append(
                f"{variable(name)}={getattr(settings, name):g} is shorter than SNOWBOT_HTTP_TIMEOUT ({timeout:g}): "
                "a write may still be landing then; raise it to at least that"
            )
    if settings.retry_max < settings.retry_base:
        problems.append(
            f"SNOWBOT_RETRY_MAX={settings.retry_max:g} is below SNOWBOT_RETRY_BASE={settings.retry_base:g}: "
            "raise it to at least that"
        )
    if problems:
        raise SettingsError("\n".join(problems))


def _environment() -> dict[str, str]:
    """The environment and `.env` (the environment wins), for the `<VARIABLE>_FILE` variables."""
    from dotenv import dotenv_values

    env_file = Path(".env")
    found = dotenv_values(env_file) if env_file.is_file() else {}
    return {**{k: v for k, v in found.items() if v is not None}, **os.environ}


def secret_fields() -> list[str]:
    """The settings that hold secrets (SecretStr): each may come from a `_FILE` or Vault."""
    return [name for name, spec in Settings.model_fields.items() if "SecretStr" in str(spec.annotation)]


_VAULT_LOGIN = ("vault_token", "vault_role_id", "vault_secret_id")


def _secret_sources(settings: Settings, environ: Mapping[str, str]) -> Sources | None:
    """Where the secrets that are not plain values come from, and the Vault client they need."""
    names = secret_fields()
    try:
        origins = file_origins(variables={name: variable(name) for name in names}, environ=environ)
    except SecretError as err:
        raise SettingsError(str(err)) from None
    for name in names:
        value = getattr(settings, name)
        if value is not None and is_vault_reference(value.get_secret_value()):
            try:
                origins[name] = Origin(vault=VaultReference.parse(value.get_secret_value()))
            except SecretError as err:
                raise SettingsError(f"{variable(name)} {err}") from None
    if not origins and not settings.vault_addr:
        return None
    local = Sources(origins={n: o for n, o in origins.items() if n in _VAULT_LOGIN}, vault=None)
    login = {name: _read_secret(local, name) for name in local.origins}  # VAULT_TOKEN_FILE, ...
    for name in _VAULT_LOGIN:
        if name not in login and getattr(settings, name) is not None:
            login[name] = getattr(settings, name).get_secret_value()
    return Sources(origins=origins, vault=_vault(settings, login, origins))


def _vault(settings: Settings, login: Mapping[str, str], origins: Mapping[str, Origin]) -> Vault | None:
    if not settings.vault_addr:
        return None
    token, role_id, secret_id = (login.get(name) or None for name in _VAULT_LOGIN)
    if token is None and (role_id is None or secret_id is None):
        if any(o.vault is not None for o in origins.values()):
            raise SettingsError(
                "VAULT_ADDR is set but snowbot cannot log in to Vault: set VAULT_TOKEN, or VAULT_ROLE_ID and "
                "VAULT_SECRET_ID (AppRole)"
            )
    return Vault(
        VaultLogin(
            addr=settings.vault_addr,
            token=token,
            role_id=role_id,
            secret_id=secret_id,
            timeout=settings.http_timeout,
        )
    )


def _read_secret(sources: Sources, name: str) -> str:
    try:
        value = sources.read(name)
    except SecretError as err:
        raise SettingsError(_secret_problem(sources, name, err)) from None
    if name in _VAULT_LOGIN and is_vault_reference(value):
        raise SettingsError(f"{variable(name)} cannot come from Vault itself: give it as a value or a _FILE")
    return value


def _secret_problem(sources: Sources, name: str, err: SecretError) -> str:
    """One line naming the variable (and the file or reference), never the value."""
    origin = sources.origins[name]
    if origin.file is not None and str(err).startswith("names "):
        return f"{variable(name)}_FILE {err}"
    return f"{variable(name)} ({sources.describe(name)}): {err}"


def variable(name: str) -> str:
    """The environment variable of a field (`port` -> `SNOWBOT_PORT`)."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else name.upper()


def _field_by_variable(var: str) -> tuple[str, FieldInfo] | None:
    for name, spec in Settings.model_fields.items():
        if var in (name, variable(name)):
            return name, spec
    return None


def _default(spec: FieldInfo) -> str:
    value = spec.get_default(call_default_factory=True)
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expected(spec: FieldInfo) -> str:
    """What a field accepts, in words: `a whole number from 1 to 65535`, `true or false`, ..."""
    bounds = {
        key: getattr(m, key.lower())
        for m in spec.metadata
        for key in ("Ge", "Gt", "Le")
        if hasattr(m, key.lower())
    }
    annotation = spec.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    if annotation is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if annotation in (int, float):
        kind = "a whole number" if annotation is int else "a number"
        if "Ge" in bounds and "Le" in bounds:
            return f"{kind} from {bounds['Ge']} to {bounds['Le']}"
        if "Ge" in bounds:
            return f"{kind} of at least {bounds['Ge']}"
        if "Gt" in bounds:
            return f"{kind} above {bounds['Gt']}"
        return kind
    return "a text value"


_WHAT = {
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_parsing": "is not a number",
    "bool_parsing": "is not true or false",
    "greater_than_equal": "is too small",
    "greater_than": "is too small",
    "less_than_equal": "is too large",
    "literal_error": "is not an accepted value",
}


def _explain(error: Mapping[str, Any]) -> str:
    """One line: `SNOWBOT_PORT='abc' is not a whole number: set it to a whole number from 1 to 65535,
    or unset it (default 3000).`"""
    var = str(error["loc"][0]) if error.get("loc") else "a setting"
    found = _field_by_variable(var)
    if found is None:
        return f"{var}: {error.get('msg', 'invalid value')}"
    name, spec = found
    var = variable(name)
    secret = spec.annotation is not None and "SecretStr" in str(spec.annotation)
    shown = var if secret else f"{var}={error.get('input')!r}"
    if error.get("type") == "value_error":  # our own validators: the message says the fix already
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        return f"{shown} {message}"
    what = _WHAT.get(str(error.get("type")), str(error.get("msg", "is not valid")).lower())
    return f"{shown} {what}: set it to {expected(spec)}, or unset it (default {_default(spec)})"


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) of every setting, in declaration order (`snowbot run --help`)."""
    rows = []
    for name, spec in Settings.model_fields.items():
        default = _default(spec)
        rows.append((variable(name), "" if default == "unset" else default, spec.description or ""))
    return rows
