"""ServiceNow's own Python client (pysnc, over requests) against the emulator on a real loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pysnc
import pytest
from pysnc.exceptions import AuthenticationException, InsertException, RoleException
from requests.adapters import HTTPAdapter

from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator


class PlainHttpAdapter(HTTPAdapter):
    """pysnc only accepts https:// instance URLs (`pysnc.utils.get_instance`); the loopback port is http."""

    def send(self, request, *args, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, *args, **kwargs)


def connect(base_url: str, auth: tuple[str, str] = ("admin", "admin")) -> pysnc.ServiceNowClient:
    instance = base_url.replace("http://", "https://", 1)
    client = pysnc.ServiceNowClient(instance, auth)
    client.session.mount(instance, PlainHttpAdapter())  # replaces pysnc's retrying adapter for this prefix
    return client


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServiceNowEmulator, str]]:
    emulator = ServiceNowEmulator()
    emulator.add_user("viewer", "viewer-pw", [])
    with serve_in_thread(emulator.app) as base_url:
        emulator.base_url = base_url
        yield emulator, base_url


def test_insert_query_update_and_read_back(served: tuple[ServiceNowEmulator, str]) -> None:
    emulator, base_url = served
    client = connect(base_url)

    new = client.GlideRecord("incident")
    new.initialize()
    new.short_description = "Anomaly 42 on orders_daily"
    new.impact = "2"
    new.urgency = "2"
    new.correlation_id = "qualytics-anomaly-42"
    sys_id = new.insert()
    assert sys_id is not None
    assert new.get_value("number").startswith("INC001")
    assert new.get_value("priority") == "3"
    assert new.get_display_value("state") == "New"

    found = client.GlideRecord("incident")
    found.add_encoded_query("correlation_id=qualytics-anomaly-42^active=true")
    found.query()
    assert len(found) == 1
    assert found.next()
    found.urgency = "1"
    found.work_notes = "Linked from Slack"
    found.update()

    again = client.GlideRecord("incident")
    assert again.get(str(sys_id))
    assert again.get_value("priority") == "2"
    assert again.get_display_value("priority") == "2 - High"
    assert "Linked from Slack" in again.get_display_value("work_notes")
    assert [e["value"] for e in emulator.journal(str(sys_id))] == ["Linked from Slack"]


def test_pysnc_pages_through_x_total_count(served: tuple[ServiceNowEmulator, str]) -> None:
    _, base_url = served
    records = connect(base_url).GlideRecord("incident", batch_size=2)
    records.add_encoded_query("numberSTARTSWITHINC000000")
    records.query()
    seen = []
    while records.next():
        seen.append(records.get_value("number"))
    assert sorted(seen) == [f"INC{i:07d}" for i in range(1, 7)]  # pysnc orders by sys_id
    assert len(records) == 6


def test_pysnc_sees_missing_records_and_auth_errors(served: tuple[ServiceNowEmulator, str]) -> None:
    _, base_url = served
    assert not connect(base_url).GlideRecord("incident").get("0" * 32)
    with pytest.raises(AuthenticationException):
        connect(base_url, ("admin", "wrong")).GlideRecord("incident").query()
    viewer = connect(base_url, ("viewer", "viewer-pw")).GlideRecord("incident")
    viewer.initialize()
    viewer.short_description = "not allowed"
    with pytest.raises((RoleException, InsertException)):
        viewer.insert()
