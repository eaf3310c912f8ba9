"""Ticket templates of creation rules: `{field}` placeholders over an anomaly's fields, checked when a rule
is saved (an unknown field, an attribute or index, a conversion or a format spec is refused, so a
template can neither reach into objects nor blow up a string) and filled in when a ticket is made.

Never calls anything; pure functions.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from qualytics_api import Anomaly

FIELDS: dict[str, Callable[[Anomaly, str], object]] = {
    "id": lambda a, url: a.id,
    "type": lambda a, url: a.type,
    "status": lambda a, url: a.status,
    "weight": lambda a, url: "" if a.weight is None else a.weight,
    "records": lambda a, url: "" if a.anomalous_records_count is None else a.anomalous_records_count,
    "description": lambda a, url: a.description,
    "datastore": lambda a, url: a.datastore.name or a.datastore.id,
    "datastore_id": lambda a, url: a.datastore.id,
    "container": lambda a, url: a.container.name if a.container else "",
    "container_id": lambda a, url: a.container.id if a.container else "",
    "rule_type": lambda a, url: ", ".join(dict.fromkeys(c.quality_check.rule_type for c in a.failed_checks)),
    "check": lambda a, url: a.failed_checks[0].quality_check.description if a.failed_checks else "",
    "message": lambda a, url: a.failed_checks[0].message if a.failed_checks else "",
    "fields": lambda a, url: ", ".join(a.fields),
    "tags": lambda a, url: ", ".join(a.tags),
    "created": lambda a, url: f"{a.created:%Y-%m-%d %H:%M:%S} UTC",
    "fingerprint": lambda a, url: a.fingerprint or "",
    "url": lambda a, url: url,
}
"""The placeholders a template may use, each read from the anomaly (and its URL in Qualytics)."""


class TemplateError(ValueError):
    """The template cannot be used; the message says why and which fields exist."""


def check_template(template: str) -> list[str]:
    """The fields `template` uses; `TemplateError` for anything but plain `{known_field}` placeholders."""
    used: list[str] = []
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as err:
        raise TemplateError(f"{err} (write {{{{ and }}}} for literal braces).") from None
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in FIELDS:
            raise TemplateError(
                f"Unknown field {{{name}}}; a template may use: "
                + ", ".join(f"{{{known}}}" for known in FIELDS)
                + "."
            )
        if spec or conversion:
            raise TemplateError(f"Write {{{name}}} alone: conversions and format specs are not allowed.")
        used.append(name)
    return used


def render(template: str, anomaly: Anomaly, url: str) -> str:
    """The template filled in from the anomaly (checked again: a stored template is never trusted)."""
    used = check_template(template)
    values = {name: str(FIELDS[name](anomaly, url)) for name in used}
    return template.format_map(values)
