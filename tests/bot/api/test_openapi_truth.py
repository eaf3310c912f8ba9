"""The OpenAPI document tells the truth: every status a route answers is in its `responses`, its patterns
are what the API accepts, and each field has one form in every response (timestamps UTC with `Z`)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.api.routes import get_snowbot
from bot.app import build_app
from bot.models import CREDENTIALS_PATTERN, INSTANCE_URL_PATTERN, UTC_PATTERN
from bot.settings import Settings
from bot.usecases import Snowbot
from servicenow.config import parse_credentials
from servicenow.errors import ConfigurationError
from tests.conftest import API_TOKEN

CREATE = "/api/integrations/ticketing/anomalies/824/tickets"
SEARCH = "/api/integrations/ticketing/tickets/search"

BODIES: dict[str, Any] = {
    "/api/integrations/ticketing/anomalies/{anomaly_id}/tickets": {"title": "Orders out of range"},
    "/api/anomalies/{anomaly_id}/ticket-links": {"ticket_id": "INC0000001"},
    "/api/integrations/ticketing": {
        "instance_url": "https://dev-snowbot.service-now.com",
        "credentials": "admin:admin",
    },
    "/api/rules": {"name": "Severe", "template": {"short_description": "Anomaly {id}"}},
    "/api/rules/{rule_id}": {"enabled": False},
}
"""A valid body of each operation that takes one."""
PATCH_BODIES: dict[str, Any] = {"/api/integrations/ticketing/{integration_id}": {"sync_back": "comment"}}
"""The same for the PATCH operations (their paths take no POST)."""


def body_of(path: str) -> Any:
    return BODIES.get(path) or PATCH_BODIES.get(path)


@pytest.fixture
async def app(snowbot: Snowbot, settings: Settings) -> Any:
    return build_app(settings, snowbot=snowbot)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


def operations(app: Any) -> Iterator[tuple[str, str, set[int]]]:
    """(method, path template, documented statuses) of every operation in the OpenAPI document."""
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, {int(code) for code in operation["responses"]}


def concrete(path: str, **values: object) -> str:
    defaults = {
        "anomaly_id": 824,
        "ticket_id": "INC0000001",
        "link_id": 1,
        "integration_id": 1,
        "rule_id": 1,
        **values,
    }
    return re.sub(r"{(\w+)}", lambda m: str(defaults[m.group(1)]), path)


def variants(method: str, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Requests a hostile caller sends to an operation: (name, httpx keyword arguments)."""
    token = {"Authorization": f"Bearer {API_TOKEN}"}
    body = body_of(path)
    yield "no token", {"url": concrete(path)}
    yield "wrong token", {"url": concrete(path), "headers": {"Authorization": "Bearer nope"}}
    yield "valid", {"url": concrete(path), "headers": token, "json": body}
    yield (
        "unknown ids",
        {
            "url": concrete(
                path, anomaly_id=99999, ticket_id="INC9999999", link_id=999, integration_id=999, rule_id=999
            ),
            "headers": token,
            "json": body,
        },
    )
    yield (
        "bad ids",
        {
            "url": concrete(path, anomaly_id=0, ticket_id="x^y", link_id=-1, integration_id=0, rule_id=0),
            "headers": token,
            "json": body,
        },
    )
    if body is None:
        return
    json_type = {**token, "Content-Type": "application/json"}
    yield "not UTF-8", {"url": concrete(path), "headers": json_type, "content": b'{"title": "\xff\xfe"}'}
    yield "nested", {"url": concrete(path), "headers": json_type, "content": b"[" * 50_000 + b"]" * 50_000}
    yield "not JSON", {"url": concrete(path), "headers": json_type, "content": b"{nope"}
    yield "a list", {"url": concrete(path), "headers": json_type, "content": b"[]"}
    yield "empty", {"url": concrete(path), "headers": json_type, "content": b""}
    yield (
        "text/plain",
        {
            "url": concrete(path),
            "headers": {**token, "Content-Type": "text/plain"},
            "content": json.dumps(body).encode(),
        },
    )
    yield (
        "too large",
        {"url": concrete(path), "headers": json_type, "content": b" " * 70_000 + json.dumps(body).encode()},
    )
    yield "extra field", {"url": concrete(path), "headers": token, "json": {**body, "extra": 1}}


