"""What changed on linked tickets since a watermark, and the journal entries people wrote on them.

Functions of a `servicenow.transport.TableAPI`; `ServiceNowClient` offers them as its methods; the sync's
ServiceNow-side step (`bot.sync.back`) is their one caller. Every query is built with `servicenow.query`.

- `changed_since`: one Table API query per 100 tickets of one table, `sys_idIN<ids>^sys_updated_on>W`
  (W the caller's watermark; None reads them all), answering only the tickets updated after W.
  `sys_updated_on` is the record's last write in UTC `YYYY-MM-DD HH:MM:SS` (the `value` of
  `sysparm_display_value=all`: servicenow-table-api.md §4; it changes with every journal entry, which is a
  write to the record: §7.6), so a new comment or work note is a change too.
- `journal_since`: the work notes and additional comments of up to 100 tickets in one query of
  sys_journal_field (`element_idIN...^elementINwork_notes,comments^sys_created_on>=...`, rows with
  `sys_created_by`: §7.6, D8). sys_journal_field is often closed to the service account, by a 403 or by an
  answer with no rows (corrections section), so, as `servicenow.journal.has_work_note` does, an empty or
  refused answer is followed by one read of the tickets' own `work_notes` and `comments` display values
  (`<date> - <name> (Work notes)` headers, newest first: §7.6), whose entries get a stable key instead of
  a sys_id. A refusal seen that way is kept in `refused_reads` and the journal is not asked again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from servicenow.errors import PermissionDeniedError
from servicenow.kinds import TicketKind
from servicenow.models import Incident, _display, _value, read_fields
from servicenow.query import Query
from servicenow.transport import READ_GRANTS, TableAPI, clean_sys_id

JOURNAL = "sys_journal_field"
ELEMENTS = ("work_notes", "comments")
BATCH = 100
"""Most sys_ids in one `sys_idIN` / `element_idIN` query (the URL stays far below 8 KB)."""
JOURNAL_PAGE = 500
_HEADER = re.compile(
    r"^(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) - (?P<who>.+?) \((?P<label>Work notes|Additional comments)\)$",
    re.MULTILINE,
)
_ELEMENT_OF_LABEL = {"Work notes": "work_notes", "Additional comments": "comments"}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class TicketChange(_Model):
    """A ticket as the watermark query read it: the `Incident` fields, the raw `sys_updated_on` (the
    watermark's unit) and who resolved, closed or last updated it (display values)."""

    table: str
    ticket: Incident
    updated_on: str
    mod_count: int
    """`sys_mod_count`: the record's update count (two updates within one second differ here)."""
    updated_by: str
    resolved_by: str
    closed_by: str
    close_code: str
    close_notes: str

    @property
    def who(self) -> str:
        return self.resolved_by or self.closed_by or self.updated_by or "someone"


class JournalItem(_Model):
    """One work note or additional comment: `key` is the sys_journal_field sys_id, or a stable hash of the
    entry when it was read from the record's field."""

    key: str
    ticket_sys_id: str
    element: str
    text: str
    created_on: datetime | None
    created_by: str

    @property
    def label(self) -> str:
        return "Work note" if self.element == "work_notes" else "Comment"


def change_fields(kind: TicketKind) -> tuple[str, ...]:
    extra = (
        "sys_updated_by",
        "sys_mod_count",
        "resolved_by",
        "closed_by",
        *([kind.close_code_field] if kind.close_code_field else []),
        *kind.close_notes_fields,
    )
    # every ticket field but the journal, whose display text grows with every note (read separately)
    return tuple(dict.fromkeys((*read_fields(kind, journal=False), *extra)))


async def changed_since(
    api: TableAPI, kind: TicketKind, sys_ids: Sequence[str], since: str | None
) -> list[TicketChange]:
    """The tickets among `sys_ids` updated after `since` (all of them when None), 100 per query."""
    wanted = list(dict.fromkeys(clean_sys_id(sys_id) for sys_id in sys_ids))
    changes: list[TicketChange] = []
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start : start + BATCH]
        query = Query(kind.table).is_in("sys_id", batch)
        if since:
            query.where("sys_updated_on", ">", since)
        records, _ = await api.get_page(query, fields=change_fields(kind), limit=len(batch))
        changes.extend(api.parse(lambda r: _change(api, kind, r), record) for record in records)
    return changes


