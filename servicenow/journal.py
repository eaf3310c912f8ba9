"""An incident's journal: its work notes, read from sys_journal_field or from the incident itself.

Functions of a `servicenow.transport.TableAPI`; `ServiceNowClient` offers them as its methods. The sync
looks for its markers here before it sends a note again (`has_work_note`). sys_journal_field is often
closed to the service account, by a 403 or by an answer with no rows (servicenow-table-api.md,
corrections); the incident's `work_notes` display value (§7.6) holds the same entries, and the refusal is
kept in `refused_reads` for `/snow status`.
"""

from __future__ import annotations

from collections.abc import Mapping

from servicenow.errors import PermissionDeniedError
from servicenow.kinds import INCIDENT, TicketKind
from servicenow.models import JournalEntry
from servicenow.query import Query
from servicenow.responses import result
from servicenow.transport import READ_GRANTS, TableAPI, clean_sys_id, table_path

JOURNAL = "sys_journal_field"
WORK_NOTES = "work_notes"


async def list_work_notes(
    api: TableAPI, sys_id: str, *, limit: int, kind: TicketKind = INCIDENT
) -> list[JournalEntry]:
    """The ticket's work notes, newest first (rows of sys_journal_field, `name` its table)."""
    query = (
        Query(JOURNAL)
        .equals("element_id", clean_sys_id(sys_id))
        .equals("name", kind.table)
        .equals("element", WORK_NOTES)
        .order_by_desc("sys_created_on")
    )
    fields = ("sys_id", "value", "sys_created_on", "sys_created_by")
    records, _ = await api.get_page(query, fields=fields, limit=limit)
    return [api.parse(JournalEntry.from_record, record) for record in records]


async def get_work_notes_text(api: TableAPI, sys_id: str, *, kind: TicketKind = INCIDENT) -> str:
    """The incident's work notes as one text, newest first (`sysparm_display_value=true` returns the
    journal's entries in the field; servicenow-table-api.md §7.6)."""
    response = await api.request(
        "GET",
        table_path(kind.table, sys_id),
        fields=(WORK_NOTES,),
        params={"sysparm_display_value": "true"},
        retry_safe=True,
    )
    record = result(response)
    text = record.get(WORK_NOTES) if isinstance(record, Mapping) else None
    if isinstance(text, Mapping):
        text = text.get("display_value")
    return text if isinstance(text, str) else ""


async def has_work_note(
    api: TableAPI, sys_id: str, marker: str, *, lookback: int, kind: TicketKind = INCIDENT
) -> bool:
    """Whether a work note holding `marker` is on the incident. sys_journal_field first; when it
    refuses (403) or answers no rows (a denial that looks like success: servicenow-table-api.md,
    corrections), the incident's work_notes display text, which holds the same entries."""
    try:
        entries = await list_work_notes(api, sys_id, limit=lookback, kind=kind)
    except PermissionDeniedError:
        entries = []
    if entries:
        return any(marker in entry.text for entry in entries)
    text = await get_work_notes_text(api, sys_id, kind=kind)
    if text.strip() and JOURNAL not in api.refused_reads:
        api.refused_reads[JOURNAL] = (
            f"{JOURNAL} answered no rows although the incident has work notes. Grant " + READ_GRANTS[JOURNAL]
        )
    return marker in text
