"""Link previews for Slack's unfurls: which links name a Qualytics anomaly or a ServiceNow ticket, and what
their preview shows (the anomaly's status and its tickets with their states; the ticket's number, state,
assignee and linked anomalies).

The link forms (`parse_link`, pure):

- Qualytics, on QUALYTICS_URL's host: `/datastores/<d>/anomalies?id=<id>` and `/anomalies/<id>`;
- ServiceNow, on a connected integration's instance host: `/nav_to.do?uri=<table>.do?sys_id=<sys_id>` (the
  `uri` URL-encoded or not) and `/<table>.do?sys_id=<sys_id>`, for the tables of `servicenow.kinds.KINDS`.

A link that cannot be previewed (another host or table, an anomaly or a ticket snowbot cannot read: a 404,
a 403, an outage) gets no preview and is only logged: nothing is said in the channel. Knows nothing of
Slack: `bot.slack.handlers.unfurl` turns previews into `chat.unfurl`'s cards.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.settings import Settings
from bot.usecases.anomalies import Anomalies
from bot.usecases.base import Storage
from bot.usecases.connections import Connections
from bot.usecases.errors import UseCaseError
from qualytics_api import Anomaly, QualyticsError
from qualytics_api.models import instance_url
from servicenow import Incident
from servicenow.errors import ServiceNowError
from servicenow.kinds import KINDS, TicketKind
from storage import links
from storage.integrations import Integration
from storage.links import Link

log = logging.getLogger(__name__)

MAX_LINKS = 10
"""Previews per message at most (Slack sends every matching link of the message in one event)."""
_SYS_ID = re.compile(r"[0-9a-f]{32}", re.IGNORECASE)
_ANOMALY_PATH = re.compile(r"/anomalies/(\d{1,12})/?$", re.ASCII)
_TABLE = re.compile(r"/?([a-z0-9_]{1,80})\.do", re.ASCII)


@dataclass(frozen=True)
class AnomalyLink:
    anomaly_id: int


@dataclass(frozen=True)
class TicketLink:
    host: str
    table: str
    sys_id: str


@dataclass(frozen=True)
class AnomalyPreview:
    anomaly: Anomaly
    url: str
    tickets: list[Link]


@dataclass(frozen=True)
class TicketPreview:
    kind: TicketKind
    ticket: Incident
    anomalies: list[Link]
    """The links of the ticket to anomalies (`anomaly_id`), newest last."""
    anomaly_url: str
    """A Qualytics anomaly URL with `{id}` in place of the id ("" without Qualytics)."""


Preview = AnomalyPreview | TicketPreview


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def parse_link(
    url: str, *, qualytics_host: str, instance_hosts: Collection[str], tables: Collection[str]
) -> AnomalyLink | TicketLink | None:
    """What a link names, or None (see the module docstring for the forms)."""
    try:
        parts = urlsplit(html.unescape(url.strip()))
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    query = parse_qs(parts.query)
    if qualytics_host and host == qualytics_host:
        match = _ANOMALY_PATH.search(parts.path)
        if match:
            return _anomaly(match.group(1))
        if re.fullmatch(r"/datastores/\d{1,12}/anomalies/?", parts.path):
            return next((found for v in query.get("id", []) if (found := _anomaly(v))), None)
        return None
    if host not in instance_hosts:
        return None
    if parts.path.rstrip("/") == "/nav_to.do":
        for uri in query.get("uri", []):
            inner = urlsplit(uri)
            return _ticket(host, inner.path, parse_qs(inner.query), tables)
        return None
    return _ticket(host, parts.path, query, tables)


def _anomaly(digits: str) -> AnomalyLink | None:
    return AnomalyLink(int(digits)) if digits.isdigit() and 0 < int(digits) < 10**12 else None


def _ticket(host: str, path: str, query: dict[str, list[str]], tables: Collection[str]) -> TicketLink | None:
    match = _TABLE.fullmatch(path)
    sys_ids = [value for value in query.get("sys_id", []) if _SYS_ID.fullmatch(value)]
    if match is None or match.group(1) not in tables or not sys_ids:
        return None
    return TicketLink(host, match.group(1), sys_ids[0].lower())


class Unfurls:
    """The previews of the links a person pasted."""

    def __init__(
        self, *, storage: Storage, anomalies: Anomalies, connections: Connections, settings: Settings
    ) -> None:
        self.storage = storage
        self.anomalies = anomalies
        self.connections = connections
        self.settings = settings

    async def previews(self, urls: Sequence[str]) -> dict[str, Preview]:
        """url -> its preview, for the links that can be previewed (at most `MAX_LINKS`)."""
        by_host = {_host(i.instance_url): i for i in await self.connections.list_integrations()}
        kinds = {kind.table: kind for kind in KINDS.values()}
        qualytics_host = _host(self.settings.qualytics_url or "") if self.anomalies.qualytics else ""
        found: dict[str, Preview] = {}
        for url in list(dict.fromkeys(urls))[:MAX_LINKS]:
            named = parse_link(url, qualytics_host=qualytics_host, instance_hosts=by_host, tables=kinds)
            try:
                if isinstance(named, AnomalyLink):
                    found[url] = await self._anomaly(named.anomaly_id)
                elif isinstance(named, TicketLink):
                    preview = await self._ticket(by_host[named.host], kinds[named.table], named.sys_id)
                    if preview is not None:
                        found[url] = preview
            except (UseCaseError, QualyticsError, ServiceNowError) as err:
                log.info("no preview of a pasted link: %s", getattr(err, "message", type(err).__name__))
        return found

    async def _anomaly(self, anomaly_id: int) -> AnomalyPreview:
        anomaly = await self.anomalies.get(anomaly_id)
        tickets = await self.storage.run(links.for_anomaly, anomaly_id)
        return AnomalyPreview(anomaly, self.anomalies.url(anomaly), tickets)

    async def _ticket(self, integration: Integration, kind: TicketKind, sys_id: str) -> TicketPreview | None:
        client = await self.connections.client(integration)
        ticket = await client.get_incident(sys_id, kind=kind)
        linked = [
            link
            for link in await self.storage.run(links.for_ticket, sys_id)
            if link.integration_id == integration.id
        ]
        template = self._anomaly_url_template()
        return TicketPreview(kind, ticket, linked, template)

    def _anomaly_url_template(self) -> str:
        """Qualytics' short anomaly URL (`<instance>/anomalies/<id>`), the id left as `{id}`."""
        base = self.settings.qualytics_url
        return f"{instance_url(base)}/anomalies/{{id}}" if base else ""