def _change(api: TableAPI, kind: TicketKind, record: Mapping[str, Any]) -> TicketChange:
    return TicketChange(
        table=kind.table,
        ticket=Incident.from_record(record, instance_url=api.instance_url, kind=kind),
        updated_on=_value(record, "sys_updated_on"),
        mod_count=_count(_value(record, "sys_mod_count")),
        updated_by=_display(record, "sys_updated_by"),
        resolved_by=_display(record, "resolved_by"),
        closed_by=_display(record, "closed_by"),
        close_code=_display(record, kind.close_code_field) if kind.close_code_field else "",
        # a Problem's fix and cause notes both tell how it was resolved
        close_notes=" - ".join(text for name in kind.close_notes_fields if (text := _value(record, name))),
    )


async def journal_since(
    api: TableAPI, kind: TicketKind, sys_ids: Sequence[str], since: str
) -> list[JournalItem]:
    """Work notes and comments on these tickets (at most 100) created at or after `since`, oldest first:
    sys_journal_field, else (a 403, no rows, or a refusal seen before) the tickets' journal fields."""
    ids = list(dict.fromkeys(clean_sys_id(sys_id) for sys_id in sys_ids))[:BATCH]
    if not ids:
        return []
    entries: list[JournalItem] = []
    if JOURNAL not in api.refused_reads:
        try:
            entries = await _journal_rows(api, kind, ids, since)
        except PermissionDeniedError:
            entries = []
        if entries:
            return entries
    fallback = [entry for entry in await _journal_fields(api, kind, ids) if _at_or_after(entry, since)]
    if fallback and JOURNAL not in api.refused_reads:
        api.refused_reads[JOURNAL] = (
            f"{JOURNAL} answered no rows although the tickets have journal entries. Grant "
            + READ_GRANTS[JOURNAL]
        )
    return fallback


async def _journal_rows(api: TableAPI, kind: TicketKind, ids: list[str], since: str) -> list[JournalItem]:
    query = (
        Query(JOURNAL)
        .is_in("element_id", ids)
        .equals("name", kind.table)
        .is_in("element", ELEMENTS)
        .where("sys_created_on", ">=", since)
        .order_by("sys_created_on")
    )
    fields = ("sys_id", "element", "element_id", "value", "sys_created_on", "sys_created_by")
    rows: list[JournalItem] = []
    offset = 0
    while True:
        records, _ = await api.get_page(query, fields=fields, limit=JOURNAL_PAGE, offset=offset)
        rows.extend(api.parse(_journal_row, record) for record in records)
        if len(records) < JOURNAL_PAGE:
            return rows
        offset += len(records)


def _journal_row(record: Mapping[str, Any]) -> JournalItem:
    created = _value(record, "sys_created_on")
    return JournalItem(
        key=_value(record, "sys_id"),
        ticket_sys_id=_value(record, "element_id"),
        element=_value(record, "element"),
        text=_value(record, "value"),
        created_on=_parse_time(created),
        created_by=_value(record, "sys_created_by"),
    )


async def _journal_fields(api: TableAPI, kind: TicketKind, ids: list[str]) -> list[JournalItem]:
    """The entries of each ticket's `work_notes` and `comments` display values (one list read)."""
    query = Query(kind.table).is_in("sys_id", ids)
    records, _ = await api.get_page(query, fields=("sys_id", *ELEMENTS), limit=len(ids))
    entries: list[JournalItem] = []
    for record in records:
        sys_id = _value(record, "sys_id")
        for element in ELEMENTS:
            entries.extend(parse_journal_text(sys_id, _display(record, element), element))
    return sorted(entries, key=lambda e: (e.created_on or datetime.min.replace(tzinfo=UTC), e.key))


def parse_journal_text(sys_id: str, text: str, element: str) -> list[JournalItem]:
    """A journal field's display text (`<date> - <name> (<label>)` then the entry, newest first) as
    entries, oldest first; each keyed by a hash of its ticket, element, header and text."""
    headers = list(_HEADER.finditer(text))
    entries = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[header.end() : end].strip("\n").rstrip()
        label_element = _ELEMENT_OF_LABEL[header["label"]]
        digest = hashlib.sha256(
            "\x1f".join((sys_id, label_element, header.group(), body)).encode()
        ).hexdigest()[:32]
        entries.append(
            JournalItem(
                key=f"text-{digest}",
                ticket_sys_id=sys_id,
                element=label_element if label_element in ELEMENTS else element,
                text=body,
                created_on=_parse_time(header["when"]),
                created_by=header["who"],
            )
        )
    return list(reversed(entries))


def _count(text: str) -> int:
    return int(text) if text.strip().isdigit() else 0


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError:
        return None


def _at_or_after(entry: JournalItem, since: str) -> bool:
    bound = _parse_time(since)
    return entry.created_on is None or bound is None or entry.created_on >= bound
