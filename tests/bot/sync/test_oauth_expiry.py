"""An OAuth access token that expires in the middle of a sync pass: every note still arrives, each once.

The engine's ServiceNow client logs in with the password grant; after a few Table API requests of the
pass the emulator expires every token (as an instance whose token lifespan ran out, or that was
restarted, does). The requests that then meet a 401 are sent again with a fresh token; a PATCH refused
with 401 was never applied, so sending it again cannot double a note.
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from sqlite_utils import Database

from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import ServiceNowEmulator
from emulators.servicenow_oauth import OAuthClient
from servicenow import Credentials, RetryPolicy, ServiceNowClient
from storage import sync

from .conftest import INSTANCE_URL, no_sleep, notes_of

LINKS = 12


class ExpireAfter(httpx.AsyncBaseTransport):
    """Passes requests on; once `after` Table API answers went by, every token of the instance expires."""

    def __init__(self, sn: ServiceNowEmulator, after: int) -> None:
        self.sn, self.inner, self.left = sn, sn.transport(), after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.startswith("/api/now/table/"):
            self.left -= 1
            if self.left == 0:
                self.sn.oauth.expire_all()
        return response


async def test_a_token_expiring_mid_pass_loses_and_duplicates_no_note(
    db: Database, qe: QualyticsEmulator, sn: ServiceNowEmulator, make_engine, link_anomaly
) -> None:
    sn.oauth.clients["snowbot"] = OAuthClient("snowbot", "client-secret")
    linked = [link_anomaly() for _ in range(LINKS)]
    for one in linked:
        qe.set_status(one.anomaly_id, "Acknowledged")
        qe.add_comment(one.anomaly_id, f"looking at {one.anomaly_id}")
    credentials = Credentials(
        username="admin",
        password=SecretStr("admin"),
        auth="oauth_password",
        client_id="snowbot",
        client_secret=SecretStr("client-secret"),
    )
    client = ServiceNowClient.connect(
        INSTANCE_URL,
        credentials,
        transport=ExpireAfter(sn, after=5),
        retry=RetryPolicy(sleep=no_sleep, jitter=lambda: 0.0),
    )
    async with client:
        report = await make_engine(servicenow=client).run_pass()

    assert report.notes_sent == 2 * LINKS
    refused = [r for r in sn.requests if r.status == 401]
    assert refused and all(r.path.startswith("/api/now/table/") for r in refused)  # the expiry did bite
    assert sn.oauth.token_requests == ["password", "refresh_token"]  # one new token for all the workers
    for one in linked:
        notes = notes_of(sn, one.sys_id)
        assert len(notes) == 2, notes
        assert {item.marker for item in sync.items(db, one.link.id)} == {
            note.rsplit("ref ", 1)[1].rstrip(")") for note in notes
        }
        assert all(item.state == "done" for item in sync.items(db, one.link.id))
