"""Choosing a ServiceNow instance: names from instance URLs, by name or id, and which ones a form offers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.usecases import IntegrationNotFound, InvalidInput, NotConnected
from bot.usecases.instances import checked, choosable, instance_name, named, names
from storage.integrations import Integration


def integration(id: int, url: str, *, default: bool = False, status: str = "Connected") -> Integration:
    return Integration(
        id=id,
        name="ServiceNow",
        instance_url=url,
        auth_type="basic",
        username="svc",
        status=status,  # type: ignore[arg-type]
        last_error="401" if status == "Error" else None,
        last_checked_at=None,
        is_default=default,
        source="user",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://dev-b.service-now.com", "dev-b"),
        ("https://ACME.service-now.com/", "acme"),
        ("http://127.0.0.1:8001", "127.0.0.1:8001"),
        ("https://snow.example.com", "snow.example.com"),
    ],
)
def test_instance_names(url: str, name: str) -> None:
    assert instance_name(url) == name


def test_by_name_host_url_or_id_and_an_unknown_name_lists_the_connected_ones() -> None:
    found = [
        integration(2, "https://dev-b.service-now.com", default=True),
        integration(1, "http://127.0.0.1:8001"),
        integration(3, "https://broken.service-now.com", status="Error"),
    ]
    assert [
        named(found, key).id
        for key in ("DEV-B", "127.0.0.1:8001", "127.0.0.1", "http://127.0.0.1:8001/", "3")
    ] == [
        2,
        1,
        1,
        1,
        3,
    ]
    with pytest.raises(
        InvalidInput, match=r"no ServiceNow instance 'nope'; connected: dev-b, 127.0.0.1:8001\.$"
    ):
        named(found, "nope")
    assert [i.name for i in choosable(found)] == ["dev-b", "127.0.0.1:8001"]  # a failing one is not offered
    assert names(found[:1]) == {} and names(found)[1] == "127.0.0.1:8001"
    with pytest.raises(IntegrationNotFound):
        checked(None, 9)
    with pytest.raises(
        NotConnected, match=r"Integration 3 \(broken\) is not connected: its last check failed: 401"
    ):
        checked(found[2], 3)
