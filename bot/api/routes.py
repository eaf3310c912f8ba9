"""The REST operations of the product spec. Each handler: parse -> one use-case call -> shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import SecretStr

from bot.api.auth import bearer_scheme, protected_route
from bot.doctor import diagnose_running
from bot.models import (
    INTEGRATION_ID_HELP,
    SEARCH_PATTERN,
    TICKET_ID_PATTERN,
    ConnectRequest,
    ConnectResponse,
    CreateLinkRequest,
    CreateTicketRequest,
    CreateTicketResponse,
    Diagnosis,
    ErrorResponse,
    FormSpecification,
    IntegrationOut,
    IntegrationPatch,
    Ticket,
    TicketLinkOut,
    TicketSearchResponse,
    TicketSummary,
    TicketType,
)
from bot.usecases import Snowbot, TicketForm

API_ACTOR = "api"
MAX_ID = 2**63 - 1

AnomalyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The Qualytics anomaly id.")]
LinkId = Annotated[int, Path(ge=1, le=MAX_ID)]
IntegrationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The integration's id.")]
TicketId = Annotated[
    str,
    Path(
        pattern=TICKET_ID_PATTERN,
        description="The ticket's sys_id (32 hex characters) or number (INC0010006, PRB0010001, DFCT0010001, ENHC0010001).",
    ),
]


ERRORS = {
    401: "Missing or wrong bearer token.",
    404: "No such anomaly, ticket, link, integration or rule.",
    409: "Already linked, or ServiceNow is not connected yet (or the chosen integration's last check failed).",
    422: "The request is invalid (a field, or a body that is not UTF-8 JSON); `detail` says which.",
    502: "ServiceNow or Qualytics refused or failed the request.",
    503: "ServiceNow or Qualytics is unavailable, snowbot lacks a setting (e.g. SNOWBOT_API_TOKEN), or its "
    "database is busy or was deleted (SNOWBOT_DB).",
    504: "ServiceNow or Qualytics did not answer in time.",
    500: "An unexpected error; `reference` is in snowbot's log.",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in ERRORS.items()
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "The body is larger than 64 KiB."}
}
"""What a route that reads a body can answer besides (`bot.bodylimit`)."""


def get_snowbot(request: Request) -> Snowbot:
    return request.app.state.snowbot


Bot = Annotated[Snowbot, Depends(get_snowbot)]


def build_router(token: SecretStr | None) -> APIRouter:
    router = APIRouter(
        prefix="/api",
        route_class=protected_route(token),
        dependencies=[Depends(bearer_scheme)],
        responses=ERROR_RESPONSES,
    )

    @router.get("/integrations/ticketing/form-specification", tags=["ticketing"])
    async def get_form_specification(
        bot: Bot,
        ticket_type: Annotated[
            TicketType, Query(description="The kind whose form to describe.")
        ] = "incident",
    ) -> FormSpecification:
        """The create-ticket form of a kind: fields, labels, types, required flags and allowed values, and
        the ticket types this instance has (`ticket_types`)."""
        return await bot.form_specification(ticket_type)

    @router.get("/integrations/ticketing/tickets/search", tags=["ticketing"])
    async def search_tickets(
        bot: Bot,
        query: Annotated[
            str, Query(max_length=200, pattern=SEARCH_PATTERN, description="Incident number prefix or words.")
        ] = "",
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 50,
        integration_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description=INTEGRATION_ID_HELP)] = None,
        ticket_type: Annotated[
            TicketType | None, Query(description="One kind only (default: every kind the instance has).")
        ] = None,
    ) -> TicketSearchResponse:
        """Tickets whose number starts with, or short description contains, `query`; newest first, across
        kinds (a number's prefix, e.g. PRB001, searches its kind)."""
        found = await bot.search_tickets(
            query, page=page, size=size, integration_id=integration_id, ticket_type=ticket_type
        )
        return TicketSearchResponse(
            items=[TicketSummary.from_incident(i) for i in found.items],
            total=found.total,
            page=found.page,
            size=found.size,
            pages=found.pages,
        )

    @router.get("/integrations/ticketing/tickets/{ticket_id}", tags=["ticketing"])
    async def get_ticket(bot: Bot, ticket_id: TicketId) -> Ticket:
        return Ticket.from_incident(await bot.get_ticket(ticket_id))

    @router.post(
        "/integrations/ticketing/anomalies/{anomaly_id}/tickets",
        status_code=201,
        responses=BODY_RESPONSES,
        tags=["ticketing"],
    )
    async def create_ticket_for_anomaly(
        bot: Bot,
        anomaly_id: AnomalyId,
        body: CreateTicketRequest,
        idempotency_key: Annotated[
            str | None,
            Header(
                min_length=1,
                max_length=200,
                pattern=r"^[\x21-\x7e]+$",
                description="Asked again with the same key (an answer lost, a replica gone), the create answers "
                "the ticket it made the first time instead of making a second one.",
            ),
        ] = None,
    ) -> CreateTicketResponse:
        """Create a ticket of `ticket_type` (default incident) from the anomaly (its details fill an empty
        description) and link them; with an `Idempotency-Key`, at most once per key."""
        form = TicketForm(
            ticket_type=body.ticket_type,
            priority=body.priority,
            short_description=body.title,
            description=body.description,
            urgency=body.urgency,
            impact=body.impact,
            category=body.category,
            subcategory=body.subcategory,
            assignment_group=body.assignment_group,
            assigned_to=body.assigned_to,
        )
        created = await bot.create_ticket_for_anomaly(
            anomaly_id,
            form,
            actor=API_ACTOR,
            integration_id=body.integration_id,
            idempotency_key=idempotency_key,
        )
        return CreateTicketResponse(
            ticket=Ticket.from_incident(created.incident),
            anomaly_id=created.anomaly_id,
            integration_id=created.integration_id,
            message=created.message,
        )

    @router.get("/anomalies/{anomaly_id}/ticket-links", tags=["ticket links"])
    async def get_ticket_links(bot: Bot, anomaly_id: AnomalyId) -> list[TicketLinkOut]:
        return [TicketLinkOut.from_link(link) for link in await bot.list_links(anomaly_id)]

    @router.post(
        "/anomalies/{anomaly_id}/ticket-links",
        status_code=201,
        responses=BODY_RESPONSES,
        tags=["ticket links"],
    )
    async def create_ticket_link(bot: Bot, anomaly_id: AnomalyId, body: CreateLinkRequest) -> TicketLinkOut:
        """Link an existing incident: its description gets the anomaly's details and a work note is added."""
        linked = await bot.link_existing_ticket(
            anomaly_id, body.ticket_id, actor=API_ACTOR, integration_id=body.integration_id
        )
        return TicketLinkOut.from_link(linked.link)

    @router.delete(
        "/anomalies/{anomaly_id}/ticket-links/{link_id}",
        status_code=204,
        response_class=Response,
        tags=["ticket links"],
    )
    async def delete_ticket_link(bot: Bot, anomaly_id: AnomalyId, link_id: LinkId) -> Response:
        await bot.unlink(anomaly_id, link_id, actor=API_ACTOR)
        return Response(status_code=204)

    @router.get("/integrations/ticketing", tags=["integrations"])
    async def list_integrations(bot: Bot) -> list[IntegrationOut]:
        return [IntegrationOut.from_integration(i) for i in await bot.list_integrations()]

    @router.patch("/integrations/ticketing/{integration_id}", responses=BODY_RESPONSES, tags=["integrations"])
    async def update_integration(
        bot: Bot, integration_id: IntegrationId, body: IntegrationPatch
    ) -> IntegrationOut:
        """Change an integration's settings: `sync_back` (off, comment, comment_and_archive) says what comes
        back from ServiceNow to Qualytics."""
        return IntegrationOut.from_integration(
            await bot.set_sync_back(integration_id, body.sync_back, actor=API_ACTOR)
        )

    @router.get("/integrations/ticketing/{integration_id}/diagnosis", tags=["integrations"])
    async def diagnose_integration(bot: Bot, integration_id: IntegrationId) -> Diagnosis:
        """`snowbot doctor`'s checks for this integration (settings, database, ServiceNow rights, Qualytics,
        Slack), each ok or what to do. Only reads: nothing is written to ServiceNow or Qualytics."""
        report = await diagnose_running(bot, integration_id=integration_id)
        return Diagnosis.model_validate(report.as_dict())

    @router.post("/integrations/ticketing", status_code=201, responses=BODY_RESPONSES, tags=["integrations"])
    async def connect_servicenow(bot: Bot, body: ConnectRequest) -> ConnectResponse:
        """Test the connection (GET incident?sysparm_limit=1) and store the integration; credentials are
        stored encrypted and never returned."""
        connected = await bot.connect(
            body.instance_url,
            body.credentials,
            actor=API_ACTOR,
            auth=body.auth,
            client_id=body.client_id,
            client_secret=body.client_secret,
        )
        return ConnectResponse(
            message=connected.message, integration=IntegrationOut.from_integration(connected.integration)
        )

    return router
