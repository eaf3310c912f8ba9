"""The shapes snowbot shows to the outside: REST request/response bodies and the create-ticket form.

The field names follow the product spec's "Appendix: Sample Payloads": a `Ticket` has exactly the
sample's keys. Each field has one form everywhere: `status` is the incident state's label; `priority`,
`urgency` and `impact` are ServiceNow's codes (`"3"`), as the spec's create request and response show
them (its search sample's `"4 - Low"` is the display value, not used); every timestamp is UTC in
RFC 3339 with the `Z` offset (`2026-01-23T19:51:24Z`: the spec's samples carry no offset, which leaves
the zone to guesswork). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from math import ceil
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from servicenow.config import parse_credentials
from servicenow.errors import ConfigurationError
from servicenow.kinds import INCIDENT, KINDS, kind_named

if TYPE_CHECKING:
    from servicenow import Incident, Reference
    from storage.integrations import Integration
    from storage.links import Link

STATE_LABELS: dict[str, str] = dict(INCIDENT.states)
"""ServiceNow incident state codes and their labels (the spec's "ServiceNow State Mappings", `INCIDENT`)."""


def _any_case(text: str) -> str:
    """A regex matching `text` in any case (`INC` -> `[Ii][Nn][Cc]`), as JSON Schema has no flags."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


def _levels(labels: Iterable[tuple[object, str]]) -> str:
    """`1 (High), 2 (Medium), 3 (Low)` from a kind's `("1", "1 - High")` pairs."""
    return ", ".join(f"{code} ({label.split(' - ', 1)[-1]})" for code, label in labels)


SHORT_DESCRIPTION_MAX = 160
SYS_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
TICKET_ID_PATTERN = (
    r"^([0-9a-fA-F]{32}|"
    + "|".join(f"{_any_case(kind.number_prefix)}[0-9]{{7,12}}" for kind in KINDS.values())
    + ")$"
)
"""A sys_id or the number of a known ticket kind (`servicenow.kinds.KINDS`)."""
SEARCH_PATTERN = r"^[^\^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
"""Search text may not hold `^` (it would add conditions to ServiceNow's encoded query) or control characters."""

PRIORITY_HELP = f"ServiceNow's priority code: {_levels(INCIDENT.priorities.items())}."
LEVEL_HELP = f"ServiceNow's code: {_levels(INCIDENT.levels)}."
CREDENTIALS_PATTERN = r"^[^:\s](?:[^:\r\n]*[^:\s])?:[^\r\n]+$"
"""`username:password` as `servicenow.config.parse_credentials` accepts it: a user name without a colon,
line breaks or surrounding spaces, then a non-empty password without line breaks (it may hold colons)."""
INSTANCE_URL_PATTERN = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+\s*$"
"""What every accepted instance URL looks like (the host and port are checked further when connecting)."""

Level = Literal["1", "2", "3"]
Priority = Literal["1", "2", "3", "4", "5"]
TicketType = Literal["incident", "problem", "defect", "enhancement"]
"""The REST API's names of the ticket kinds (`servicenow.kinds.TICKET_TYPES`)."""
TICKET_TYPE_HELP = (
    "incident, problem (the problem table), defect (rm_defect) or enhancement (rm_enhancement; both need "
    "the Agile Development plugin)."
)
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_DESCRIPTION_MAX)
]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
SysId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SYS_ID_PATTERN)]


def _utc_seconds(value: datetime) -> str:
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(_utc_seconds, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": UTC_PATTERN,
            "description": "UTC, RFC 3339 at whole seconds with the Z offset, e.g. 2026-01-23T19:51:24Z.",
        }
    ),
]
"""A UTC moment at whole seconds, always written `2026-01-23T19:51:24Z`."""


def state_label(code: str, fallback: str | None = None) -> str:
    """`"1"` -> `"New"`; an unknown code keeps the instance's own label (or `Unknown (<code>)`)."""
    return INCIDENT.state_label(code, fallback)


