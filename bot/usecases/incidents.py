"""Naming and reading one ticket: a ticket id (a sys_id or a number of a known `TicketKind`) parsed, and
the incident read by it with its errors translated (`TicketNotFound`, `servicenow_failure`).

Never writes.
"""

from __future__ import annotations

import re
from typing import Literal

from bot.usecases.errors import InvalidInput, TicketNotFound, servicenow_failure
from servicenow import Incident, ServiceNowClient
from servicenow.errors import NotFoundError, ServiceNowError
from servicenow.kinds import kind_of_number

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


async def find_incident(client: ServiceNowClient, *, by: str, value: str) -> Incident:
    """The incident with this sys_id (`by="sys_id"`) or number."""
    try:
        if by == "sys_id":
            return await client.get_incident(value)
        found = await client.get_incident_by_number(value)
    except NotFoundError:
        raise TicketNotFound(value) from None
    except ServiceNowError as err:
        raise servicenow_failure(err, f"reading incident {value}") from err
    if found is None:
        raise TicketNotFound(value)
    return found
