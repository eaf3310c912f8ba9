"""The ticket operations over the Table API: create, read, find, search, update, resolve.

Functions of a `servicenow.transport.TableAPI`; `ServiceNowClient` offers them as its methods. Each takes
the `TicketKind` (default incident) whose facts (its table, number prefix, how it is resolved) it uses:
`servicenow.kinds`.
`create_incident` is never retried: a lost answer surfaces as `ServiceNowTimeoutError` /
`ServiceNowConnectionError` (or a 502/504 `ServerError`) whose `may_be_applied` tells the caller whether to
look the incident up by its correlation_id rather than send it again. A PATCH is retried only when the
caller says repeating it is harmless (`retry_safe=True`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from servicenow.errors import BadRequestError, QueryError
from servicenow.kinds import INCIDENT, TicketKind
from servicenow.models import NOTE_FIELDS, Incident, IncidentPage, read_fields, ticket_fields
from servicenow.query import Query, safe_search_text
from servicenow.responses import result
from servicenow.transport import TableAPI, clean_sys_id, table_path

BATCH_SIZE = 100
"""Most sys_ids put in one `sys_idIN...` query (and the largest page a search may ask for)."""
INVALID_TABLE = "invalid table"
"""How the Table API names a table the instance lacks (400 `{"error": {"message": "Invalid table
rm_defect", "detail": null}, "status": "failure"}`: servicenow-table-api.md §2, O5)."""


def _number_start(kind: TicketKind) -> re.Pattern[str]:
    """The beginning of a number of `kind` (`INC001`): a search for one matches numbers only."""
    return re.compile(rf"{re.escape(kind.number_prefix)}\d+", re.IGNORECASE)


async def check_connection(api: TableAPI) -> None:
    """Read one incident id: proves the URL, the credentials and the read rights in one request."""
    await api.get_page(Query(INCIDENT.table), fields=("sys_id",), limit=1)


async def has_table(api: TableAPI, kind: TicketKind) -> bool:
    """Whether the instance has the kind's table (one id read); False only for 400 "Invalid table"."""
    try:
        await api.get_page(Query(kind.table), fields=("sys_id",), limit=1)
    except BadRequestError as err:
        said = f"{err.message} {err.detail or ''}".lower()
        if INVALID_TABLE in said:
            return False
        raise
    return True


async def create_incident(
    api: TableAPI, fields: Mapping[str, object], *, kind: TicketKind = INCIDENT
) -> Incident:
    """Create a ticket from field values (sent as strings). Never retried: see the module doc."""
    response = await api.request(
        "POST", table_path(kind.table), json=_strings(fields), fields=ticket_fields(kind)
    )
    return _incident(api, result(response), kind)


async def get_incident(api: TableAPI, sys_id: str, *, kind: TicketKind = INCIDENT) -> Incident:
    """The ticket with this sys_id; `NotFoundError` if it does not exist (or cannot be read)."""
    response = await api.request(
        "GET", table_path(kind.table, sys_id), fields=read_fields(kind), retry_safe=True
    )
    return _incident(api, result(response), kind)


async def get_incident_by_number(
    api: TableAPI, number: str, *, kind: TicketKind = INCIDENT
) -> Incident | None:
    """The ticket numbered e.g. `INC0010001` (any case), or None."""
    query = Query(kind.table).equals("number", number.strip().upper())
    records, _ = await api.get_page(query, fields=read_fields(kind), limit=1)
    return _incident(api, records[0], kind) if records else None


async def find_incident_by_correlation_id(
    api: TableAPI, correlation_id: str, *, kind: TicketKind = INCIDENT
) -> Incident | None:
    """The newest ticket of `kind` carrying this correlation_id, or None."""
    query = Query(kind.table).equals("correlation_id", correlation_id).order_by_desc("sys_created_on")
    records, _ = await api.get_page(query, fields=read_fields(kind), limit=1)
    return _incident(api, records[0], kind) if records else None


