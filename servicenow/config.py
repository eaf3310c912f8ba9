"""Checking what a person configures: the instance URL and the `username:password` credentials.

Both raise `ConfigurationError` with a message that says what to change. Neither ever echoes a password.

The instance URL must name a public host: an IP literal in a private, loopback, link-local or unspecified
range, a numeric host another parser reads as an address (`2130706433`, `0x7f000001`, `0177.0.0.1`,
`127.1`) and control characters anywhere in the text are refused (a newline would otherwise be dropped
silently by the URL parser). Loopback is allowed only in the insecure mode used for local emulators;
private addresses only when the instance is on-premises (`allow_private`, SNOWBOT_ALLOW_PRIVATE_INSTANCE).
`check_resolved_host` applies the same rule to the addresses a host name resolves to, without blocking the
event loop (`loop.getaddrinfo`, or an injected resolver).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from servicenow.errors import ConfigurationError

_EXAMPLE = "https://<instance>.service-now.com"
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", re.IGNORECASE)
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)
"""A last label that the WHATWG URL parser (browsers, curl's and many libraries' resolvers) takes as an
IPv4 number: `2130706433`, `0x7f000001`, `127.1`, `0177.0.0.1` all mean 127.0.0.1."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PRIVATE_HINT = "set SNOWBOT_ALLOW_PRIVATE_INSTANCE=true for an on-premises instance"

_NAME = f"use the instance's name ({_EXAMPLE})"
_HINTS = {
    "a private address": PRIVATE_HINT,
    "a loopback address": "a local emulator needs allow_insecure (SNOWBOT_ALLOW_INSECURE_INSTANCE=true)",
}

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the IP addresses it resolves to; `system_resolver` by default, injected in tests."""


class Credentials(BaseModel):
    """How to log in to ServiceNow: the service account (Basic, or the OAuth password grant) and, for OAuth,
    the OAuth application's client id and secret (`servicenow.auth`). Secrets never show in a repr."""

    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr
    auth: Literal["basic", "oauth_password", "oauth_client_credentials"] = "basic"
    client_id: str | None = None
    client_secret: SecretStr | None = None


def parse_credentials(text: str | SecretStr) -> Credentials:
    """Split `username:password` on the first colon (the password may contain colons)."""
    raw = text.get_secret_value() if isinstance(text, SecretStr) else text
    fmt = "ServiceNow credentials must be written `username:password`"
    if ":" not in raw:
        raise ConfigurationError(f"{fmt}; there is no colon between the user name and the password")
    username, password = raw.split(":", 1)
    if not username.strip():
        raise ConfigurationError(f"{fmt}; the user name before the colon is empty")
    if username != username.strip() or any(ch in username for ch in "\r\n"):
        raise ConfigurationError(f"{fmt}; remove the spaces or line breaks around the user name")
    if not password:
        raise ConfigurationError(f"{fmt}; the password after the colon is empty")
    if "\n" in password or "\r" in password:
        raise ConfigurationError(f"{fmt}; the password ends in or contains a line break: remove it")
    return Credentials(username=username, password=SecretStr(password))


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # a zone id (fe80::1%eth0) is not the address
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_refusal(text: str, *, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """Why this IP address may not be an instance's (None: it may): loopback, link-local, unspecified,
    private, or any other range that is not globally reachable."""
    address = _address(text)
    if address is None:
        return None
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return None if allow_private else "a private address"
    if not address.is_global:
        return "an address that is not publicly routed"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, through the event loop's resolver (a thread pool: the loop never blocks)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_resolved_host(
    instance_url: str,
    *,
    allow_insecure: bool = False,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
) -> None:
    """Refuse (`ConfigurationError`) an instance whose host name resolves to an address
    `address_refusal` refuses. An IP literal was checked by `validate_instance_url`; a name that does not
    resolve is left to the connection attempt, which reports it in its own words."""
    parts = urlsplit(instance_url)
    host = (parts.hostname or "").lower()
    if not host or _address(host) is not None or (allow_insecure and _is_loopback(host)):
        return
    try:
        addresses = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        return
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason:
            advice = f"; {PRIVATE_HINT}" if reason == "a private address" else ""
            raise ConfigurationError(
                f"the ServiceNow instance host {host} resolves to {reason} ({address}), which snowbot does not "
                f"connect to{advice}"
            )


def _is_host(host: str) -> bool:
    if _HOST.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_instance_url(url: str, *, allow_insecure: bool = False, allow_private: bool = False) -> str:
    """Return the instance URL as `https://<host>[:port]` (host lower-cased), or raise `ConfigurationError`.

    `http://` is accepted only with `allow_insecure=True` and only for a loopback host (a local emulator);
    a loopback host needs `allow_insecure` with https too, a private IP literal `allow_private`.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"the ServiceNow instance URL is empty; set it to {_EXAMPLE}")
    url = url.strip()
    if _CONTROL.search(url):  # urlsplit silently drops tabs and line breaks: check the text as given
        raise ConfigurationError(
            "the ServiceNow instance URL contains a line break, tab or other control character: remove it "
            f"({_EXAMPLE})"
        )
    if "://" not in url:
        raise ConfigurationError(f"the ServiceNow instance URL must start with https:// ({_EXAMPLE})")
    if "@" in url:  # user info: never echo the URL, it may hold a password
        raise ConfigurationError(
            "remove the user name and password (up to '@') from the ServiceNow instance URL; "
            "give them as credentials (`username:password`) instead"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError(
            f"the ServiceNow instance URL {url!r} is malformed (check the brackets and the port); use {_EXAMPLE}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        raise ConfigurationError(
            f"use https:// for the ServiceNow instance URL, not {scheme}:// ({_EXAMPLE})"
        )
    if "?" in url:
        raise ConfigurationError(
            f"remove the query string (from '?') from the ServiceNow instance URL {url!r}"
        )
    if "#" in url:
        raise ConfigurationError(f"remove the fragment (from '#') from the ServiceNow instance URL {url!r}")
    if parts.path == "/":
        raise ConfigurationError(f"remove the trailing slash from the ServiceNow instance URL {url!r}")
    if parts.path:
        raise ConfigurationError(
            f"remove the path {parts.path!r} from the ServiceNow instance URL; it must be just {_EXAMPLE}"
        )
    host = (parts.hostname or "").lower()
    if not host or not _is_host(host):
        raise ConfigurationError(f"the ServiceNow instance URL {url!r} has no valid host name ({_EXAMPLE})")
    if scheme == "http":
        if not _is_loopback(host):
            raise ConfigurationError(
                f"use https:// for the ServiceNow instance URL {url!r}; http:// is not secure"
            )
        if not allow_insecure:
            raise ConfigurationError(
                f"use https:// for the ServiceNow instance URL {url!r}; http:// to a local emulator needs "
                "allow_insecure (SNOWBOT_ALLOW_INSECURE_INSTANCE=true)"
            )
    if _address(host) is None and _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        raise ConfigurationError(
            f"the ServiceNow instance URL {url!r} has a numeric host that is not a plain IP address (other "
            f"programs read it as one); use the instance's name ({_EXAMPLE})"
        )
    reason = address_refusal(host, allow_loopback=allow_insecure, allow_private=allow_private)
    if reason is None and _is_loopback(host) and not allow_insecure:
        reason = "a loopback address"
    if reason:
        raise ConfigurationError(
            f"the ServiceNow instance URL {url!r} points at {reason}; {_HINTS.get(reason, _NAME)}"
        )
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" if port is None else f"{scheme}://{netloc}:{port}"
