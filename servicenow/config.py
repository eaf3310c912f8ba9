"""Checking what a person configures: the instance URL and the `username:password` credentials.

Both raise `ConfigurationError` with a message that says what to change. Neither ever echoes a password.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from servicenow.errors import ConfigurationError

_EXAMPLE = "https://<instance>.service-now.com"
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", re.IGNORECASE)


class Credentials(BaseModel):
    """Basic-auth credentials of the ServiceNow service account; the password never shows in a repr."""

    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr


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
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_host(host: str) -> bool:
    if _HOST.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_instance_url(url: str, *, allow_insecure: bool = False) -> str:
    """Return the instance URL as `https://<host>[:port]` (host lower-cased), or raise `ConfigurationError`.

    `http://` is accepted only with `allow_insecure=True` and only for a loopback host (a local emulator).
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"the ServiceNow instance URL is empty; set it to {_EXAMPLE}")
    url = url.strip()
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
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" if port is None else f"{scheme}://{netloc}:{port}"
