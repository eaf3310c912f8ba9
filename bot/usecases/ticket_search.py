"""Finding tickets: search by number prefix or words across the kinds an instance has, and one ticket
by sys_id or number. Reads only; `bot.usecases.tickets` writes.
"""

from __future__ import annotations

from math import ceil

from bot.usecases.connections import Connections
from bot.usecases.errors import InvalidInput, UseCaseError, servicenow_errors
from bot.usecases.form import TicketForms
from bot.usecases.incidents import find_incident, parse_ticket_id
from bot.usecases.values import TicketPage
from servicenow import Incident, ServiceNowClient
from servicenow.errors import BadRequestError
from servicenow.kinds import TicketKind, kind_of_prefix, kind_of_type


class TicketSearch:
    def __init__(self, *, connections: Connections, forms: TicketForms) -> None:
        self.connections = connections
        self.forms = forms

    async def search(
        self,
        *,
        query: str = "",
        page: int = 1,
        size: int = 20,
        integration_id: int | None = None,
        ticket_type: str | None = None,
    ) -> TicketPage:
        """Tickets of an instance (None: the default one), newest first, across the kinds it has
        (`ticket_type` one of them; a number's prefix, `PRB001`, its kind). Across kinds, each kind's first
        `page * size` hits are merged by creation time, so pages past 100 hits per kind are that kind's
        only: name `ticket_type` to page further."""
        if page < 1:
            raise InvalidInput("page starts at 1.", field="page")
        if not 1 <= size <= 100:
            raise InvalidInput("size must be between 1 and 100.", field="size")
        try:
            named = kind_of_type(ticket_type) if ticket_type else kind_of_prefix(query)
        except KeyError:
            raise InvalidInput(f"Unknown ticket type {ticket_type!r}.", field="ticket_type") from None
        integration = await self.connections.chosen(integration_id)
        client = await self.connections.client(integration)
        kinds = (
            [named]
            if named is not None
            else list((await self.forms.available_kinds(integration_id=integration.id))[0])
        )
        if len(kinds) == 1:
            with servicenow_errors(f"searching {kinds[0].label.lower()}s"):
                found = await client.search_incidents(query.strip(), page=page, size=size, kind=kinds[0])
            items, total = list(found.items), found.total
        else:
            items, total = await self._search_across(client, kinds, query.strip(), page=page, size=size)
        return TicketPage(
            items=items, total=total, page=page, size=size, pages=ceil(total / size) if total else 0
        )

    async def _search_across(
        self, client: ServiceNowClient, kinds: list[TicketKind], text: str, *, page: int, size: int
    ) -> tuple[list[Incident], int]:
        depth = min(page * size, 100)
        merged: list[Incident] = []
        total = 0
        for kind in kinds:
            try:
                with servicenow_errors(f"searching {kind.label.lower()}s"):
                    found = await client.search_incidents(text, page=1, size=depth, kind=kind)
            except UseCaseError as err:
                if isinstance(err.__cause__, BadRequestError):  # the kind's table is gone meanwhile
                    continue
                raise
            merged.extend(found.items)
            total += found.total
        merged.sort(
            key=lambda ticket: ticket.created_on.timestamp() if ticket.created_on else 0.0, reverse=True
        )
        return merged[(page - 1) * size : page * size], total

    async def get(self, *, ticket_id: str) -> Incident:
        by, value = parse_ticket_id(ticket_id)
        client = await self.connections.default_client()
        return await find_incident(client, by=by, value=value)