async def test_every_status_a_route_answers_is_documented(
    app: Any,
    client: httpx.AsyncClient,
    make_settings: Callable[..., Settings],
    make_snowbot: Callable[..., Snowbot],
) -> None:
    answered: dict[tuple[str, str], set[int]] = {}
    for method, path, documented in operations(app):
        seen = answered.setdefault((method, path), set())
        for name, request in variants(method, path):
            response = await client.request(method, **request)
            seen.add(response.status_code)
            assert response.status_code in documented, (
                method,
                path,
                name,
                response.status_code,
                response.text,
            )

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("broken")

    app.dependency_overrides[get_snowbot] = lambda: Broken()
    unset = make_settings(api_token=None)
    app_without_token = build_app(unset, snowbot=make_snowbot(unset))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_without_token), base_url="http://t"
    ) as other:
        for method, path, documented in operations(app):
            if not path.startswith("/api/"):
                continue
            request = {
                "url": concrete(path),
                "headers": {"Authorization": f"Bearer {API_TOKEN}"},
                "json": body_of(path),
            }
            for name, reply in (
                ("internal error", await client.request(method, **request)),
                ("token unset", await other.request(method, **request)),
            ):
                answered[(method, path)].add(reply.status_code)
                assert reply.status_code in documented, (method, path, name, reply.status_code, reply.text)
    assert {500, 503} <= set.union(*answered.values())  # both were really answered
    assert 413 in answered[("POST", "/api/integrations/ticketing")]


@pytest.mark.parametrize("path", sorted(BODIES))
async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(client: httpx.AsyncClient, path: str) -> None:
    method = "PATCH" if path.endswith("{rule_id}") else "POST"  # the one operation there that takes a body
    response = await client.request(
        method,
        concrete(path),
        content=b'{"title": "caf\xe9"}',  # Latin-1
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body"] and "UTF-8" in issue["msg"]


def accepted(credentials: str) -> bool:
    try:
        parse_credentials(credentials)
    except ConfigurationError:
        return False
    return True


@given(
    st.text(alphabet=st.sampled_from("ab: \t\r\n\u00a0é"), max_size=8)
    | st.from_regex(CREDENTIALS_PATTERN, fullmatch=True)
)
@hypothesis_settings(max_examples=400, deadline=None, database=None, derandomize=True)
def test_the_credentials_pattern_is_what_connect_accepts(credentials: str) -> None:
    # fullmatch: JSON Schema patterns are ECMA-262, whose `$` never matches before a final line break
    assert bool(re.fullmatch(CREDENTIALS_PATTERN, credentials)) == accepted(credentials), repr(credentials)


async def test_the_schema_declares_the_patterns_the_api_enforces(app: Any, client: httpx.AsyncClient) -> None:
    schema = app.openapi()["components"]["schemas"]["ConnectRequest"]["properties"]
    assert schema["credentials"]["pattern"] == CREDENTIALS_PATTERN
    assert schema["instance_url"]["pattern"] == INSTANCE_URL_PATTERN

    response = await client.post(
        "/api/integrations/ticketing",
        json={"instance_url": "https://dev-snowbot.service-now.com", "credentials": "no-colon-here"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 422
    assert [issue["loc"] for issue in response.json()["detail"]] == [["body", "credentials"]]
    assert "no-colon-here" not in response.text


def timestamps(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at") and item is not None:
                yield item
            yield from timestamps(item)
    elif isinstance(value, list):
        for item in value:
            yield from timestamps(item)


async def the_same_incident_everywhere(client: httpx.AsyncClient) -> list[Any]:
    """One incident as the create answer, the get answer and a search hit, then its links and integrations."""
    token = {"Authorization": f"Bearer {API_TOKEN}"}
    body = {"title": "One form everywhere", "urgency": "2", "impact": "2"}
    created = (await client.post(CREATE, json=body, headers=token)).json()
    number = created["ticket"]["ticket_number"]
    fetched = (await client.get(f"/api/integrations/ticketing/tickets/{number}", headers=token)).json()
    [hit] = (await client.get(SEARCH, params={"query": number}, headers=token)).json()["items"]
    links = (await client.get("/api/anomalies/824/ticket-links", headers=token)).json()
    integrations = (await client.get("/api/integrations/ticketing", headers=token)).json()
    return [created, fetched, hit, links, integrations]


async def test_every_timestamp_is_utc_with_z_in_answers_and_in_the_schema(
    app: Any, client: httpx.AsyncClient
) -> None:
    answers = await the_same_incident_everywhere(client)

    stamps = [s for answer in answers for s in timestamps(answer)]
    assert len(stamps) >= 8 and all(re.fullmatch(UTC_PATTERN, s) for s in stamps), stamps
    date_times = [
        option
        for model in app.openapi()["components"]["schemas"].values()
        for prop in model.get("properties", {}).values()
        for option in [prop, *prop.get("anyOf", [])]
        if option.get("format") == "date-time"
    ]
    assert date_times and all(p["pattern"] == UTC_PATTERN for p in date_times)


async def test_a_ticket_and_its_search_hit_show_each_field_in_one_form(client: httpx.AsyncClient) -> None:
    created, fetched, hit, *_ = await the_same_incident_everywhere(client)
    ticket = created["ticket"]

    assert ticket["priority"] == fetched["priority"] == hit["priority"] == "3"  # impact 2 x urgency 2
    for field in ("ticket_id", "ticket_number", "title", "status", "created_at", "assigned_to", "url"):
        assert ticket[field] == fetched[field] == hit[field], field
