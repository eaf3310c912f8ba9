"""Instances: the ServiceNow integrations a person may choose between, by name (`/snow create 824
--instance dev-b`) or by id (the REST API's `integration_id`), and the names they are shown under when
there is more than one (the Slack forms' instance select, the anomaly card, `/snow tickets`).

An instance's name is its host without `.service-now.com` (`dev-b` for https://dev-b.service-now.com;
`127.0.0.1:8001` for a loopback emulator): instance URLs are unique, so names are too. Pure functions,
never a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.usecases.errors import IntegrationNotFound, InvalidInput, NotConnected
from storage.integrations import Integration

SERVICENOW_SUFFIX = ".service-now.com"


@dataclass(frozen=True)
class Instance:
    """A ServiceNow integration as a person chooses it."""

    id: int
    name: str
    instance_url: str
    is_default: bool


def instance_name(instance_url: str) -> str:
    """ "https://dev-b.service-now.com" -> "dev-b"; "http://127.0.0.1:8001" -> "127.0.0.1:8001"."""
    parts = urlsplit(instance_url)
    host = (parts.hostname or instance_url).lower()
    if host.endswith(SERVICENOW_SUFFIX) and host != SERVICENOW_SUFFIX[1:]:
        host = host[: -len(SERVICENOW_SUFFIX)]
    return f"{host}:{parts.port}" if parts.port else host


def usable(integration: Integration) -> bool:
    """Whether creates and searches may go to it: anything but a failed last check (an integration from
    the environment stays Unchecked until someone checks it)."""
    return integration.status != "Error"


def choosable(found: Sequence[Integration]) -> list[Instance]:
    """The instances a form offers: the usable ones and the default (always), the default first."""
    return [
        Instance(i.id, instance_name(i.instance_url), i.instance_url, i.is_default)
        for i in found
        if i.is_default or usable(i)
    ]


def names(found: Sequence[Integration]) -> dict[int, str]:
    """Each integration's name by id when there is more than one ({} otherwise: nothing to tell apart)."""
    return {i.id: instance_name(i.instance_url) for i in found} if len(found) > 1 else {}


def named(found: Sequence[Integration], wanted: str) -> Integration:
    """The integration called `wanted` (its name, host, URL or id, any case); `InvalidInput` listing the
    connected names otherwise."""
    text = wanted.strip().lower().rstrip("/")
    for integration in found:
        url = integration.instance_url.lower()
        keys = {instance_name(url), urlsplit(url).hostname or "", url, str(integration.id)}
        if text in keys:
            return integration
    known = ", ".join(instance.name for instance in choosable(found)) or "none"
    raise InvalidInput(
        f"There is no ServiceNow instance {wanted[:60]!r}; connected: {known}.", field="instance"
    )


def checked(integration: Integration | None, integration_id: int) -> Integration:
    """The integration chosen by id: `IntegrationNotFound` (404) when there is none, `NotConnected` (409)
    when its last connection check failed."""
    if integration is None:
        raise IntegrationNotFound(integration_id)
    if not usable(integration):
        reason = f": {integration.last_error}" if integration.last_error else ""
        raise NotConnected(
            f"Integration {integration_id} ({instance_name(integration.instance_url)}) is not connected: its last "
            f"check failed{reason}. Connect it again (POST /api/integrations/ticketing or /snow connect)."
        )
    return integration