def iso_utc(value: datetime | None) -> datetime | None:
    """The moment in UTC at whole seconds (a naive value is taken as UTC)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=0)


def _display(ref: Reference | None) -> str | None:
    if ref is None or not ref.value:
        return None
    return ref.display or ref.value


# ----------------------------------------------------------------------------------------------- tickets


class TicketMetadata(BaseModel):
    work_notes: str = ""
    close_notes: str = ""


class Ticket(BaseModel):
    """A ServiceNow incident as the ticketing API shows it (the spec's create-ticket response)."""

    ticket_id: str = Field(description="The ticket's sys_id.")
    ticket_number: str = Field(description="The ticket number, e.g. INC0010006, PRB0010001, DFCT0010001.")
    ticket_type: TicketType = Field(default="incident", description=TICKET_TYPE_HELP)
    title: str
    description: str
    status: str = Field(
        description=f"The state's label (an incident's: {', '.join(INCIDENT.states.values())})."
    )
    priority: str = Field(description=PRIORITY_HELP)
    urgency: str = Field(description=LEVEL_HELP)
    impact: str = Field(description=LEVEL_HELP)
    category: str
    subcategory: str
    created_at: UtcTimestamp | None
    updated_at: UtcTimestamp | None
    resolved_at: UtcTimestamp | None
    closed_at: UtcTimestamp | None
    assigned_to: str | None
    assigned_group: str | None
    requester: str | None
    url: str
    comments_count: int | None = None
    metadata: TicketMetadata

    @classmethod
    def from_incident(cls, incident: Incident) -> Ticket:
        kind = kind_named(incident.ticket_kind)
        return cls(
            ticket_id=incident.sys_id,
            ticket_number=incident.number,
            ticket_type=kind.type_name,
            title=incident.short_description,
            description=incident.description,
            status=kind.state_label(incident.state, incident.state_label),
            priority=incident.priority,
            urgency=incident.urgency,
            impact=incident.impact,
            category=incident.category,
            subcategory=incident.subcategory,
            created_at=iso_utc(incident.created_on),
            updated_at=iso_utc(incident.updated_on),
            resolved_at=iso_utc(incident.resolved_at),
            closed_at=iso_utc(incident.closed_at),
            assigned_to=_display(incident.assigned_to),
            assigned_group=_display(incident.assignment_group),
            requester=_display(incident.caller_id),
            url=incident.url,
            comments_count=None,
            metadata=TicketMetadata(
                work_notes=incident.work_notes or "", close_notes=incident.close_notes or ""
            ),
        )


class TicketSummary(BaseModel):
    """One search hit (the spec's search-response item), its fields in the same form as a `Ticket`'s."""

    ticket_id: str
    ticket_number: str
    ticket_type: TicketType = Field(default="incident", description=TICKET_TYPE_HELP)
    title: str
    description: str
    status: str
    priority: str = Field(description=PRIORITY_HELP)
    created_at: UtcTimestamp | None
    updated_at: UtcTimestamp | None
    assigned_to: str | None
    url: str

    @classmethod
    def from_incident(cls, incident: Incident) -> TicketSummary:
        kind = kind_named(incident.ticket_kind)
        return cls(
            ticket_id=incident.sys_id,
            ticket_number=incident.number,
            ticket_type=kind.type_name,
            title=incident.short_description,
            description=incident.description,
            status=kind.state_label(incident.state, incident.state_label),
            priority=incident.priority,
            created_at=iso_utc(incident.created_on),
            updated_at=iso_utc(incident.updated_on),
            assigned_to=_display(incident.assigned_to),
            url=incident.url,
        )


class TicketSearchResponse(BaseModel):
    items: list[TicketSummary]
    total: int
    page: int
    size: int
    pages: int

    @staticmethod
    def page_count(total: int, size: int) -> int:
        return ceil(total / size) if size else 0


# ------------------------------------------------------------------------------------------ request bodies


IntegrationRef = Annotated[int, Field(ge=1, le=2**63 - 1)]
INTEGRATION_ID_HELP = (
    "The ServiceNow integration (GET /api/integrations/ticketing lists them) the ticket is in; the default one "
    "when absent. 404 for an unknown id, 409 when its last connection check failed."
)


class CreateTicketRequest(BaseModel):
    """The spec's create-ticket request: `{"title": ..., "priority": "3", "urgency": "3", "impact": "3"}`."""

    model_config = ConfigDict(extra="forbid")

    title: Title = Field(description="The ticket's short description (required, at most 160 characters).")
    ticket_type: TicketType = Field(default="incident", description="The kind to create: " + TICKET_TYPE_HELP)
    priority: Priority | None = Field(
        default=None,
        description=(
            "Sent for defect and enhancement (1 - Critical ... 5 - Planning); for incident and problem it is "
            "accepted for compatibility but not sent: ServiceNow computes it from impact x urgency."
        ),
    )
    urgency: Level | None = Field(default=None, description="1 - High, 2 - Medium, 3 - Low.")
    impact: Level | None = Field(default=None, description="1 - High, 2 - Medium, 3 - Low.")
    description: OptionalText | None = Field(
        default=None,
        description="When empty, the anomaly's details are used (ID, status, type, checks, link).",
    )
    category: ShortText | None = Field(default=None, description="A category value of the instance (exact).")
    subcategory: ShortText | None = Field(
        default=None, description="A subcategory value of the instance (exact)."
    )
    assignment_group: SysId | None = Field(
        default=None, description="The sys_id of the assignment group (not its name)."
    )
    assigned_to: SysId | None = Field(default=None, description="The sys_id of the assignee.")
    integration_id: IntegrationRef | None = Field(default=None, description=INTEGRATION_ID_HELP)

    @field_validator("priority", "urgency", "impact", mode="before")
    @classmethod
    def _int_to_str(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CreateLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=TICKET_ID_PATTERN)] = Field(
        description="The incident's sys_id (32 hex characters) or its number (INC0010006)."
    )
    integration_id: IntegrationRef | None = Field(default=None, description=INTEGRATION_ID_HELP)


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_url: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=INSTANCE_URL_PATTERN),
    ] = Field(description="https://<instance>.service-now.com, without a path or a trailing slash.")
    auth: Literal["basic", "oauth_password", "oauth_client_credentials"] = Field(
        default="basic",
        description="How snowbot logs in: basic (credentials), oauth_password (credentials, client_id and "
        "client_secret: OAuth 2.0 password grant) or oauth_client_credentials (client_id and client_secret "
        "only; Washington DC and later, with glide.oauth.inbound.client.credential.grant_type.enabled).",
    )
    credentials: Annotated[SecretStr | None, Field(json_schema_extra={"pattern": CREDENTIALS_PATTERN})] = (
        Field(
            default=None,
            description="The service account as username:password (basic and oauth_password), or a Vault "
            "reference vault:<mount>/<path>#<key> whose value is that (stored instead of the password). "
            "Never returned.",
        )
    )
    client_id: Annotated[
        str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
    ] = Field(default=None, description="The OAuth application's client id (both OAuth kinds).")
    client_secret: SecretStr | None = Field(
        default=None, description="The OAuth application's client secret (both OAuth kinds). Never returned."
    )

    @field_validator("credentials")
    @classmethod
    def _username_colon_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            parse_credentials(value)
        except ConfigurationError as err:
            raise ValueError(err.message) from None
        return value

    @model_validator(mode="after")
    def _what_the_auth_needs(self) -> ConnectRequest:
        if self.auth == "oauth_client_credentials":
            if self.credentials is not None:
                raise ValueError(
                    "oauth_client_credentials takes client_id and client_secret only: leave out credentials"
                )
        elif self.credentials is None:
            raise ValueError(f"auth {self.auth} needs credentials (username:password)")
        if self.auth != "basic" and (not self.client_id or self.client_secret is None):
            raise ValueError(
                f"auth {self.auth} needs client_id and client_secret (the instance's OAuth application)"
            )
        return self


