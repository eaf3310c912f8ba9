from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import respx

from servicenow import Credentials, RetryPolicy, ServiceNowClient, parse_credentials
from tests.servicenow.samples import INSTANCE, PASSWORD, USERNAME, SleepRecorder


@pytest.fixture
def credentials() -> Credentials:
    return parse_credentials(f"{USERNAME}:{PASSWORD}")


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def policy(sleeps: SleepRecorder) -> RetryPolicy:
    """Four attempts; jitter pinned to 1 so delays are exactly the backoff caps 0.2, 0.4, 0.8."""
    return RetryPolicy(sleep=sleeps, jitter=lambda: 1.0)


async def public_address(host: str, port: int) -> list[str]:
    """The resolver of the mocked instance: a public address, and no DNS in tests."""
    return ["149.96.5.10"]


@pytest.fixture
def router() -> respx.MockRouter:
    with respx.mock(base_url=INSTANCE, assert_all_called=True) as mock:
        yield mock


@pytest.fixture
async def make_client(
    router: respx.MockRouter, credentials: Credentials, policy: RetryPolicy
) -> AsyncIterator[Callable[..., ServiceNowClient]]:
    """Builds clients on the mocked instance (retry defaults to `policy`) and closes them afterwards."""
    made: list[ServiceNowClient] = []

    def make(retry: RetryPolicy | None = None) -> ServiceNowClient:
        made.append(
            ServiceNowClient.connect(INSTANCE, credentials, retry=retry or policy, resolve=public_address)
        )
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., ServiceNowClient]) -> ServiceNowClient:
    return make_client()
