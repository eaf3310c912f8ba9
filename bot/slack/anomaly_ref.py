"""Find the Qualytics anomaly a Slack message is about.

A message shortcut hands us the message: its `text`, `blocks` (sections, fields, context, rich_text,
buttons) and `attachments` (Qualytics' own alerts put Block Kit inside an attachment with a colour bar,
older bots use `text`/`fallback`/`title_link`/`fields`/`actions`). We walk all of it, in reading order,
and take the first of:

* a Qualytics anomaly URL on the configured host — `/anomalies/824`, `/anomalies?id=824`,
  `/datastores/23/anomalies?id=824`, also inside Slack's `<url|label>` syntax, HTML-escaped (`&amp;`) or
  URL-encoded (e.g. wrapped by a link-safety redirector);
* an "Anomaly ID: 824" label, as our own messages and the incident description write it (`*Anomaly ID:*
  824`, `**Anomaly ID:** 824`, `anomaly_id=824`).

URLs on other hosts are ignored; with no Qualytics host configured only labels count. Pure functions:
no I/O, and any input (however odd) gives an id or None, never an exception.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_URL = re.compile(r"(?=(https?://[^\s<>|\"'`\\]{1,2048}))", re.IGNORECASE)
_PATH_ID = re.compile(r"/anomalies/(\d{1,12})(?!\d)", re.IGNORECASE | re.ASCII)
_LABEL = re.compile(
    r"anomaly[ _-]?id\b[\"'*_~\s]{0,6}[:=][*_~`\"'\s]{0,6}#?(\d{1,12})(?!\d)", re.IGNORECASE | re.ASCII
)
_BARE_ID = re.compile(r"#?(\d{1,12})", re.ASCII)
_DIGITS = re.compile(r"\d{1,12}", re.ASCII)
_MAX_DEPTH = 12
_MAX_STRINGS = 2000


def normalize_host(qualytics_host: str | None) -> str | None:
    """`https://acme.qualytics.io/api`, `acme.qualytics.io` or `127.0.0.1:8001` → the bare host name."""
    if not qualytics_host or not qualytics_host.strip():
        return None
    value = qualytics_host.strip()
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def find_anomaly_id(message: Any, qualytics_host: str | None) -> int | None:
    """The anomaly id in a Slack message payload (text, blocks, attachments), or None."""
    host = normalize_host(qualytics_host)
    for text in _strings(message):
        found = _id_in_text(text, host)
        if found is not None:
            return found
    return None


def parse_anomaly_arg(text: Any, qualytics_host: str | None) -> int | None:
    """The anomaly in a `/snow create <id or URL>` argument: `824`, `#824`, a Qualytics anomaly URL
    (bare or as Slack sends it, `<https://…/anomalies/824>`), or text containing one."""
    if not isinstance(text, str):
        return None
    words = text.strip().split()
    if words:
        bare = _BARE_ID.fullmatch(words[0])
        if bare:
            return _positive(bare.group(1))
    return _id_in_text(text, normalize_host(qualytics_host))


def _id_in_text(text: str, host: str | None) -> int | None:
    for variant in _variants(text):
        if host is not None:
            for match in _URL.finditer(variant):
                found = _id_in_url(match.group(1), host)
                if found is not None:
                    return found
        label = _LABEL.search(variant)
        if label:
            found = _positive(label.group(1))
            if found is not None:
                return found
    return None


def _variants(text: str) -> Iterator[str]:
    """The text as given, HTML-unescaped (Slack escapes &, <, >) and URL-decoded up to twice."""
    seen: set[str] = set()
    current = text
    for step in range(4):
        if current not in seen:
            seen.add(current)
            yield current
        current = html.unescape(current) if step == 0 else unquote(current)


def _id_in_url(url: str, host: str) -> int | None:
    try:
        parts = urlsplit(url.rstrip(".,;:!?)]}*_~"))
        if (parts.hostname or "").lower() != host:
            return None
    except ValueError:
        return None
    # the path, and a single-page-app route in the fragment (`/#/anomalies/824`)
    for path, query in ((parts.path, parts.query), _fragment_route(parts.fragment)):
        match = _PATH_ID.search(path)
        if match:
            return _positive(match.group(1))
        if path.rstrip("/").lower().endswith("/anomalies"):
            for value in parse_qs(query).get("id", []):
                found = _positive(value) if _DIGITS.fullmatch(value) else None
                if found is not None:
                    return found
    return None


def _fragment_route(fragment: str) -> tuple[str, str]:
    path, _, query = fragment.partition("?")
    return path, query


def _positive(digits: str) -> int | None:
    value = int(digits)
    return value if value > 0 else None


def _strings(node: Any) -> Iterator[str]:
    """Every string in the payload, in reading order; section `fields` also joined, so a label in one
    field and its value in the next still read as "Anomaly ID: 824"."""
    count = 0
    stack: list[tuple[Any, int]] = [(node, 0)]
    while stack and count < _MAX_STRINGS:
        current, depth = stack.pop()
        if isinstance(current, str):
            count += 1
            yield current
        elif depth >= _MAX_DEPTH:
            continue
        elif isinstance(current, dict):
            children: list[Any] = list(current.values())
            fields = current.get("fields")
            if isinstance(fields, list):
                joined = "\n".join(_field_text(f) for f in fields)
                if joined.strip():
                    children.append(joined)
            stack.extend((child, depth + 1) for child in reversed(children))
        elif isinstance(current, list | tuple):
            stack.extend((child, depth + 1) for child in reversed(current))


def _field_text(field: Any) -> str:
    if isinstance(field, str):
        return field
    if isinstance(field, dict):
        if isinstance(field.get("text"), str):  # a Block Kit text object
            return field["text"]
        title, value = field.get("title"), field.get("value")  # a legacy attachment field
        if isinstance(title, str) and isinstance(value, str):
            return f"{title}: {value}"
    return ""


def anomaly_ids_in_text(text: Any, qualytics_host: str | None = None, *, limit: int = 500) -> list[int]:
    """Every anomaly a free text names, each once, at most `limit`: Qualytics anomaly URLs in the forms
    above (on the configured host; on any host when none is given, for callers that authenticate their
    sender, such as the Flow webhook) and "Anomaly ID: 824" labels. Never raises."""
    if not isinstance(text, str):
        return []
    host = normalize_host(qualytics_host)
    found: dict[int, None] = {}
    for variant in _variants(text):
        for match in _URL.finditer(variant):
            url = match.group(1)
            try:
                url_host = host or (urlsplit(url).hostname or "").lower()
            except ValueError:
                continue
            anomaly_id = _id_in_url(url, url_host) if url_host else None
            if anomaly_id is not None:
                found.setdefault(anomaly_id, None)
        for label in _LABEL.finditer(variant):
            anomaly_id = _positive(label.group(1))
            if anomaly_id is not None:
                found.setdefault(anomaly_id, None)
        if len(found) >= limit:
            break
    return list(found)[:limit]