async def search_incidents(
    api: TableAPI, text: str, *, page: int, size: int, kind: TicketKind = INCIDENT
) -> IncidentPage:
    """Newest first: a number's beginning (`INC001`) matches numbers, other text the short description or
    the number; blank text lists all incidents. `page` is 1-based."""
    if page < 1:
        raise QueryError("page numbers start at 1")
    if not 1 <= size <= BATCH_SIZE:
        raise QueryError(f"the page size must be between 1 and {BATCH_SIZE}")
    text = safe_search_text(text)
    query = Query(kind.table)
    if _number_start(kind).fullmatch(text):
        query.starts_with("number", text.upper())
    elif text:
        query.like("short_description", text).or_starts_with("number", text)
    query.order_by_desc("sys_created_on")
    offset = (page - 1) * size
    records, total = await api.get_page(query, fields=read_fields(kind), limit=size, offset=offset)
    items = [_incident(api, record, kind) for record in records]
    # Without X-Total-Count, what was seen is the best lower bound.
    return IncidentPage(
        items=items, total=offset + len(items) if total is None else total, page=page, size=size
    )


async def get_incidents(
    api: TableAPI, sys_ids: Sequence[str], *, kind: TicketKind = INCIDENT
) -> list[Incident]:
    """The incidents that exist among `sys_ids`, in the order asked (duplicates once), 100 per request."""
    wanted = list(dict.fromkeys(clean_sys_id(sys_id) for sys_id in sys_ids))
    found: dict[str, Incident] = {}
    for start in range(0, len(wanted), BATCH_SIZE):
        batch = wanted[start : start + BATCH_SIZE]
        query = Query(kind.table).is_in("sys_id", batch)
        records, _ = await api.get_page(query, fields=read_fields(kind), limit=len(batch))
        found.update(
            (incident.sys_id, incident) for incident in (_incident(api, record, kind) for record in records)
        )
    return [found[sys_id] for sys_id in wanted if sys_id in found]


async def append_to_description(
    api: TableAPI,
    sys_id: str,
    text: str,
    *,
    work_note: str | None,
    retry_safe: bool,
    kind: TicketKind = INCIDENT,
) -> Incident:
    """Add `text` as a new paragraph of the description (a GET, then one PATCH), with an optional note."""
    current = await get_incident(api, sys_id, kind=kind)
    existing = current.description.rstrip()
    body = {"description": f"{existing}\n\n{text}" if existing else text}
    if work_note:
        body["work_notes"] = work_note
    return await update_incident(
        api, current.sys_id, body, retry_safe=retry_safe, fields=ticket_fields(kind), kind=kind
    )


async def resolve_incident(
    api: TableAPI,
    sys_id: str,
    *,
    close_code: str,
    close_notes: str,
    work_note: str | None,
    retry_safe: bool,
    kind: TicketKind = INCIDENT,
) -> Incident:
    """Set the kind's resolve state (an incident's 6, Resolved) with its mandatory resolution code and
    notes. Without a work note this is idempotent, so callers may pass `retry_safe=True`."""
    body = kind.resolve_fields(close_code, close_notes)
    if work_note:
        body["work_notes"] = work_note
    return await update_incident(api, sys_id, body, retry_safe=retry_safe, fields=NOTE_FIELDS, kind=kind)


async def update_incident(
    api: TableAPI,
    sys_id: str,
    body: Mapping[str, str],
    *,
    retry_safe: bool,
    fields: Sequence[str],
    kind: TicketKind = INCIDENT,
) -> Incident:
    """One PATCH of the ticket's fields (a work note too: `work_notes`); the ticket as it is after, with
    only `fields` filled in (`sysparm_fields` applies to a PATCH's answer: ServiceNowDocs c_TableAPI.md)."""
    response = await api.request(
        "PATCH", table_path(kind.table, sys_id), json=body, fields=fields, retry_safe=retry_safe
    )
    return _incident(api, result(response), kind)


def _incident(api: TableAPI, record: Any, kind: TicketKind = INCIDENT) -> Incident:
    return api.parse(lambda r: Incident.from_record(r, instance_url=api.instance_url, kind=kind), record)


def _strings(fields: Mapping[str, object]) -> dict[str, str]:
    """Field values as the Table API wants them: strings, booleans as true/false, None as "" (clears)."""

    def text(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return {str(name): text(value) for name, value in fields.items()}
