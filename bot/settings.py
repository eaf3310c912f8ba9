"""The one place snowbot reads its configuration (environment variables and an optional `.env`).

Everything else receives a `Settings` instance (or the values it needs) as an argument.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")

    # ServiceNow
    servicenow_instance_url: str | None = Field(default=None, validation_alias="SERVICENOW_INSTANCE_URL")
    servicenow_credentials: SecretStr | None = Field(default=None, validation_alias="SERVICENOW_CREDENTIALS")
    allow_insecure_instance: bool = Field(default=False, validation_alias="SNOWBOT_ALLOW_INSECURE_INSTANCE")
    allow_private_instance: bool = Field(default=False, validation_alias="SNOWBOT_ALLOW_PRIVATE_INSTANCE")
    """An on-premises instance: its URL may be (or resolve to) a private address (servicenow/config.py)."""

    # Qualytics
    qualytics_url: str | None = Field(default=None, validation_alias="QUALYTICS_URL")
    qualytics_token: SecretStr | None = Field(default=None, validation_alias="QUALYTICS_TOKEN")

    # snowbot itself
    db_path: Path = Field(default=Path("snowbot.db"), validation_alias="SNOWBOT_DB")
    secret_key: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_SECRET_KEY")
    api_token: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_API_TOKEN")
    sync_interval: int = Field(default=60, ge=1, validation_alias="SNOWBOT_SYNC_INTERVAL")
    host: str = Field(default="127.0.0.1", validation_alias="SNOWBOT_HOST")
    port: int = Field(default=3000, ge=0, le=65535, validation_alias="SNOWBOT_PORT")
    admins: str = Field(default="", validation_alias="SNOWBOT_ADMINS")
    """Comma-separated Slack user ids allowed to connect ServiceNow besides workspace admins."""
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="SNOWBOT_WEBHOOK_SECRET")
    close_code: str | None = Field(default=None, validation_alias="SNOWBOT_CLOSE_CODE")
    """Resolution code used when an archived anomaly resolves its incidents (default: read from the instance)."""
    sync_concurrency: int = Field(default=16, ge=1, le=256, validation_alias="SNOWBOT_SYNC_CONCURRENCY")
    http_timeout: float = Field(default=10.0, gt=0, validation_alias="SNOWBOT_HTTP_TIMEOUT")
    shutdown_timeout: float = Field(default=20.0, gt=0, validation_alias="SNOWBOT_SHUTDOWN_TIMEOUT")
    """Seconds `snowbot run` may take to stop on SIGTERM; work still running then is cancelled (logged)."""

    @field_validator("qualytics_url", "slack_api_url", "servicenow_instance_url")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admins.split(",") if part.strip())

    @property
    def servicenow_credentials_value(self) -> str | None:
        """The clear `username:password`, computed on each use so it never sits in the instance's dict."""
        return self.servicenow_credentials.get_secret_value() if self.servicenow_credentials else None


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; keyword overrides win (tests, the demo)."""
    return Settings(**overrides)  # type: ignore[arg-type]
