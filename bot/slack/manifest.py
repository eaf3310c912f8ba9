"""`snowbot manifest`: manifest.yml with `features.unfurl_domains` set to the hosts whose links snowbot
unfurls, so Slack sends `link_shared` for them (Slack's manifest schema: 1 to 5 unique lower-case
domains; a domain covers its subdomains).

Pure text work on the manifest as written (its comments kept): the list under `unfurl_domains:` is
replaced, nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_UNFURL_DOMAINS = 5
"""Slack's manifest schema (`app-manifests.v1.features.unfurl_domains`: maxItems 5)."""
DOMAIN = re.compile(r"(?![.\-])[-a-z0-9.]+[a-z0-9]")
"""The schema's pattern for one domain."""
_LIST = re.compile(r"^(?P<head>[ ]+unfurl_domains:[^\n]*\n)(?P<items>(?:[ ]+- [^\n]*\n)+)", re.M)


class ManifestError(ValueError):
    """The manifest cannot take these domains; `message` says what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def unfurl_domains(hosts: Sequence[str]) -> list[str]:
    """The hosts as Slack's unfurl domains: lower case, each once, in order; `ManifestError` beyond 5."""
    domains = list(dict.fromkeys(host.strip().lower() for host in hosts if host.strip()))
    bad = [domain for domain in domains if not DOMAIN.fullmatch(domain) or len(domain) > 255]
    if bad:
        raise ManifestError(
            f"{', '.join(bad)} cannot be an unfurl domain: give host names (acme.qualytics.io)"
        )
    if len(domains) > MAX_UNFURL_DOMAINS:
        raise ManifestError(
            f"{len(domains)} unfurl domains ({', '.join(domains)}), Slack takes at most {MAX_UNFURL_DOMAINS}: "
            "list a parent domain once in SNOWBOT_UNFURL_DOMAINS (service-now.com covers every instance)"
        )
    return domains


def with_unfurl_domains(manifest: str, hosts: Sequence[str]) -> str:
    """`manifest` with its `unfurl_domains` list replaced by `hosts` (unchanged when `hosts` is empty)."""
    domains = unfurl_domains(hosts)
    match = _LIST.search(manifest)
    if match is None:
        raise ManifestError("the manifest has no `unfurl_domains:` list under `features`")
    if not domains:
        return manifest
    indent = match.group("items")[: len(match.group("items")) - len(match.group("items").lstrip(" "))]
    items = "".join(f"{indent}- {domain}\n" for domain in domains)
    return manifest[: match.start("items")] + items + manifest[match.end("items") :]
