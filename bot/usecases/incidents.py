"""Naming and reading one ticket: a ticket id (a sys_id or a number of a known `TicketKind`) parsed, and
the ticket read by it with its errors translated (`TicketNotFound`, `servicenow_failure`): a number in
its kind's table, a sys_id in the given kind's table or else in each kind's in turn (`KINDS`).

Never writes.
"""

from __future__ import annotations

import re
from typing import Literal

from bot.usecases.errors import InvalidInput, TicketNotFound, servicenow_failure
from servicenow import Incident, ServiceNowClient
from servicenow.errors import BadRequestError, NotFoundError, ServiceNowError
from servicenow.kinds import INCIDENT, KINDS, TicketKind, kind_of_number

SYS_ID = re.compile(r"^[0-9a-fA-F]{32}$")
IdKind = Literal["sys_id", "number"]


def parse_ticket_id(ticket_id: str) -> tuple[IdKind, str]:
    """A sys_id (lower-cased) or an INC number (upper-cased); anything else is `InvalidInput`."""
    value = ticket_id.strip()
    if SYS_ID.match(value):
        return "sys_id", value.lower()
    if kind_of_number(value) is not None:
        return "number", value.upper()
    raise InvalidInput(
        "A ticket is identified by its sys_id (32 hex characters) or its number (e.g. INC0010006).",
        field="ticket_id",
    )


async def find_incident(
    client: ServiceNowClient, *, by: str, value: str, kind: TicketKind | None = None
) -> Incident:
    """The ticket with this sys_id (`by="sys_id"`) or number. A sys_id without `kind` is looked for in
    every kind's table, incident first (a table the instance lacks is skipped)."""
    if by == "sys_id" and kind is None:
        for candidate in KINDS.values():
            try:
                return await find_incident(client, by=by, value=value, kind=candidate)
            except TicketNotFound:
                continue
        raise TicketNotFound(value)
    kind = kind or kind_of_number(value) or INCIDENT
    try:
        if by == "sys_id":
            return await client.get_incident(value, kind=kind)
        found = await client.get_incident_by_number(value, kind=kind)
    except NotFoundError:
        raise TicketNotFound(value) from None
    except BadRequestError as err:
        if "invalid table" in f"{err.message} {err.detail or ''}".lower():
            raise TicketNotFound(value) from None  # the kind's plugin is not active: no such ticket here
        raise servicenow_failure(err, f"reading {kind.label.lower()} {value}") from err
    except ServiceNowError as err:
        raise servicenow_failure(err, f"reading {kind.label.lower()} {value}") from err
    if found is None:
        raise TicketNotFound(value)
    return found
