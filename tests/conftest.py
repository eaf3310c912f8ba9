"""Fixtures shared by the whole suite: the emulators, settings, a wired `Snowbot` and an API client.

Everything runs in-process: the bot reaches the ServiceNow and Qualytics emulators through their
`.transport()`, and the API client reaches the app through `httpx.ASGITransport`. Retries never sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_app
from bot.composition import Outside, build_snowbot
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from qualytics_api import QualyticsRetry
from servicenow import RetryPolicy
from tests.backends import BACKENDS, report_header

INSTANCE_URL = "https://dev-snowbot.service-now.com"
QUALYTICS_URL = "https://demo.qualytics.io"
QUALYTICS_TOKEN = "demo-token"
API_TOKEN = "test-api-token-0123456789"
SECRET_KEY = "c25vd2JvdC10ZXN0cy1maXhlZC1mZXJuZXQta2V5ISE="  # a Fernet key: no passphrase stretching per test


async def no_sleep(_seconds: float) -> None:
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Says at the end (also under -q) where the PostgreSQL tests ran, or why they were skipped."""
    terminalreporter.write_line(report_header())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql" (tests/backends.py): the storage and sync suites' `db` runs on each; a
    test pins one with `@pytest.mark.parametrize("backend", ["sqlite"])`."""
    return str(request.param)


@pytest.fixture
def sn_emulator() -> ServiceNowEmulator:
    return ServiceNowEmulator(base_url=INSTANCE_URL)


@pytest.fixture
def q_emulator() -> QualyticsEmulator:
    return QualyticsEmulator(base_url=QUALYTICS_URL, token=QUALYTICS_TOKEN)


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    """The values `settings` is built from; a test may change them before asking for `settings`."""
    return {
        "db_path": tmp_path / "snowbot.db",
        "secret_key": SECRET_KEY,
        "api_token": API_TOKEN,
        "servicenow_instance_url": INSTANCE_URL,
        "servicenow_credentials": "admin:admin",
        "qualytics_url": QUALYTICS_URL,
        "qualytics_token": QUALYTICS_TOKEN,
        "http_timeout": 5.0,
    }


@pytest.fixture
def make_settings(settings_overrides: dict[str, object]) -> Callable[..., Settings]:
    """`make_settings(api_token=None, ...)`: settings from the defaults plus overrides (no .env file)."""

    def make(**overrides: object) -> Settings:
        return Settings(_env_file=None, **{**settings_overrides, **overrides})  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def outside(sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator) -> Outside:
    """The emulators in-process, with retries that never sleep (`bot.composition.compose(outside=...)`)."""
    return Outside(
        servicenow_transport=sn_emulator.transport(),
        qualytics_transport=q_emulator.transport(),
        servicenow_retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
        qualytics_retry=QualyticsRetry(sleep=no_sleep),
    )


@pytest.fixture
async def make_snowbot(outside: Outside) -> AsyncIterator[Callable[..., Snowbot]]:
    """`make_snowbot(settings, servicenow_transport=...)`: a bot wired to the emulators in-process (or to the
    transports given, e.g. one that loses answers; `announcer=` and `anomaly_changed=` go to
    `build_snowbot`); every bot built is closed after the test."""
    built: list[Snowbot] = []

    def make(
        settings: Settings,
        *,
        servicenow_transport: httpx.AsyncBaseTransport | None = None,
        qualytics_transport: httpx.AsyncBaseTransport | None = None,
        **hooks: Any,
    ) -> Snowbot:
        bot = build_snowbot(
            settings,
            servicenow_transport=servicenow_transport or outside.servicenow_transport,
            qualytics_transport=qualytics_transport or outside.qualytics_transport,
            servicenow_retry=outside.servicenow_retry,
            qualytics_retry=outside.qualytics_retry,
            **hooks,
        )
        built.append(bot)
        return bot

    yield make
    for bot in built:
        await bot.aclose()
        bot.db.close()


@pytest.fixture
async def snowbot(make_snowbot: Callable[..., Snowbot], settings: Settings) -> Snowbot:
    return make_snowbot(settings)


@pytest.fixture
def frozen_now() -> datetime:
    return datetime(2026, 1, 23, 19, 51, 23, tzinfo=UTC)


@pytest.fixture
async def api_client(snowbot: Snowbot, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, snowbot=snowbot)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://snowbot.test",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as client:
        yield client