# ------------------------------------------------------------------------------------------------ responses


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error: `detail` says what to do (a list of field issues when the request itself is invalid)."""

    detail: str | list[ValidationIssue]
    field: str | None = Field(default=None, description="The input at fault, when one is.")
    reference: str | None = Field(default=None, description="For 500s: quote it when reporting the error.")


class CreateTicketResponse(BaseModel):
    ticket: Ticket
    anomaly_id: int
    integration_id: int
    message: str


class TicketLinkOut(BaseModel):
    id: int
    anomaly_id: int
    integration_id: int
    ticket_id: str = Field(description="The ticket's sys_id.")
    ticket_number: str
    ticket_type: TicketType = Field(default="incident", description=TICKET_TYPE_HELP)
    status: str
    url: str
    created_by: str | None
    created_at: UtcTimestamp | None
    last_synced_at: UtcTimestamp | None
    anomaly_deleted: bool = Field(
        default=False, description="The anomaly was deleted in Qualytics; the link is no longer synced."
    )
    anomaly_deleted_at: UtcTimestamp | None = None

    @classmethod
    def from_link(cls, link: Link) -> TicketLinkOut:
        return cls(
            id=link.id,
            anomaly_id=link.anomaly_id,
            integration_id=link.integration_id,
            ticket_id=link.ticket_sys_id,
            ticket_number=link.ticket_number,
            ticket_type=link.kind.type_name,
            status=link.status,
            url=link.url,
            created_by=link.created_by,
            created_at=iso_utc(link.created_at),
            last_synced_at=iso_utc(link.last_synced_at),
            anomaly_deleted=link.anomaly_deleted_at is not None,
            anomaly_deleted_at=iso_utc(link.anomaly_deleted_at),
        )


class IntegrationOut(BaseModel):
    """A ServiceNow integration without its credentials."""

    id: int
    name: str
    instance_url: str
    auth_type: str
    status: str
    last_error: str | None
    last_checked_at: UtcTimestamp | None
    is_default: bool
    source: str
    created_at: UtcTimestamp | None
    client_id: str | None = None
    """The OAuth application's client id (OAuth kinds; not a secret)."""
    sync_back: Literal["off", "comment", "comment_and_archive"] = "off"
    """What comes back from ServiceNow to Qualytics (see `IntegrationPatch`)."""

    @classmethod
    def from_integration(cls, integration: Integration) -> IntegrationOut:
        return cls(
            id=integration.id,
            name=integration.name,
            instance_url=integration.instance_url,
            auth_type=integration.auth_type,
            status=integration.status,
            last_error=integration.last_error,
            last_checked_at=iso_utc(integration.last_checked_at),
            is_default=integration.is_default,
            source=integration.source,
            created_at=iso_utc(integration.created_at),
            client_id=integration.client_id,
            sync_back=integration.sync_back
            if integration.sync_back in ("off", "comment", "comment_and_archive")
            else "off",
        )


