"""The instance URL names a public ServiceNow host (issue 9 item 9), and what a non-ServiceNow host says
is never echoed; the 401 message names ServiceNow's basic auth restriction (item 10)."""

from __future__ import annotations

import httpx
import pytest

from servicenow import ServiceNowClient, parse_credentials, validate_instance_url
from servicenow.config import check_resolved_host
from servicenow.errors import AuthenticationError, ConfigurationError, PermissionDeniedError, ServiceNowError

CREDENTIALS = parse_credentials("svc:pw")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://10.0.0.7", "a private address"),
        ("https://192.168.1.20:8443", "a private address"),
        ("https://[fd00::5]", "a private address"),
        ("https://127.0.0.1", "a loopback address"),
        ("https://localhost", "a loopback address"),
        ("https://[::1]", "a loopback address"),
        ("https://[::ffff:127.0.0.1]", "a loopback address"),
        ("https://169.254.169.254", "a link-local address"),
        ("https://[fe80::1]", "a link-local address"),
        ("https://0.0.0.0", "the unspecified address"),
        ("https://[::]", "the unspecified address"),
        ("https://100.64.0.1", "not publicly routed"),
    ],
)
def test_ip_literals_outside_public_ranges_are_refused(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        validate_instance_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://2130706433", "https://0x7f000001", "https://0177.0.0.1", "https://127.1", "https://a.0x10"],
)
def test_numeric_hosts_other_parsers_read_as_addresses_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="numeric host"):
        validate_instance_url(url, allow_insecure=True, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://dev-snowbot.serv\nice-now.com",
        "https://dev-snowbot.service-now.com\t:443",
        "https://dev-snowbot\r.service-now.com",
        "https://dev-snowbot.service-now.com\x00",
    ],
)
def test_control_characters_are_refused_not_dropped(url: str) -> None:
    # urlsplit() silently removes tabs and line breaks: "https://dev-snowbot.serv\nice-now.com" would
    # otherwise become a valid, different host
    with pytest.raises(ConfigurationError, match="control character"):
        validate_instance_url(url)


def test_the_insecure_loopback_mode_and_on_premises_mode_are_the_exceptions() -> None:
    assert validate_instance_url("https://127.0.0.1:8443", allow_insecure=True) == "https://127.0.0.1:8443"
    assert validate_instance_url("http://localhost:9", allow_insecure=True) == "http://localhost:9"
    assert validate_instance_url("https://10.0.0.7", allow_private=True) == "https://10.0.0.7"
    with pytest.raises(ConfigurationError, match="link-local"):
        validate_instance_url("https://169.254.169.254", allow_private=True, allow_insecure=True)
    with pytest.raises(ConfigurationError, match="loopback"):
        validate_instance_url("https://127.0.0.1", allow_private=True)


def resolver(*addresses: str):
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(addresses)

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("address", ["10.1.2.3", "127.0.0.1", "169.254.169.254", "::1", "0.0.0.0"])
async def test_a_name_resolving_to_a_non_public_address_is_refused(address: str) -> None:
    resolve = resolver("149.96.5.10", address)
    with pytest.raises(ConfigurationError, match=f"resolves to .*{address}"):
        await check_resolved_host("https://acme.service-now.com", resolve=resolve)
    assert resolve.asked == [("acme.service-now.com", 443)]


async def test_private_resolution_is_allowed_on_premises_and_public_always() -> None:
    await check_resolved_host("https://snow.corp.example", allow_private=True, resolve=resolver("10.1.2.3"))
    await check_resolved_host("https://acme.service-now.com", resolve=resolver("149.96.5.10"))
    with pytest.raises(ConfigurationError, match="SNOWBOT_ALLOW_PRIVATE_INSTANCE"):
        await check_resolved_host("https://snow.corp.example", resolve=resolver("10.1.2.3"))


async def test_an_unresolvable_name_is_left_to_the_connection_to_report() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    await check_resolved_host("https://nowhere.service-now.com", resolve=fails)


async def test_the_client_checks_the_resolved_address_before_connecting() -> None:
    sent: list[httpx.Request] = []
    mock = httpx.MockTransport(
        lambda request: sent.append(request) or httpx.Response(200, json={"result": []})
    )
    resolve = resolver("192.168.0.10")
    async with ServiceNowClient.connect(
        "https://rebound.example.com", CREDENTIALS, transport=mock, resolve=resolve, check_host=True
    ) as client:
        with pytest.raises(ConfigurationError, match="resolves to a private address"):
            await client.check_connection()
    assert sent == []  # nothing left for the private address

    public = resolver("149.96.5.10")
    async with ServiceNowClient.connect(
        "https://acme.service-now.com", CREDENTIALS, transport=mock, resolve=public, check_host=True
    ) as client:
        await client.check_connection()
        await client.check_connection()
    assert len(sent) == 2
    assert public.asked == [("acme.service-now.com", 443)]  # looked up once, then remembered


async def test_connect_checks_the_host_of_its_own_transport_through_the_injected_resolver() -> None:
    resolve = resolver("127.0.0.1")
    async with ServiceNowClient.connect(
        "https://acme.service-now.com", CREDENTIALS, resolve=resolve
    ) as client:
        with pytest.raises(ConfigurationError, match="loopback"):
            await client.check_connection()
    assert resolve.asked == [("acme.service-now.com", 443)]


async def test_the_check_does_not_block_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from servicenow.config import system_resolver

    calls: list[tuple[str, int]] = []

    async def fake_getaddrinfo(host, port, **kwargs):
        calls.append((host, port))
        return [(2, 1, 6, "", ("10.9.8.7", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    assert await system_resolver("acme.service-now.com", 443) == ["10.9.8.7"]
    assert calls == [("acme.service-now.com", 443)]


def _client(handler) -> ServiceNowClient:
    return ServiceNowClient.connect(
        "https://acme.service-now.com", CREDENTIALS, transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Access denied by corporate proxy: contact it-helpdesk@evil.example"},
        {"error": {"message": "Access denied by corporate proxy: contact it-helpdesk@evil.example"}},
        {"message": "Access denied by corporate proxy: contact it-helpdesk@evil.example"},
    ],
)
async def test_error_bodies_of_a_host_that_is_not_servicenow_are_never_echoed(body) -> None:
    async with _client(lambda request: httpx.Response(403, json=body)) as client:
        with pytest.raises(PermissionDeniedError) as caught:
            await client.get_incident("a" * 32)
    assert "evil.example" not in caught.value.message
    assert caught.value.detail is None
    assert "refused to read a record of incident" in caught.value.message

    async with _client(
        lambda request: httpx.Response(500, json=body, extensions={"reason_phrase": b"call evil.example"})
    ) as client:
        with pytest.raises(ServiceNowError) as caught:
            await client.get_incident("a" * 32)
    assert "evil.example" not in caught.value.message


async def test_the_401_message_names_the_basic_auth_restriction() -> None:
    body = {"error": {"message": "User is not authenticated", "detail": None}, "status": "failure"}
    async with _client(lambda request: httpx.Response(401, json=body)) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.check_connection()
    message = caught.value.message
    assert "User is not authenticated" in message
    assert "basic auth restriction" in message
    assert '"Web service access only"' in message and "MFA" in message
    assert "snc_basic_auth_api_access" in message
