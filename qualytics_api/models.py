"""The Qualytics API's answers as pydantic models: anomalies, their checks and comments, users, pages.

The models follow the real API's shapes (`datastore`/`container` stubs,
`failed_checks[].quality_check.fields[{name}]`, comments embedded in the anomaly detail) and ignore fields
they do not know. Only what the sync cannot do without is strict (an anomaly's `id`, `status`, `created`
and `datastore.id`; a comment's `id` and `created`): a malformed cosmetic field becomes None (or empty)
and a malformed item of a list is left out, so no display field can make an anomaly unreadable. `weight`
is a float or an int (`Union[StrictFloat, StrictInt]` in Qualytics' OpenAPI models, qualytics-examples'
generated client `GetAnomalyListing`). Also the instance's addresses (`instance_url`, `anomaly_url`).
Never does HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

log = logging.getLogger(__name__)

OPEN_STATUSES = ("Active", "Acknowledged")
ARCHIVE_STATUSES = ("Resolved", "Duplicate", "Invalid", "Discarded")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: Any) -> Any:
    """Display text: None or anything that is not a string (a number, an object) becomes ""."""
    return value if isinstance(value, str) else ""


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A malformed optional field is None instead of an error that would make the whole anomaly unreadable."""
    try:
        return handler(value)
    except ValidationError:
        return None


def _number(value: Any) -> Any:
    """A JSON number (not a bool, not a string); an integral float is shown as an int (54.0 -> 54)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() else value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, BeforeValidator(_text)]
Maybe = WrapValidator(_or_none)
OptionalStr = Annotated[str | None, Maybe]
OptionalInt = Annotated[int | None, Maybe]
Number = Annotated[float | int | None, BeforeValidator(_number)]


def _fingerprint(value: Any) -> Any:
    """An int in the 2026 docs, an optional string in the Oct 2025 models (qualytics-api.md §3): kept as text."""
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


Fingerprint = Annotated[str | None, BeforeValidator(_fingerprint)]


def _valid_items(model: type[BaseModel], value: Any) -> list[Any]:
    """The items of a list that parse as `model`; malformed ones are left out (and logged at DEBUG)."""
    if not isinstance(value, list):
        return []
    kept = []
    for item in value:
        try:
            kept.append(model.model_validate(item))
        except ValidationError as exc:
            log.debug(
                "Qualytics answer: a malformed %s left out (%s)", model.__name__, exc.errors()[0]["msg"]
            )
    return kept


def _names(value: Any) -> list[str]:
    """The API sends `[{"name": "total_amount"}, ...]` (fields, tags); keep just the names (malformed entries
    left out)."""
    if not isinstance(value, list):
        return []
    names = (item.get("name") if isinstance(item, Mapping) else item for item in value)
    return [name for name in names if isinstance(name, str)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Datastore(_Model):
    id: int
    name: Text = ""
    type: OptionalStr = None  # e.g. "snowflake", "postgresql"
    store_type: OptionalStr = None  # "jdbc" or "dfs"


class Container(_Model):
    id: int
    name: Text = ""
    container_type: OptionalStr = None  # "table", "view", "file", "computed_table", ...


class QualityCheck(_Model):
    id: OptionalInt = None
    rule_type: Text = ""
    fields: list[str] = Field(default_factory=list)
    description: Text = ""

    @field_validator("fields", mode="before")
    @classmethod
    def _field_names(cls, value: Any) -> Any:
        return _names(value)


class FailedCheck(_Model):
    message: Text = ""
    quality_check: QualityCheck = Field(default_factory=QualityCheck)

    @field_validator("quality_check", mode="before")
    @classmethod
    def _missing_check(cls, value: Any) -> Any:
        return value if isinstance(value, Mapping) else {}


class CommentUser(_Model):
    name: Text = ""
    email: OptionalStr = None


class Comment(_Model):
    id: int
    created: UtcDatetime
    message: Text = ""
    user: CommentUser = Field(default_factory=CommentUser)
    anomaly_id: OptionalInt = None  # only in `GET /api/comments` answers

    @field_validator("user", mode="before")
    @classmethod
    def _missing_user(cls, value: Any) -> Any:
        return value if isinstance(value, Mapping) else {}


class QualyticsUser(_Model):
    id: OptionalInt = None
    name: Text = ""
    email: OptionalStr = None
    role: OptionalStr = None


class Anomaly(_Model):
    """One anomaly. List answers carry no comments, so `comments` is empty there; the detail has them."""

    id: int
    uuid: OptionalStr = None
    type: Text = ""  # "record" or "shape"
    status: str  # open string: Active, Acknowledged; archived: Resolved, Duplicate, Invalid, Discarded
    archived: bool = False
    created: UtcDatetime
    weight: Number = None  # the severity score; may be fractional
    anomalous_records_count: OptionalInt = None
    description: Text = ""
    datastore: Datastore
    container: Annotated[Container | None, Maybe] = None
    failed_checks: list[FailedCheck] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)  # oldest first
    tags: list[str] = Field(default_factory=list, validation_alias=AliasChoices("tags", "global_tags"))
    fingerprint: Fingerprint = None  # the same for recurrences of one problem (bot/usecases/recurrence.py)

    @model_validator(mode="before")
    @classmethod
    def _derive_archived(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data.get("archived"), bool):
            return {**data, "archived": data.get("status") in ARCHIVE_STATUSES}
        return data

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("failed_checks", mode="before")
    @classmethod
    def _valid_checks(cls, value: Any) -> Any:
        return _valid_items(FailedCheck, value)

    @field_validator("comments", mode="before")
    @classmethod
    def _valid_comments(cls, value: Any) -> Any:
        return _valid_items(Comment, value)

    @field_validator("comments")
    @classmethod
    def _oldest_first(cls, value: list[Comment]) -> list[Comment]:
        return sorted(value, key=lambda comment: (comment.created, comment.id))

    @property
    def fields(self) -> list[str]:
        """The anomalous fields: every failed check's fields, in order, without repeats."""
        return list(dict.fromkeys(f for check in self.failed_checks for f in check.quality_check.fields))


class AnomalyPage(_Model):
    items: list[Anomaly]
    total: int
    page: int
    size: int

    @property
    def has_more(self) -> bool:
        return self.page * self.size < self.total


def anomaly_url(base_url: str, anomaly: Anomaly) -> str:
    """The anomaly's page in the Qualytics UI: `<QUALYTICS_URL>/datastores/<datastore id>/anomalies?id=<id>`."""
    return f"{instance_url(base_url)}/datastores/{anomaly.datastore.id}/anomalies?id={anomaly.id}"


def instance_url(base_url: str) -> str:
    """`https://acme.qualytics.io/`, `.../api` and `.../api/` all mean the instance `https://acme.qualytics.io`."""
    url = base_url.strip().rstrip("/")
    return url.removesuffix("/api").rstrip("/")