class IntegrationPatch(BaseModel):
    """The settings of an integration that can be changed after connecting."""

    model_config = ConfigDict(extra="forbid")

    sync_back: Literal["off", "comment", "comment_and_archive"] = Field(
        description="What comes back from ServiceNow to Qualytics: off (the default: only the Slack thread "
        "hears of work notes and comments people write), comment (those, and each resolved, closed or "
        "canceled ticket, become comments on the anomaly), comment_and_archive (also archive the anomaly "
        "as Resolved once all its tickets are resolved or closed; a canceled ticket archives nothing)."
    )


class ConnectResponse(BaseModel):
    message: str
    integration: IntegrationOut


# ------------------------------------------------------------------------------------------ the create form


class FormOption(BaseModel):
    value: str
    label: str
    dependent_value: str | None = Field(default=None, description="For subcategories: the category value.")


class FormField(BaseModel):
    name: str = Field(description="The key in the create-ticket request body.")
    servicenow_field: str
    label: str
    type: Literal["string", "text", "choice", "reference"]
    required: bool = False
    read_only: bool = False
    max_length: int | None = None
    default: str | None = None
    options: list[FormOption] | None = None
    depends_on: str | None = None
    reference_table: str | None = None
    help: str | None = None


class FormSpecification(BaseModel):
    ticket_type: TicketType = Field(default="incident", description="The kind this form creates.")
    ticket_types: list[TicketType] = Field(
        default_factory=lambda: list[TicketType](["incident"]),
        description="The kinds this instance has (a kind whose table it lacks, e.g. without the Agile "
        "Development plugin, is left out).",
    )
    fields: list[FormField]
    choices_source: Literal["instance", "free_text"] = Field(
        description="`instance` when category/subcategory values were read from the instance's sys_choice."
    )

    def field(self, name: str) -> FormField:
        return next(f for f in self.fields if f.name == name)


class DiagnosisCheck(BaseModel):
    """One check of `snowbot doctor`: `fix` says what to do when `ok` is false (empty otherwise)."""

    name: str
    ok: bool
    detail: str
    fix: str


class Diagnosis(BaseModel):
    """`snowbot doctor --json`'s report for one integration; nothing was written anywhere to make it."""

    checks: list[DiagnosisCheck]
