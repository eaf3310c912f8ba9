"""The Qualytics client under the shared retry policy: a 5xx's Retry-After, and the policy it defaults to."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import SecretStr

from qualytics_api import QualyticsClient, QualyticsRetry, QualyticsUnavailableError

BASE = "https://acme.qualytics.io"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_a_503_with_retry_after_waits_that_long_then_gives_up_at_the_policy_attempts() -> None:
    sleeps = Sleeps()
    with respx.mock(base_url=f"{BASE}/api") as router:
        route = router.get("/users/me").mock(
            return_value=httpx.Response(503, headers={"Retry-After": "3"}, json={"detail": "maintenance"})
        )
        async with QualyticsClient.connect(BASE, SecretStr("t"), retry=QualyticsRetry(sleep=sleeps)) as q:
            with pytest.raises(QualyticsUnavailableError) as caught:
                await q.whoami()
    assert route.call_count == 3 and sleeps == [3.0, 3.0]
    assert caught.value.status_code == 503 and caught.value.retry_after == 3.0


async def test_a_client_without_a_policy_uses_qualytics_defaults() -> None:
    async with QualyticsClient.connect(BASE, SecretStr("t")) as q:
        assert q.retry == QualyticsRetry()
