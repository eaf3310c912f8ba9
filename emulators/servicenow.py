"""A ServiceNow instance on loopback: the Table API subset snowbot uses, shaped like a real instance.

Every rule here follows `/work/shared/reference/servicenow-table-api.md` (§ numbers below point into it).

- Tables: incident, problem, and the Agile Development plugin's rm_defect and rm_enhancement (left out
  with `agile=False`: they then answer 400 `Invalid table rm_defect`, as an instance without the plugin
  does, reference §2 O5), sys_user, sys_user_group, sys_choice, sys_journal_field (read-only through the
  API), sys_user_role and sys_user_has_role (each login's roles);
  any other name is 400 `Invalid table <name>`. Every stored value is a string.
- The ticket tables' facts (numbers, states, resolve rules) are `servicenow.kinds`' and the sources named
  there: problem numbers PRBnnnnnnn, states 101-107 with `problem_state` kept equal, priority from impact
  and urgency (`problem-form.md`: "set according to the Impact and Urgency values"), the Madrid data
  policy of servicenow.itsm's `validate_params` (Resolved/Closed need resolution_code and its notes, any
  state past New needs assigned_to); rm_defect / rm_enhancement numbers DFCT / ENHC, rm_task's states
  (close states 3, 4, 7 make the record inactive, `default-state-categories-for-release-and-release-
  task-tables.md`) and a priority that is set, not computed.
- Auth: HTTP Basic against the configured users, or a Bearer token from `POST /oauth_token.do` for one of
  `oauth_clients` (`emulators.servicenow_oauth`); 401 with the real envelope otherwise. Writes to
  incident need the `itil` or `admin` role, writes to other tables `admin` (403 `Operation Failed`).
- Read ACLs (`read_acls`, per table or `table.field`; roles per user; `admin` passes every ACL), from the
  reference's corrections section: sys_choice's `name`, `element` and `value` are hidden from non-admin
  accounts (a query filtering on one answers 403 "Insufficient rights to query records" / "Field(s)
  present in the query do not have permission to be read", and rows come back without them), and
  sys_journal_field answers 200 with no rows (404 for one record) to an account that may not read it.
- Journal writes (work_notes, comments) to a Closed (7) or Canceled (8) incident are dropped silently:
  the PATCH answers 200 and no journal row is written (reference, corrections section); the same for the
  closed states of the other ticket tables (a Closed problem, a closed rm_* record) [INF: closed-record
  write rules are commonly customised alike].
- GET: the encoded query of §6 (split on `^` exactly as the server does, so injected `^NQ...` behaves as
  on a real instance), paging with X-Total-Count and the Link header of §3, sysparm_fields with one level
  of dot-walk, and the three display modes of §4. Name-value filters (`?number=INC0000002`) AND with it;
  unknown fields are ignored unless the system property `glide.invalid_query.returns_no_rows` is "true"
  (`properties=`). `123TEXTQUERY321=` is a plain text search and CONTAINS is LIKE; any other operator, and
  JOIN/RLQUERY/SUBQUERY, are refused with 400 "Unsupported query", never silently ignored.
- Request targets over 8 KB answer 414 with an HTML page; the Batch API (`POST /api/now/v1/batch`) runs
  base64 items as pysnc's update_multiple, delete_multiple and long queries send them.
- POST/PATCH/PUT: a client-chosen 32-character sys_id on insert is kept; the incident business rules of
  §7 (numbering, defaults, priority matrix, state sync, resolve/close stamps, the close-code data policy,
  work notes and comments as sys_journal_field rows).
- Faults: `self.faults` decides once per request, before handling: "error" and "rate_limit" answer at
  once; "drop" applies the request and then loses the response. How it is lost depends on how the
  request arrived: `.transport()` wraps the app in a tiny ASGI shim that marks the scope
  (`emulators.transport.IN_PROCESS`); such requests get the `DROPPED_HEADER` that `DroppingTransport` turns into
  `httpx.ReadTimeout`. Requests without the mark came over a real socket: the emulator holds the answer
  for `drop_hang` seconds, or until the client hangs up, whichever comes first.
- `hibernating = True` answers every request with the 200 HTML page of a sleeping developer instance.
- For a person's browser: `/` is an index, and `/nav_to.do?uri=incident.do?sys_id=<id>` (the link snowbot
  gives for an incident) a read-only view of the record and its work notes behind the Basic login.

Choices (sys_choice) are always present; `seed=True` adds demo groups, people and a few old incidents.
Inferred details, not verified on an instance: the `next` link is left out on the last page; an empty
reference in `all` mode is `{"display_value": "", "value": ""}`; a journal field in `all` mode carries
its entries in `display_value` and `""` in `value`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from operator import itemgetter
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.faults import Fault, Faults
from emulators.pages import page as _page
from emulators.pages import wants_json as _wants_json
from emulators.servicenow_oauth import DEFAULT_TOKEN_LIFETIME, OAuthClient, TokenEndpoint
from emulators.transport import DroppingTransport, RecordedRequest, lose_response

Row = dict[str, str]
Getter = Callable[[Row], str]


def _incident_link(sys_id: str) -> str:
    return f"/nav_to.do?uri=incident.do?sys_id={sys_id}"


ADMIN_SYS_ID = "6816f79cc0a8016401c5a33be04be441"
NETWORK_GROUP_SYS_ID = "287ebd7da9fe198100f92cc8d1d2154e"
SERVICE_DESK_GROUP_SYS_ID = "d625dccec0a8016700a222a0f7900d06"
RATE_LIMIT_RULE_SYS_ID = "0e7b4d2a1b8c4f6e9a3d5c7b1e2f4a6c"
DEFAULT_USERS = (("admin", "admin", ("admin", "itil")),)
_NAMESPACE = uuid.UUID("5b0f0c55-6e0b-4c1c-9d42-7a1f3c9e8b21")

_SYS = ("sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count")
FIELDS: dict[str, tuple[str, ...]] = {
    "incident": (
        *_SYS,
        *("sys_class_name", "number", "short_description", "description", "state", "incident_state"),
        *("impact", "urgency", "priority", "category", "subcategory", "caller_id", "opened_by", "opened_at"),
        *("assigned_to", "assignment_group", "resolved_by", "resolved_at", "closed_by", "closed_at"),
        *("close_code", "close_notes", "hold_reason", "active", "contact_type", "reassignment_count"),
        *("correlation_id", "correlation_display", "work_notes", "comments", "comments_and_work_notes"),
    ),
    # servicenow.itsm `plugins/modules/problem.py` RETURN sample (a problem record's fields).
    "problem": (
        *_SYS,
        *("sys_class_name", "number", "short_description", "description", "state", "problem_state"),
        *("impact", "urgency", "priority", "category", "subcategory", "opened_by", "opened_at"),
        *("assigned_to", "assignment_group", "resolved_by", "resolved_at", "closed_by", "closed_at"),
        *("resolution_code", "cause_notes", "fix_notes", "close_notes", "duplicate_of", "active"),
        *("correlation_id", "correlation_display", "work_notes", "comments", "comments_and_work_notes"),
    ),
    # Agile 2.0's defect and enhancement forms (`create-defect-report.md`, `create-enhancement-request.md`)
    # and the task fields every task table inherits.
    **dict.fromkeys(
        ("rm_defect", "rm_enhancement"),
        (
            *_SYS,
            *("sys_class_name", "number", "short_description", "description", "state", "priority"),
            *("opened_by", "opened_at", "assigned_to", "assignment_group", "closed_by", "closed_at"),
            *("close_notes", "active", "correlation_id", "correlation_display", "product"),
            *("work_notes", "comments", "comments_and_work_notes"),
        ),
    ),
    "sys_user": (*_SYS, "user_name", "name", "first_name", "last_name", "email", "title", "active"),
    "sys_user_group": (*_SYS, "name", "description", "email", "manager", "active"),
    "sys_choice": (
        *_SYS,
        *("name", "element", "value", "label", "sequence", "inactive", "language", "dependent_value", "hint"),
    ),
    "sys_journal_field": (*_SYS[:3], "element", "element_id", "name", "value", "sys_tags"),
    # ServiceNow docs, "User roles" / the sys_user_has_role table: one row per (user, role), `role` a
    # reference to sys_user_role; `state` "active". Each login's roles are kept here (`add_user`).
    "sys_user_role": (*_SYS, "name", "description"),
    "sys_user_has_role": (*_SYS, "user", "role", "state", "inherited"),
}
_FIELD_SETS = {table: frozenset(fields) for table, fields in FIELDS.items()}
REFERENCES: dict[str, dict[str, str]] = {
    "incident": {
        **dict.fromkeys(("caller_id", "opened_by", "assigned_to", "resolved_by", "closed_by"), "sys_user"),
        "assignment_group": "sys_user_group",
    },
    "problem": {
        **dict.fromkeys(("opened_by", "assigned_to", "resolved_by", "closed_by"), "sys_user"),
        "assignment_group": "sys_user_group",
        "duplicate_of": "problem",
    },
    **dict.fromkeys(
        ("rm_defect", "rm_enhancement"),
        {
            **dict.fromkeys(("opened_by", "assigned_to", "closed_by"), "sys_user"),
            "assignment_group": "sys_user_group",
        },
    ),
    "sys_user_group": {"manager": "sys_user"},
    "sys_user_has_role": {"user": "sys_user", "role": "sys_user_role"},
}
_TICKET_TABLES = ("incident", "problem", "rm_defect", "rm_enhancement")
AGILE_TABLES = frozenset(("rm_defect", "rm_enhancement"))
"""The tables of the Agile Development plugin (`ServiceNowEmulator(agile=False)` leaves them out)."""
JOURNALS: dict[str, dict[str, tuple[str, ...]]] = {
    table: {
        "work_notes": ("work_notes",),
        "comments": ("comments",),
        "comments_and_work_notes": ("comments", "work_notes"),
    }
    for table in _TICKET_TABLES
}
_JOURNAL_LABELS = {"work_notes": "Work notes", "comments": "Additional comments"}
CHOICE_FIELDS: dict[str, frozenset[str]] = {
    "incident": frozenset(
        ("state", "incident_state", "impact", "urgency", "priority", "category", "subcategory")
        + ("close_code", "hold_reason")
    ),
    "problem": frozenset(
        (
            "state",
            "problem_state",
            "impact",
            "urgency",
            "priority",
            "category",
            "subcategory",
            "resolution_code",
        )
    ),
    **dict.fromkeys(("rm_defect", "rm_enhancement"), frozenset(("state", "priority"))),
}
_DISPLAY_FIELD = {
    **dict.fromkeys(_TICKET_TABLES, "number"),
    "sys_user": "name",
    "sys_user_group": "name",
    "sys_choice": "label",
    "sys_journal_field": "value",
    "sys_user_role": "name",
    "sys_user_has_role": "role",
}
_NUMERIC = frozenset(
    (
        "state",
        "incident_state",
        "problem_state",
        "impact",
        "urgency",
        "priority",
        "hold_reason",
        "sys_mod_count",
    )
    + ("reassignment_count", "sequence")
)
_EXACT = frozenset(("sys_id", "element_id"))  # sys_ids compare exactly; other strings case-insensitively
_WRITE_ROLES = {
    "incident": frozenset(("itil", "admin")),
    "problem": frozenset(("itil", "problem_coordinator", "problem_admin", "admin")),  # problem-mgmt roles
    # Agile 2.0 docs: feature_user, scrum_story_creator or scrum_admin create defects and enhancements.
    **dict.fromkeys(
        ("rm_defect", "rm_enhancement"),
        frozenset(("feature_user", "scrum_story_creator", "scrum_admin", "rm_enhancement_admin", "admin")),
    ),
}
_TABLE_DEFAULTS: dict[str, dict[str, str]] = {
    "incident": {
        **{"sys_class_name": "incident", "state": "1", "impact": "3", "urgency": "3", "category": "inquiry"},
        **{"active": "true", "reassignment_count": "0"},
    },
    "problem": {
        **{
            "sys_class_name": "problem",
            "state": "101",
            "problem_state": "101",
            "impact": "3",
            "urgency": "3",
        },
        **{"category": "software", "active": "true"},
    },
    # Agile 2.0: "This field is automatically set to Draft" (rm_task's Open, 1).
    **{
        table: {"sys_class_name": table, "state": "1", "priority": "4", "active": "true"}
        for table in AGILE_TABLES
    },
    "sys_user": {"active": "true"},
    "sys_user_group": {"active": "true"},
    "sys_choice": {"inactive": "false", "language": "en"},
}
_ADMIN_ONLY = frozenset(("admin",))
READ_ACLS: dict[str, frozenset[str]] = {
    # servicenow-table-api.md, corrections: field ACLs strip sys_choice's name, element and value from
    # accounts with no role, snc_read_only or itil; admin gets the rows (an Australia-release developer
    # instance). Ivanti's and merge.dev's connector guides grant read on them to the integration's role.
    **dict.fromkeys(("sys_choice.name", "sys_choice.element", "sys_choice.value"), _ADMIN_ONLY),
    # Same section: sys_journal_field may answer 200 with no rows to an account that may not read it.
    "sys_journal_field": _ADMIN_ONLY,
}
"""The default read ACLs: `table` or `table.field` -> the roles that may read it (admin always may)."""
JOURNAL_CLOSED_STATES = frozenset(("7", "8"))
"""Closed, Canceled: journal writes to these are dropped silently (reference, corrections section)."""
_RM_CLOSED_STATES = frozenset(("3", "4", "7"))
_CLOSED_STATES = {
    "incident": JOURNAL_CLOSED_STATES,
    "problem": frozenset(("107",)),
    **dict.fromkeys(AGILE_TABLES, _RM_CLOSED_STATES),
}
"""Each ticket table's closed states: inactive, and journal writes dropped silently."""
NUMBER_PREFIXES = {"incident": "INC", "problem": "PRB", "rm_defect": "DFCT", "rm_enhancement": "ENHC"}
_PROBLEM_STATES = (
    ("101", "New"),
    ("102", "Assess"),
    ("103", "Root Cause Analysis"),
    ("104", "Fix in Progress"),
    ("106", "Resolved"),
    ("107", "Closed"),
)
PROBLEM_RESOLUTION_CODES = (
    ("fix_applied", "Fix Applied"),
    ("risk_accepted", "Risk Accepted"),
    ("duplicate", "Duplicate"),
    ("canceled", "Canceled"),
)
"""servicenow.itsm's problem module: resolution_code choices."""
_PROBLEM_RESOLUTION_NEEDS = {
    "fix_applied": (("cause_notes", "Cause notes"), ("fix_notes", "Fix notes")),
    "risk_accepted": (("cause_notes", "Cause notes"), ("close_notes", "Close notes")),
    "canceled": (("close_notes", "Close notes"),),
    "duplicate": (("duplicate_of", "Duplicate of"),),
}
_RM_STATES = (
    ("-5", "Pending"),
    ("1", "Open"),
    ("2", "Work in Progress"),
    ("3", "Closed Complete"),
    ("4", "Closed Incomplete"),
    ("7", "Closed Skipped"),
)
_PROBLEM_CATEGORIES = (("software", "Software"), ("hardware", "Hardware"), ("network", "Network"))
_PROBLEM_CATEGORIES += (("database", "Database"),)

PRIORITY = {
    ("1", "1"): "1", ("1", "2"): "2", ("1", "3"): "3",
    ("2", "1"): "2", ("2", "2"): "3", ("2", "3"): "4",
    ("3", "1"): "3", ("3", "2"): "4", ("3", "3"): "5",
}  # fmt: skip
"""(impact, urgency) -> priority, the default lookup rules of §7.3."""

_STATES = (
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
)
_LEVELS = (("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low"))
_PRIORITIES = (
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
)
_CATEGORIES = (
    ("inquiry", "Inquiry / Help"),
    ("software", "Software"),
    ("hardware", "Hardware"),
    ("network", "Network"),
    ("database", "Database"),
)
_SUBCATEGORIES = {
    "inquiry": (
        ("antivirus", "Antivirus"),
        ("email", "Email"),
        ("internal application", "Internal Application"),
    ),
    "software": (("email", "Email"), ("os", "Operating System")),
    "hardware": tuple((v.lower(), v) for v in ("CPU", "Disk", "Keyboard", "Memory", "Monitor", "Mouse")),
    "network": tuple((v.lower(), v) for v in ("DHCP", "DNS", "IP Address", "VPN", "Wireless")),
    "database": (("db2", "DB2"), ("sql server", "MS SQL Server"), ("oracle", "Oracle")),
}
CLOSE_CODES = {
    "utah": (
        *("Duplicate", "Known error", "No resolution provided", "Resolved by caller", "Resolved by change"),
        *(
            "Resolved by problem",
            "Resolved by request",
            "Solution provided",
            "Workaround provided",
            "User error",
        ),
    ),
    "legacy": (
        *("Solved (Work Around)", "Solved (Permanently)", "Solved Remotely (Work Around)"),
        *("Solved Remotely (Permanently)", "Not Solved (Not Reproducible)", "Not Solved (Too Costly)"),
        "Closed/Resolved by Caller",
    ),
}
_SEED_CLOSE_CODE = {"utah": "Solution provided", "legacy": "Solved (Permanently)"}
_HOLD_REASONS = (
    ("1", "Awaiting Caller"),
    ("3", "Awaiting Problem"),
    ("4", "Awaiting Vendor"),
    ("5", "Awaiting Change"),
)

_OPERATORS = (
    *("DOES NOT CONTAIN", "NOT LIKE", "NOTLIKE", "NOT IN", "ISNOTEMPTY", "ISEMPTY", "EMPTYSTRING"),
    *("ANYTHING", "STARTSWITH", "ENDSWITH", "CONTAINS", "BETWEEN", "LIKE", "IN", "!=", "!*", "<=", ">="),
    *("=", "<", ">", "*", "%"),
)  # longest first where one is a prefix of another
# `*`, `!*` and `%` are the docs' short forms of LIKE, NOT LIKE and ENDSWITH (r_OpAvailableFiltersQueries).
# CONTAINS / DOES NOT CONTAIN are GlideRecord.addQuery's operators (ServiceNow server API docs); pysnc's
# test_link_list encodes `nameCONTAINSa`. Served as LIKE / NOT LIKE.
_ALIASES = {
    "*": "LIKE",
    "CONTAINS": "LIKE",
    "!*": "NOT LIKE",
    "DOES NOT CONTAIN": "NOT LIKE",
    "%": "ENDSWITH",
}
_FIELD_HEAD = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
_UNKNOWN_FIELD_CONDITION = re.compile(
    r"[A-Za-z0-9_.]+?(?:" + "|".join(map(re.escape, _OPERATORS)) + r").*", re.S
)
_NOT_EMULATED = ("IN_HIERARCHY", "INSTANCEOF")  # documented operators that start like a served one (IN)
# Query features that are not conditions; pysnc's add_join_query and add_rl_query write the first two.
_KEYWORDS = ("JOIN", "RLQUERY", "ENDRLQUERY", "SUBQUERY", "ENDSUBQUERY", "GROUPBY")
TEXT_QUERY = "123TEXTQUERY321"
"""The keyword-search pseudo-field of encoded queries (`123TEXTQUERY321=term`, notes §6.1 [D6])."""
INVALID_QUERY_RETURNS_NO_ROWS = "glide.invalid_query.returns_no_rows"
"""Instance property (notes, corrections and §2 [D1]): when "true", a query naming an unknown field matches
no rows instead of ignoring that condition. Set it with `ServiceNowEmulator(properties=...)`."""
_JSON = "application/json;charset=UTF-8"
_HIBERNATING_PAGE = (
    "<!DOCTYPE html><html><head><title>Instance Hibernating page</title></head><body>"
    "<h1>Your instance is hibernating</h1><p>Sign in to the developer portal to wake it up.</p></body></html>"
)
MAX_URL_BYTES = 8192
"""Longer request targets (path and query) answer 414 with the container's HTML page, not the JSON envelope:
the notes' corrections saw 414 at 8,347 bytes ("about 8 KB"); pysnc's test_nonjson_error expects a non-JSON
`<...html>` body for an over-long URL, and PySNC issue #18 quotes the instance's Tomcat HTML error page.
8192 is Tomcat's default header buffer [INF]. Batch items (`/api/now/v1/batch`) carry their URL in the body
and have no such limit, which is why pysnc sends long queries that way."""
_URI_TOO_LONG_PAGE = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 414 – URI Too Long</title></head>'
    "<body><h1>HTTP Status 414 – URI Too Long</h1></body></html>"
)
BATCH_PATHS = frozenset(("/api/now/batch", "/api/now/v1/batch"))
"""The Batch API (ServiceNow docs, "Batch API", POST /now/batch; pysnc's BatchAPI posts to /api/now/v1/batch)."""
_GUID = re.compile(r"[0-9A-Za-z]{32}")
_MANDATORY = "Data Policy Exception: \n\tThe following fields are mandatory: "
_INVALID_BODY = object()
_SEEDED_ON = "2023-09-01 08:00:00"  # base-system and demo rows predate anything a test creates


@dataclass(frozen=True, slots=True)
class _Account:
    user_name: str
    password: str
    roles: frozenset[str]
    sys_id: str


_SYSTEM = _Account("system", "", frozenset(("admin",)), "")


class _Failure(Exception):
    def __init__(
        self, status: int, message: str, detail: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.detail, self.headers = status, message, detail, headers or {}


def _not_found() -> _Failure:
    return _Failure(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")


def _unsupported(condition: str) -> _Failure:
    shown = condition if len(condition) <= 80 else condition[:77] + "..."
    return _Failure(
        400,
        "Unsupported query",
        f"snowbot's ServiceNow emulator does not implement the condition {shown!r}; it serves "
        f"{', '.join(_OPERATORS)}, {TEXT_QUERY}=, ^OR, ^NQ and ORDERBY. A real instance may accept it, "
        "or ignore it and return more rows than you expect.",
    )


def _header_case(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _text(value: Any) -> str:
    """A JSON body value as ServiceNow stores it: always a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _text(value.get("value"))
    return str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _any_of(predicates: list[Callable[[Row], bool]]) -> Callable[[Row], bool]:
    if len(predicates) == 1:
        return predicates[0]
    return lambda row: any(p(row) for p in predicates)


def _all_of(predicates: list[Callable[[Row], bool]]) -> Callable[[Row], bool]:
    if len(predicates) == 1:
        return predicates[0]
    if not predicates:
        return lambda row: True
    return lambda row: all(p(row) for p in predicates)


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(_NAMESPACE, ":".join(parts)).hex


def _pop_notes(table: str, values: dict[str, str]) -> dict[str, str]:
    """Take the journal fields out of a write: element -> text to append (empty text appends nothing)."""
    popped = {field: values.pop(field) for field in JOURNALS.get(table, {}) if field in values}
    return {element: text for element, text in popped.items() if text and element in _JOURNAL_LABELS}


def _envelope(message: str, detail: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


class ServiceNowEmulator:
    """An in-memory ServiceNow Table API. See the module docstring for what it models.

    `users` are (user_name, password, roles) logins, each also a sys_user row; `close_codes` picks the
    Utah+ or legacy resolution codes; `clock` (UTC `datetime` factory) lets tests fix timestamps.
    `base_url` may be reassigned once the real port is known (it feeds Location, links and Link headers).
    """

    def __init__(
        self,
        base_url: str = "https://dev-snowbot.service-now.com",
        users: Iterable[tuple[str, str, Iterable[str]]] | None = None,
        seed: bool = True,
        faults: Faults | None = None,
        drop_hang: float = 30.0,
        close_codes: Literal["utah", "legacy"] = "utah",
        clock: Callable[[], datetime] | None = None,
        properties: Mapping[str, str] | None = None,
        read_acls: Mapping[str, Iterable[str]] | None = None,
        oauth_clients: Iterable[OAuthClient] = (),
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        agile: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.properties: dict[str, str] = dict(properties or {})  # system properties, e.g. INVALID_QUERY_...
        self.read_acls: dict[str, frozenset[str]] = (
            dict(READ_ACLS)
            if read_acls is None
            else {target: frozenset(roles) for target, roles in read_acls.items()}
        )
        """`table` or `table.field` -> roles that may read it; change it (or `grant_read`) per test."""
        self.faults = faults if faults is not None else Faults()
        self.drop_hang = drop_hang
        self.hibernating = False
        self.requests: list[RecordedRequest] = []
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tables: dict[str, dict[str, Row]] = {
            table: {} for table in FIELDS if agile or table not in AGILE_TABLES
        }
        """`agile=False`: an instance without the Agile Development plugin (no rm_defect, rm_enhancement)."""
        self._accounts: dict[str, _Account] = {}
        self._auth_cache: dict[str, _Account] = {}
        self._journals: dict[str, list[Row]] = {}
        self._derived: dict[Any, Any] = {}  # labels, close codes, render plans: all built from sys_choice
        self._next_numbers = dict.fromkeys(NUMBER_PREFIXES, 10001)
        self._seed_choices(close_codes)
        if seed:
            self._seed_people()
        for name, password, roles in DEFAULT_USERS if users is None else users:
            self.add_user(name, password, roles)
        if seed:
            self._seed_incidents(_SEED_CLOSE_CODE[close_codes])
        self.oauth = TokenEndpoint(
            clients={client.client_id: client for client in oauth_clients},
            login=self._login,
            user=lambda name: self._accounts.get(name) if name else next(iter(self._accounts.values()), None),
            clock=self._clock,
            properties=self.properties,
            lifetime=token_lifetime,
        )
        """The token endpoint: `oauth.clients`, `oauth.token_requests`, `oauth.expire_all()`."""
        self.app = Starlette(
            routes=[
                Route("/oauth_token.do", self._token, methods=["POST"]),
                Route("/", self._index, methods=["GET"]),  # stand-ins for the UI: see `_index`, `_nav_to`
                Route("/nav_to.do", self._nav_to, methods=["GET"]),
                Route("/{path:path}", self._endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    # ---- public helpers -------------------------------------------------------------------------------

    def transport(self) -> DroppingTransport:
        """An httpx transport into this instance; dropped responses become `httpx.ReadTimeout`."""
        return DroppingTransport(self.app)

    def reset_log(self) -> None:
        self.requests.clear()

    def grant_read(self, role: str, *targets: str) -> None:
        """Let `role` read these tables or `table.field`s (an ACL an admin adds on a real instance)."""
        for target in targets:
            self.read_acls[target] = self.read_acls.get(target, frozenset()) | {role}

    def add_user(self, name: str, password: str, roles: Iterable[str]) -> Row:
        """Add (or replace) a login; the user also exists as a sys_user row, which is returned."""
        row = self._user_row(name) or self._insert_user(name)
        self._accounts[name] = _Account(name, password, frozenset(roles), row["sys_id"])
        self._auth_cache.clear()
        self._set_roles(row["sys_id"], self._accounts[name].roles)
        return row

    def _set_roles(self, user_sys_id: str, roles: Iterable[str]) -> None:
        """The login's roles as sys_user_role and sys_user_has_role rows (what `snowbot doctor` reads).
        Read ACLs on these tables are not modelled: any account may read them (inferred, not verified)."""
        held = self._tables["sys_user_has_role"]
        for sys_id in [k for k, v in held.items() if v["user"] == user_sys_id]:
            del held[sys_id]
        for role in sorted(roles):
            role_id = _stable_id("sys_user_role", role)
            if role_id not in self._tables["sys_user_role"]:
                self._insert("sys_user_role", {"name": role}, "system", role_id, _SEEDED_ON)
            values = {"user": user_sys_id, "role": role_id, "state": "active", "inherited": "false"}
            sys_id = _stable_id("sys_user_has_role", user_sys_id, role)
            self._insert("sys_user_has_role", values, "system", sys_id, _SEEDED_ON)

    @property
    def incidents(self) -> dict[str, Row]:
        """sys_id -> the live incident record (all values strings)."""
        return self._tables["incident"]

    def records(self, table: str) -> dict[str, Row]:
        """sys_id -> the live records of one table (KeyError for a table this instance lacks)."""
        return self._tables[table]

    def journal(self, sys_id: str, element: str = "work_notes") -> list[Row]:
        """The sys_journal_field rows of one record's journal field, oldest first."""
        return [dict(entry) for entry in self._journals.get(sys_id, ()) if entry["element"] == element]

    def add_incident(self, **fields: Any) -> Row:
        """Create an incident through the same rules as POST, as the first configured user.

        Besides writable fields, `number`, `sys_id` and `sys_created_on` ("YYYY-MM-DD HH:MM:SS", used for
        every timestamp of the creation) may be given, for seeding older records.
        """
        overrides = {
            key: _text(fields.pop(key)) for key in ("number", "sys_id", "sys_created_on") if key in fields
        }
        account = next(iter(self._accounts.values()), _SYSTEM)
        table = _text(fields.pop("table", "incident"))
        return self._insert_incident(self._writable(table, fields), account, table=table, **overrides)

    def update_as(self, user_name: str, sys_id: str, **fields: Any) -> Row:
        """Change an incident as the person `user_name` does in the UI: the same business rules as a
        PATCH, `sys_updated_by` and each journal entry's `sys_created_by` are theirs, `sys_updated_on` the
        clock's now (`work_notes` / `comments` add sys_journal_field rows: ServiceNow docs, c_JournalFields,
        "Journal fields"; sys_created_by is the writer's user name). The person becomes a sys_user row if
        needed (`beth.anglin` is named Beth Anglin); tests use it to write a comment or work note, or to
        resolve or cancel a ticket, as someone other than snowbot's account."""
        user = self._user_row(user_name) or self._insert_user(user_name)
        account = _Account(user_name, "", frozenset({"itil"}), user["sys_id"])
        return dict(self._update("incident", sys_id, {k: _text(v) for k, v in fields.items()}, account))

    def get_by_number(self, number: str) -> Row | None:
        return next((row for row in self.incidents.values() if row["number"] == number), None)

    # ---- ASGI -----------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        method = request.method
        path = request.scope["path"]
        query_bytes = len(request.scope["query_string"])
        target = len(request.scope.get("raw_path") or path.encode()) + (query_bytes + 1 if query_bytes else 0)
        if target > MAX_URL_BYTES:
            self.requests.append(RecordedRequest(method, path, {}, None, 414))
            return Response(_URI_TOO_LONG_PAGE, 414, media_type="text/html")
        query = dict(request.query_params)
        body: Any = None
        if method in ("POST", "PUT", "PATCH"):
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = _INVALID_BODY
        if self.hibernating:
            response = Response(_HIBERNATING_PAGE, 200, media_type="text/html")
            fault: Fault | None = None
        else:
            fault = self.faults.decide(method, path)
            if fault.kind == "error":
                response = self._json(fault.status, self._fault_body(fault.status))
            elif fault.kind == "rate_limit":
                response = self._rate_limited(fault.retry_after or 1)
            else:
                response = self._handle(request, method, path, query, body)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        logged_body = body if isinstance(body, dict) else None
        self.requests.append(RecordedRequest(method, path, query, logged_body, response.status_code))
        if fault is not None and fault.kind == "drop":
            await lose_response(request, response, self.drop_hang)
        return response

    # ---- stand-ins for the UI (a person following a link the bot or the demo printed) ------------------

    async def _index(self, request: Request) -> Response:
        """`/`: a real instance shows its login page here; the emulator names what it serves instead."""
        incidents = sorted(self.incidents.values(), key=itemgetter("number"))
        if _wants_json(request):
            return self._json(
                200,
                {
                    "emulator": "ServiceNow",
                    "table_api": "/api/now/table/{table}",
                    "tables": sorted(FIELDS),
                    "incidents": [r["number"] for r in incidents],
                },
            )
        items = "".join(
            f'<li><a href="{_incident_link(row["sys_id"])}">{escape(row["number"])}</a> '
            f"{escape(row.get('short_description', ''))}</li>"
            for row in incidents
        )
        body = (
            "<p>A ServiceNow emulator for snowbot. The Table API is at <code>/api/now/table/&lt;table&gt;</code> "
            f"(HTTP Basic); tables: {escape(', '.join(sorted(FIELDS)))}.</p><h2>Incidents</h2><ul>{items}</ul>"
        )
        return _page("ServiceNow emulator", body)

    async def _nav_to(self, request: Request) -> Response:
        """`/nav_to.do?uri=incident.do?sys_id=<id>`: the classic-UI link `servicenow.models.incident_url`
        builds (the navigator frame around the record form). The emulator has no UI: it stands in with a
        small read-only view of the record and its work notes (JSON with `Accept: application/json`),
        behind the same Basic login as the API (a browser asks for it), as the real form needs a login."""
        account = self._authenticate(request.headers.get("authorization"))
        if account is None:
            return Response(
                "Log in with an emulator user", 401, {"WWW-Authenticate": 'Basic realm="Service-now"'}
            )
        target = urlsplit(request.query_params.get("uri", ""))
        table = target.path.strip("/").removesuffix(".do")
        sys_id = dict(parse_qsl(target.query)).get("sys_id", "")
        row = self._tables.get(table, {}).get(sys_id) if table in FIELDS else None
        if row is None:
            return _page(
                "Record not found",
                f"<p>No {escape(table or 'record')} with sys_id {escape(sys_id)}.</p>",
                404,
            )
        record = self._render_one(
            row,
            table,
            {"sysparm_display_value": "true", "sysparm_exclude_reference_link": "true"},
            "/api/now/table",
        )
        notes = [entry["value"] for entry in self.journal(sys_id)]
        if _wants_json(request):
            return self._json(200, {"record": record, "work_notes": notes})
        shown = (
            "number",
            "state",
            "short_description",
            "description",
            "assignment_group",
            "close_code",
            "close_notes",
        )
        rows = "".join(
            f"<tr><th>{escape(key)}</th><td><pre>{escape(str(record.get(key) or ''))}</pre></td></tr>"
            for key in shown
            if key in record
        )
        items = "".join(f"<li><pre>{escape(note)}</pre></li>" for note in notes)
        title = f"{record.get('number', sys_id)} · {record.get('state', '')}"
        return _page(escape(title), f"<table>{rows}</table><h2>Work notes, oldest first</h2><ol>{items}</ol>")

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return Response(content, status, headers=headers, media_type=_JSON)

    @staticmethod
    def _fault_body(status: int) -> dict[str, Any]:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return _envelope(phrase, f"Emulated failure ({status})")

    def _rate_limited(self, retry_after: int) -> Response:
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Reset": str(int(time.time()) + retry_after),
            "X-RateLimit-Rule": RATE_LIMIT_RULE_SYS_ID,
        }
        body = _envelope("Rate limit exceeded", "Rate limit of 100 requests per hour for Table API exceeded")
        return self._json(429, body, headers)

    # ---- routing --------------------------------------------------------------------------------------

    def _handle(self, request: Request, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        try:
            account = self._authenticate(request.headers.get("authorization"))
            if account is None:
                raise _Failure(
                    401,
                    "User Not Authenticated",
                    "Required to provide Auth information",
                    {"WWW-Authenticate": 'Basic realm="Service-now"'},
                )
            if path.rstrip("/") in BATCH_PATHS and method == "POST":
                return self._batch(body, request.headers["authorization"])
            api, table, sys_id = self._route(path)
            if table not in self._tables:  # a plugin's table on an instance without the plugin
                raise _Failure(400, f"Invalid table {table}")
            if method in ("GET", "HEAD"):
                hidden = self._check_read(table, query, account)
                if hidden is None:  # no read on the table: no rows, as if there were none
                    if sys_id is None:
                        return self._json(200, {"result": []}, {"X-Total-Count": "0"})
                    raise _not_found()
                if sys_id is None:
                    return self._list(
                        table, query, api, path, request.scope["query_string"].decode("latin-1"), hidden
                    )
                row = self._get(table, sys_id)
                return self._json(200, {"result": self._render_one(row, table, query, api, hidden)})
            if body is _INVALID_BODY or not isinstance(body, dict | None):
                raise _Failure(400, "Exception while reading request", "The payload is not valid JSON.")
            # A write's answer is rendered like a read: sysparm_fields, display values and reference links
            # apply to POST, PUT and PATCH too (ServiceNowDocs c_TableAPI.md, each method's parameters).
            if method == "POST" and sys_id is None:
                row = self._create(table, body or {}, account)
                location = {"Location": f"{self.base_url}{api}/{table}/{row['sys_id']}"}
                return self._json(201, {"result": self._render_one(row, table, query, api)}, location)
            if sys_id is None or method == "POST":
                raise _Failure(405, "Method not Supported", f"{method} is not supported for this resource")
            if method == "DELETE":
                self._delete(table, sys_id, account)
                return Response(status_code=204)
            row = self._update(table, sys_id, body or {}, account)
            return self._json(200, {"result": self._render_one(row, table, query, api)})
        except _Failure as failure:
            return self._json(failure.status, _envelope(failure.message, failure.detail), failure.headers)

    def _batch(self, body: Any, authorization: str) -> Response:
        """POST /api/now/v1/batch: run each of `rest_requests` as its own request of the same user (ACLs apply
        per item, ServiceNow docs "Batch API") and answer them all at once.

        Shapes as pysnc's BatchAPI sends and reads them: items `{id, method, url (relative), headers:
        [{name, value}], body (base64)}`; the answer echoes `batch_request_id` as a string and lists
        `serviced_requests` `{id, status_code, status_text, headers: [{name, value}], body (base64),
        execution_time}` and `unserviced_requests` (always empty here: no size or time limit is emulated).
        `exclude_response_headers: true` on an item drops its headers.
        """
        items = body.get("rest_requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and {"id", "method", "url"} <= item.keys() for item in items
        ):
            raise _Failure(
                400,
                "Exception while reading request",
                "A batch request needs rest_requests: [{id, method, url, headers, body}].",
            )
        serviced = [self._batch_item(item, authorization) for item in items]
        payload = {
            "batch_request_id": _text(body.get("batch_request_id")),
            "serviced_requests": serviced,
            "unserviced_requests": [],
        }
        return self._json(200, payload)

    def _batch_item(self, item: Mapping[str, Any], authorization: str) -> dict[str, Any]:
        method, url = _text(item["method"]).upper(), urlsplit(_text(item["url"]))
        try:
            raw = base64.b64decode(_text(item.get("body")), validate=True)
            body: Any = json.loads(raw) if raw.strip() else {}
        except (binascii.Error, ValueError):
            body = _INVALID_BODY
        if method not in ("POST", "PUT", "PATCH"):
            body = None
        scope = {
            "type": "http",
            "method": method,
            "path": url.path,
            "query_string": url.query.encode("latin-1", "replace"),
            "headers": [(b"authorization", authorization.encode("latin-1"))],
        }
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        response = self._handle(Request(scope), method, url.path, query, body)
        logged_body = body if isinstance(body, dict) else None
        self.requests.append(RecordedRequest(method, url.path, query, logged_body, response.status_code))
        headers = [] if item.get("exclude_response_headers") is True else response.headers.items()
        return {
            "id": _text(item["id"]),
            "status_code": response.status_code,
            "status_text": HTTPStatus(response.status_code).phrase,
            "headers": [{"name": _header_case(name), "value": value} for name, value in headers],
            "body": base64.b64encode(response.body).decode("ascii"),
            "execution_time": 0,
        }

    def _authenticate(self, header: str | None) -> _Account | None:
        if not header:
            return None
        account = self._auth_cache.get(header)
        if account is not None:
            return account
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.oauth.bearer(token)  # never cached: tokens expire
        if scheme.lower() != "basic":
            return None
        try:
            name, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        account = self._login(name, password)
        if account is not None:
            self._auth_cache[header] = account
        return account

    def _login(self, name: str, password: str) -> _Account | None:
        account = self._accounts.get(name)
        if account is None or not secrets.compare_digest(account.password.encode(), password.encode()):
            return None
        return account

    async def _token(self, request: Request) -> Response:
        """`POST /oauth_token.do` (`emulators.servicenow_oauth`)."""
        status, payload = self.oauth.answer(
            await request.body(),
            request.headers.get("content-type", ""),
            request.headers.get("authorization"),
        )
        self.requests.append(RecordedRequest("POST", "/oauth_token.do", {}, None, status))
        return self._json(status, payload)

    @staticmethod
    def _route(path: str) -> tuple[str, str, str | None]:
        """`/api/now[/v1|/v2]/table/<table>[/<sys_id>]` -> (api prefix, table, sys_id)."""
        parts = path.strip("/").split("/")
        versioned = len(parts) > 2 and parts[2][:1] == "v" and parts[2][1:].isdigit()
        head, rest = (parts[:4], parts[4:]) if versioned else (parts[:3], parts[3:])
        if head[:2] != ["api", "now"] or head[-1] != "table" or not 1 <= len(rest) <= 2 or not all(rest):
            raise _Failure(400, "Requested URI does not represent any resource")
        table = rest[0]
        if table not in FIELDS:
            raise _Failure(400, f"Invalid table {table}")
        return "/" + "/".join(head), table, rest[1] if len(rest) == 2 else None

    def _may_read(self, account: _Account, target: str) -> bool:
        allowed = self.read_acls.get(target)
        return allowed is None or "admin" in account.roles or bool(account.roles & allowed)

    def _check_read(self, table: str, query: Mapping[str, str], account: _Account) -> frozenset[str] | None:
        """The fields of `table` this account may not read (None: not the table at all); 403 when the
        query filters on one of them, in sysparm_query or as a name-value filter (reference, corrections
        section: the recorded sys_choice answer)."""
        if not self._may_read(account, table):
            return None
        hidden = frozenset(name for name in FIELDS[table] if not self._may_read(account, f"{table}.{name}"))
        if hidden:
            filtered = [name for name in query if not name.startswith("sysparm_")]
            for part in query.get("sysparm_query", "").split("^"):
                part = part[2:] if part.startswith(("NQ", "OR")) else part
                found = None if part.startswith("ORDERBY") else _FIELD_HEAD.match(part)
                if found is not None:
                    filtered.append(found.group(0))
            for name in filtered:
                if name.partition(".")[0] in hidden:
                    raise _Failure(
                        403,
                        "Insufficient rights to query records",
                        "Field(s) present in the query do not have permission to be read",
                    )
        return hidden

    def _get(self, table: str, sys_id: str) -> Row:
        row = self._tables[table].get(sys_id)
        if row is None:
            raise _not_found()
        return row

    # ---- reads ----------------------------------------------------------------------------------------

    def _list(
        self,
        table: str,
        query: dict[str, str],
        api: str,
        path: str,
        raw_query: str,
        hidden: frozenset[str] = frozenset(),
    ) -> Response:
        matches, order = self._compile(table, query.get("sysparm_query", ""))
        filtered = self._name_value_filter(table, query)
        if filtered is not None:
            matches = filtered if matches is None else _all_of([matches, filtered])
        rows = self._tables[table].values()
        found = [row for row in rows if matches(row)] if matches else list(rows)
        for get, descending, numeric in reversed(order):
            found.sort(key=self._sort_key(get, numeric), reverse=descending)
        limit = self._int(query.get("sysparm_limit"), 10000)
        offset = max(self._int(query.get("sysparm_offset"), 0), 0)
        total = len(found)
        plan = self._plan(table, query, api, hidden)
        result = [{key: render(row) for key, render in plan} for row in found[offset : offset + limit]]
        headers = {"X-Total-Count": str(total)}
        if query.get("sysparm_suppress_pagination_header", "").lower() != "true":
            headers["Link"] = self._links(path, raw_query, limit, offset, total)
        return self._json(200, {"result": result}, headers)

    def _name_value_filter(self, table: str, query: Mapping[str, str]) -> Callable[[Row], bool] | None:
        """`?number=INC0000002&active=true`: every parameter not named sysparm_* is a field that must equal
        its value, ANDed with sysparm_query. Documented in the Table API (§2 [D1], "display values allowed
        for choice/reference", so `state=closed` and `assignment_group=Network` match too) and used by
        servicenow.itsm's table client [C3]. An unknown field is ignored (the notes' corrections), or
        matches nothing with `glide.invalid_query.returns_no_rows`.
        """
        predicates = []
        for name, value in query.items():
            if name.startswith("sysparm_"):
                continue
            resolved = self._resolve(table, name)
            if resolved is None:
                if self._invalid_query_returns_no_rows():
                    return lambda row: False
                continue
            predicates.append(self._equals_value_or_display(*resolved, value))
        return _all_of(predicates) if predicates else None

    def _equals_value_or_display(
        self, get: Getter, owner: str, field: str, value: str
    ) -> Callable[[Row], bool]:
        """`field=value` of a name-value filter: the stored value, or the display value of a reference or
        choice (case-insensitive except sys_ids and references, as in `_condition`)."""
        target = REFERENCES.get(owner, {}).get(field)
        if target is not None:
            rows, shown = self._tables[target], _DISPLAY_FIELD[target]

            def display(row: Row) -> str:
                referenced = rows.get(get(row))
                return referenced[shown] if referenced is not None else ""

        elif field in CHOICE_FIELDS.get(owner, ()):
            labels = self._labels(owner).get(field, {})

            def display(row: Row) -> str:
                return labels.get(get(row), "")

        else:
            display = get
        wanted = value.lower()
        if field in _EXACT or target is not None:
            return lambda row: get(row) == value or display(row).lower() == wanted
        return lambda row: get(row).lower() == wanted or display(row).lower() == wanted

    @staticmethod
    def _int(text: str | None, default: int) -> int:
        try:
            value = int(text) if text is not None else default
        except ValueError:
            return default
        return value if value >= 0 else default

    def _links(self, path: str, raw_query: str, limit: int, offset: int, total: int) -> str:
        """The RFC 5988 Link header of §3: first, prev (even on the first page), next, last."""
        kept = [
            p for p in raw_query.split("&") if p and not p.startswith(("sysparm_limit=", "sysparm_offset="))
        ]
        base = f"{self.base_url}{path}?{''.join(p + '&' for p in kept)}sysparm_limit={limit}&sysparm_offset="
        links = [f'<{base}0>;rel="first"', f'<{base}{offset - limit}>;rel="prev"']
        if offset + limit < total:
            links.append(f'<{base}{offset + limit}>;rel="next"')
        links.append(f'<{base}{max(total - limit, 0)}>;rel="last"')
        return ",".join(links)

    @staticmethod
    def _sort_key(get: Getter, numeric: bool) -> Callable[[Row], Any]:
        if not numeric:
            return lambda row: get(row).lower()

        def key(row: Row) -> float:
            value = _number(get(row))
            return float("-inf") if value is None else value

        return key

    def _render_one(
        self, row: Row, table: str, query: dict[str, str], api: str, hidden: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        return {key: render(row) for key, render in self._plan(table, query, api, hidden)}

    def _plan(
        self, table: str, query: dict[str, str], api: str, hidden: frozenset[str] = frozenset()
    ) -> list[tuple[str, Callable[[Row], Any]]]:
        """One renderer per output key, for the display mode and fields of this request (cached); fields
        in `hidden` (no read ACL) are left out, as a real instance strips them."""
        mode = query.get("sysparm_display_value", "false").lower()
        exclude_link = query.get("sysparm_exclude_reference_link", "").lower() == "true"
        fields = query.get("sysparm_fields", "")
        key = (table, mode, exclude_link, fields, api, self.base_url, hidden)
        plan = self._derived.get(key)
        if plan is None:
            if len(self._derived) > 256:  # arbitrary sysparm_fields must not grow the cache without bound
                self._derived.clear()
            wanted = [f.strip() for f in fields.split(",") if f.strip()] or FIELDS[table]
            wanted = [name for name in wanted if name.partition(".")[0] not in hidden]
            resolved = [(name, self._resolve(table, name)) for name in wanted]
            plan = [
                (name, self._renderer(*r, mode, exclude_link, api)) for name, r in resolved if r is not None
            ]
            self._derived[key] = plan
        return plan

    def _resolve(self, table: str, path: str) -> tuple[Getter, str, str] | None:
        """A field path (`state`, `caller_id.email`) -> (getter, table owning the field, field)."""
        head, dot, tail = path.partition(".")
        if head not in _FIELD_SETS[table]:
            return None
        if not dot:
            return itemgetter(head), table, head
        target = REFERENCES.get(table, {}).get(head)
        if target is None or tail not in _FIELD_SETS[target]:
            return None
        rows = self._tables[target]

        def get(row: Row) -> str:
            referenced = rows.get(row[head])
            return referenced[tail] if referenced is not None else ""

        return get, target, tail

    def _renderer(
        self, get: Getter, owner: str, field: str, mode: str, exclude_link: bool, api: str
    ) -> Callable[[Row], Any]:
        """How one field reads in display mode false / true / all (§4)."""
        target = REFERENCES.get(owner, {}).get(field)
        if target is not None:
            return self._reference_renderer(
                get, target, mode, exclude_link, f"{self.base_url}{api}/{target}/"
            )
        elements = JOURNALS.get(owner, {}).get(field)
        if elements is not None:
            if mode == "true":
                return lambda row: self._journal_text(row["sys_id"], elements)
            if mode == "all":
                return lambda row: {"display_value": self._journal_text(row["sys_id"], elements), "value": ""}
            return lambda row: ""
        if mode not in ("true", "all"):
            return get
        if field in CHOICE_FIELDS.get(owner, ()):
            labels = self._labels(owner).get(field, {})

            def display(row: Row) -> str:
                value = get(row)
                return labels.get(value, value)

        else:
            display = get
        if mode == "true":
            return display
        return lambda row: {"display_value": display(row), "value": get(row)}

    def _reference_renderer(
        self, get: Getter, target: str, mode: str, exclude_link: bool, link: str
    ) -> Callable[[Row], Any]:
        rows, shown = self._tables[target], _DISPLAY_FIELD[target]

        def display(value: str) -> str:
            referenced = rows.get(value)
            return referenced[shown] if referenced is not None else ""

        def render(row: Row) -> Any:
            value = get(row)
            if mode == "true":
                if not value:
                    return ""
                return (
                    display(value)
                    if exclude_link
                    else {"display_value": display(value), "link": link + value}
                )
            if mode == "all":
                if not value:
                    return {"display_value": "", "value": ""}
                if exclude_link:
                    return {"display_value": display(value), "value": value}
                return {"display_value": display(value), "link": link + value, "value": value}
            if exclude_link or not value:
                return value
            return {"link": link + value, "value": value}

        return render

    def _journal_text(self, sys_id: str, elements: tuple[str, ...]) -> str:
        """Journal entries as the display value shows them: newest first, `<date> - <name> (<label>)`."""
        entries = [entry for entry in self._journals.get(sys_id, ()) if entry["element"] in elements]
        return "".join(
            f"{e['sys_created_on']} - {self._user_display(e['sys_created_by'])} ({_JOURNAL_LABELS[e['element']]})"
            f"\n{e['value']}\n\n"
            for e in reversed(entries)
        )

    def _user_display(self, user_name: str) -> str:
        row = self._user_row(user_name)
        return row["name"] if row else user_name

    def _user_row(self, user_name: str) -> Row | None:
        return next((row for row in self._tables["sys_user"].values() if row["user_name"] == user_name), None)

    def _labels(self, table: str) -> dict[str, dict[str, str]]:
        """element -> value -> label for `table`, from sys_choice (language en)."""
        key = f"labels:{table}"
        labels = self._derived.get(key)
        if labels is None:
            labels = {}
            for choice in self._tables["sys_choice"].values():
                if choice["name"] == table and choice["language"] in ("en", ""):
                    labels.setdefault(choice["element"], {})[choice["value"]] = choice["label"]
            self._derived[key] = labels
        return labels

    def _close_codes(self, table: str = "incident", element: str = "close_code") -> frozenset[str]:
        key = ("close_codes", table, element)
        codes = self._derived.get(key)
        if codes is None:
            codes = frozenset(
                choice["value"]
                for choice in self._tables["sys_choice"].values()
                if choice["name"] == table and choice["element"] == element and choice["inactive"] != "true"
            )
            self._derived[key] = codes
        return codes

    # ---- encoded queries (§6) -------------------------------------------------------------------------

    def _compile(
        self, table: str, encoded: str
    ) -> tuple[Callable[[Row], bool] | None, list[tuple[Getter, bool, bool]]]:
        """An encoded query -> (row predicate or None for "all rows", [(getter, descending, numeric)]).

        `^` ANDs, `^OR` ORs only the conditions on each side of it, `^NQ` starts a group ORed with the
        previous ones. A condition on an unknown field is dropped, as ServiceNow does by default (§6, [D1]);
        a group left empty matches every row; with `glide.invalid_query.returns_no_rows` the whole query
        matches nothing instead. An operator the emulator does not implement is refused (`_predicate`).
        """
        groups: list[list[list[Callable[[Row], bool]]]] = [[]]
        order: list[tuple[Getter, bool, bool]] = []
        previous_kept = False
        for part in encoded.split("^"):
            if part.startswith("NQ"):
                groups.append([])
                part, previous_kept = part[2:], False
            if part.startswith("ORDERBY"):
                descending = part.startswith("ORDERBYDESC")
                resolved = self._resolve(table, part[11 if descending else 7 :])
                if resolved is not None:
                    order.append((resolved[0], descending, resolved[2] in _NUMERIC))
                continue
            alternative = part.startswith("OR")
            condition = part[2:] if alternative else part
            predicate = self._predicate(table, condition)
            if predicate is None:
                if condition not in ("", "EQ") and self._invalid_query_returns_no_rows():
                    return (lambda row: False), order
                previous_kept = False
            elif alternative and previous_kept:
                groups[-1][-1].append(predicate)
            else:
                groups[-1].append([predicate])
                previous_kept = True
        if len(groups) == 1 and not groups[0]:
            return None, order
        return _any_of([_all_of([_any_of(clause) for clause in group]) for group in groups]), order

    def _invalid_query_returns_no_rows(self) -> bool:
        return self.properties.get(INVALID_QUERY_RETURNS_NO_ROWS, "").lower() == "true"

    def _predicate(self, table: str, condition: str) -> Callable[[Row], bool] | None:
        """One condition -> a row predicate, or None when it is a no-op or names an unknown field.

        Refused with 400 (never silently ignored, so a developer sees what the emulator lacks): any operator
        outside `_OPERATORS`, and the query features it does not implement (JOIN, RLQUERY, SUBQUERY, ...).
        """
        if condition in ("", "EQ"):
            return None
        if condition.startswith(TEXT_QUERY):
            return self._text_search(condition)
        head = _FIELD_HEAD.match(condition)
        if head is not None:
            path, rest = head.group(), condition[head.end() :]
            if rest.startswith(_NOT_EMULATED):
                raise _unsupported(condition)
            operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
            if operator is not None:
                return self._condition(table, path, operator, rest[len(operator) :])
        if _UNKNOWN_FIELD_CONDITION.fullmatch(condition) and not condition.startswith(_KEYWORDS):
            return None  # e.g. pysnc's `AAAA=BBBB`: an unknown field with a known operator, ignored [D1]
        raise _unsupported(condition)

    def _text_search(self, condition: str) -> Callable[[Row], bool]:
        """`123TEXTQUERY321=words`: every word appears in some value of the record or its journal.

        A stand-in for the instance's text index (case-insensitive substrings, all words required); the
        real search also ranks, stems and honours stop words [INF].
        """
        if not condition.startswith(TEXT_QUERY + "="):
            raise _unsupported(condition)
        words = condition[len(TEXT_QUERY) + 1 :].lower().split()
        journals = self._journals

        def matches(row: Row) -> bool:
            text = "\n".join(
                [*row.values(), *(entry["value"] for entry in journals.get(row.get("sys_id", ""), ()))]
            ).lower()
            return all(word in text for word in words)

        return matches

    def _condition(self, table: str, path: str, operator: str, argument: str) -> Callable[[Row], bool] | None:
        if any(part.strip().lower().startswith("javascript:") for part in re.split("[@,]", argument)):
            raise _unsupported(f"{path}{operator}{argument}")  # the instance runs it as a script (§6.1 [D1])
        operator = _ALIASES.get(operator, operator)
        resolved = self._resolve(table, path)
        if resolved is None:
            return None
        raw, owner, field = resolved
        if field in _EXACT or field in REFERENCES.get(owner, {}):
            get = raw
        else:
            argument = argument.lower()

            def get(row: Row) -> str:
                return raw(row).lower()

        if operator in ("=", "!="):
            equal = operator == "="
            return lambda row: (get(row) == argument) is equal
        if operator in ("LIKE", "NOT LIKE", "NOTLIKE"):
            inside = operator == "LIKE"
            return lambda row: (argument in get(row)) is inside
        if operator == "STARTSWITH":
            return lambda row: get(row).startswith(argument)
        if operator == "ENDSWITH":
            return lambda row: get(row).endswith(argument)
        if operator in ("IN", "NOT IN"):
            members, inside = frozenset(argument.split(",")), operator == "IN"
            return lambda row: (get(row) in members) is inside
        if operator in ("ISEMPTY", "EMPTYSTRING"):
            return lambda row: get(row) == ""
        if operator == "ISNOTEMPTY":
            return lambda row: get(row) != ""
        if operator == "ANYTHING":
            return lambda row: True
        return self._comparison(get, operator, argument, field in _NUMERIC)

    @staticmethod
    def _comparison(get: Getter, operator: str, argument: str, numeric: bool) -> Callable[[Row], bool]:
        """<, <=, >, >= and BETWEEN a@b: numbers for numeric fields, text (dates) otherwise; empty never matches."""
        convert: Callable[[str], Any] = _number if numeric else str
        bounds = (
            [convert(a) for a in argument.split("@", 1)] if operator == "BETWEEN" else [convert(argument)]
        )
        if any(bound is None for bound in bounds):
            return lambda row: False
        low, high = bounds[0], bounds[-1]
        test: Callable[[Any], bool] = {
            "<": lambda v: v < low,
            "<=": lambda v: v <= low,
            ">": lambda v: v > low,
            ">=": lambda v: v >= low,
            "BETWEEN": lambda v: low <= v <= high,
        }[operator]

        def compare(row: Row) -> bool:
            value = get(row)
            if not value:
                return False
            converted = convert(value)
            return converted is not None and test(converted)

        return compare

    # ---- writes ---------------------------------------------------------------------------------------

    def _authorize(self, table: str, account: _Account, action: str) -> None:
        needed = _ADMIN_ONLY if action == "Delete" else _WRITE_ROLES.get(table, _ADMIN_ONLY)
        if table == "sys_journal_field" or not account.roles & needed:
            raise _Failure(
                403, "Operation Failed", f"ACL Exception {action} Failed due to security constraints"
            )

    @staticmethod
    def _writable(table: str, body: Mapping[str, Any]) -> dict[str, str]:
        """Body fields the API may set: known, not system-generated; unknown fields are ignored."""
        fields = _FIELD_SETS[table]
        return {
            k: _text(v) for k, v in body.items() if k in fields and not k.startswith("sys_") and k != "number"
        }

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def _create(self, table: str, body: Mapping[str, Any], account: _Account) -> Row:
        self._authorize(table, account, "Insert")
        values = self._writable(table, body)
        sys_id = self._chosen_sys_id(table, body)
        if table in NUMBER_PREFIXES:
            return self._insert_incident(values, account, sys_id=sys_id, table=table)
        return self._insert(table, values, account.user_name, sys_id)

    def _chosen_sys_id(self, table: str, body: Mapping[str, Any]) -> str | None:
        """A client-chosen 32-character sys_id on insert is kept as sent (pysnc's test_insert_custom_guid
        inserts AAAABBBBCCCCDDDDEEEEFFFF00001111 and reads it back); any other sys_id value is ignored like
        other system fields (§1 [D1]). A sys_id already in the table is refused, never overwritten: the
        detail is the database's unique-key message instances report [INF]."""
        chosen = _text(body.get("sys_id"))
        if not _GUID.fullmatch(chosen):
            return None
        if chosen in self._tables[table]:
            raise _Failure(
                403,
                "Operation Failed",
                f"Unique Key violation detected by database (Duplicate entry '{chosen}' for key 'PRIMARY')",
            )
        return chosen

    def _insert(
        self, table: str, values: Mapping[str, str], user_name: str, sys_id: str | None = None, now: str = ""
    ) -> Row:
        now = now or self._now()
        row = dict.fromkeys(FIELDS[table], "")
        row.update(sys_created_on=now, sys_created_by=user_name, sys_updated_on=now, sys_updated_by=user_name)
        row.update(sys_mod_count="0", **_TABLE_DEFAULTS.get(table, {}))
        row.update(values)
        row["sys_id"] = sys_id or uuid.uuid4().hex
        self._tables[table][row["sys_id"]] = row
        if table == "sys_choice":
            self._derived.clear()
        return row

    def _insert_incident(
        self,
        values: dict[str, str],
        account: _Account,
        number: str | None = None,
        sys_id: str | None = None,
        sys_created_on: str | None = None,
        table: str = "incident",
    ) -> Row:
        now = sys_created_on or self._now()
        notes = _pop_notes(table, values)
        row = dict.fromkeys(FIELDS[table], "")
        row.update(_TABLE_DEFAULTS[table], opened_at=now, opened_by=account.sys_id, sys_mod_count="0")
        row.update(sys_created_on=now, sys_updated_on=now)
        row.update(sys_created_by=account.user_name, sys_updated_by=account.user_name)
        row.update(values)
        self._apply_ticket_rules(table, row, values, None, account, now)
        row["sys_id"] = sys_id or uuid.uuid4().hex
        if number is None:
            serial = self._next_numbers[table]
            number, self._next_numbers[table] = f"{NUMBER_PREFIXES[table]}{serial:07d}", serial + 1
        row["number"] = number
        self._tables[table][row["sys_id"]] = row
        for element, text in notes.items():
            self._append_journal(row, element, text, account.user_name, now)
        return row

    def _apply_ticket_rules(
        self,
        table: str,
        row: Row,
        changes: Mapping[str, str],
        old_state: str | None,
        account: _Account,
        now: str,
    ) -> None:
        """Each ticket table's business rules and data policy (see the module docstring)."""
        if table == "incident":
            self._apply_incident_rules(row, changes, old_state, account, now)
        elif table == "problem":
            self._apply_problem_rules(row, changes, old_state, account, now)
        else:
            self._apply_agile_rules(row, old_state, account, now)

    def _apply_problem_rules(
        self, row: Row, changes: Mapping[str, str], old_state: str | None, account: _Account, now: str
    ) -> None:
        """`problem_state` kept equal to `state`, priority from impact and urgency, the Madrid data policy
        (servicenow.itsm validate_params), resolve/close stamps."""
        if "problem_state" in changes and "state" not in changes:
            row["state"] = row["problem_state"]
        row["problem_state"] = row["state"]
        row["priority"] = PRIORITY.get((row["impact"], row["urgency"]), row["priority"] or "5")
        state, missing = row["state"], []
        if state not in ("", "101") and not row["assigned_to"]:
            missing.append("Assigned to")
        if state in ("106", "107"):
            code = row["resolution_code"]
            if code not in self._close_codes("problem", "resolution_code"):
                missing.append("Resolution code")
            missing += [
                label for name, label in _PROBLEM_RESOLUTION_NEEDS.get(code, ()) if not row[name].strip()
            ]
        if missing:
            raise _Failure(403, "Operation Failed", _MANDATORY + ", ".join(missing))
        if state == old_state:
            return
        if state == "106" or (state == "107" and not row["resolved_at"]):
            row.update(resolved_at=now, resolved_by=account.sys_id)
        if state == "107":
            row.update(closed_at=now, closed_by=account.sys_id)
        row["active"] = "false" if state == "107" else "true"

    def _apply_agile_rules(self, row: Row, old_state: str | None, account: _Account, now: str) -> None:
        """rm_task's close states (3, 4, 7) make the record inactive and stamp closed_at."""
        state = row["state"]
        if state == old_state:
            return
        closed = state in _RM_CLOSED_STATES
        if closed:
            row.update(closed_at=now, closed_by=account.sys_id)
        row["active"] = "false" if closed else "true"

    def _apply_incident_rules(
        self, row: Row, changes: Mapping[str, str], old_state: str | None, account: _Account, now: str
    ) -> None:
        """State sync, priority matrix, resolve/close stamps and the close-code data policy (§7)."""
        if "state" in changes:
            row["incident_state"] = row["state"]
        elif "incident_state" in changes:
            row["state"] = row["incident_state"]
        else:
            row["incident_state"] = row["state"]
        row["priority"] = PRIORITY.get((row["impact"], row["urgency"]), row["priority"] or "5")
        state = row["state"]
        if state in ("6", "7"):
            missing = [] if row["close_code"] in self._close_codes() else ["Resolution code"]
            if not row["close_notes"].strip():
                missing.append("Resolution notes")
            if missing:
                raise _Failure(403, "Operation Failed", _MANDATORY + ", ".join(missing))
        if state == old_state:
            return
        if state == "6" or (state == "7" and not row["resolved_at"]):
            row.update(resolved_at=now, resolved_by=account.sys_id)
        if state == "7":
            row.update(closed_at=now, closed_by=account.sys_id)
        row["active"] = "false" if state in ("7", "8") else "true"

    def _update(self, table: str, sys_id: str, body: Mapping[str, Any], account: _Account) -> Row:
        row = self._get(table, sys_id)
        self._authorize(table, account, "Update")
        changes = self._writable(table, body)
        notes = _pop_notes(table, changes)
        if row.get("state") in _CLOSED_STATES.get(table, ()):
            notes = {}  # dropped silently: 200, no journal row (reference, corrections section)
        now = self._now()
        updated = {**row, **changes}
        if table in NUMBER_PREFIXES:
            self._apply_ticket_rules(table, updated, changes, row["state"], account, now)
        if updated == row and not notes:
            return row
        updated.update(
            sys_updated_on=now,
            sys_updated_by=account.user_name,
            sys_mod_count=str(int(row["sys_mod_count"] or 0) + 1),
        )
        row.update(updated)
        for element, text in notes.items():
            self._append_journal(row, element, text, account.user_name, now)
        if table == "sys_choice":
            self._derived.clear()
        return row

    def _delete(self, table: str, sys_id: str, account: _Account) -> None:
        self._get(table, sys_id)
        self._authorize(table, account, "Delete")
        del self._tables[table][sys_id]
        if table == "sys_choice":
            self._derived.clear()

    def _append_journal(self, row: Row, element: str, text: str, user_name: str, now: str) -> None:
        table = row.get("sys_class_name") or "incident"
        values = {"element": element, "element_id": row["sys_id"], "name": table, "value": text}
        entry = dict.fromkeys(FIELDS["sys_journal_field"], "")
        entry.update(values, sys_id=uuid.uuid4().hex, sys_created_on=now, sys_created_by=user_name)
        self._tables["sys_journal_field"][entry["sys_id"]] = entry
        self._journals.setdefault(row["sys_id"], []).append(entry)

    # ---- seed data ------------------------------------------------------------------------------------

    def _insert_user(self, user_name: str, name: str | None = None, **fields: str) -> Row:
        if name is None:
            name = (
                "System Administrator" if user_name == "admin" else re.sub(r"[._]+", " ", user_name).title()
            )
        first, _, last = name.partition(" ")
        values = {"user_name": user_name, "name": name, "first_name": first, "last_name": last}
        values |= {"email": f"{user_name}@example.com", **fields}
        sys_id = ADMIN_SYS_ID if user_name == "admin" else _stable_id("sys_user", user_name)
        return self._insert("sys_user", values, "system", sys_id, _SEEDED_ON)

    def _seed_choices(self, close_codes: str) -> None:
        lists: list[tuple[str, str, Iterable[tuple[str, str]]]] = [
            ("state", "", _STATES),
            ("incident_state", "", _STATES),
            ("impact", "", _LEVELS),
            ("urgency", "", _LEVELS),
            ("priority", "", _PRIORITIES),
            ("category", "", _CATEGORIES),
            ("close_code", "", ((code, code) for code in CLOSE_CODES[close_codes])),
            ("hold_reason", "", _HOLD_REASONS),
        ]
        lists += [("subcategory", category, subs) for category, subs in _SUBCATEGORIES.items()]
        tables = [("incident", element, dependent, choices) for element, dependent, choices in lists]
        tables += [
            ("problem", "state", "", _PROBLEM_STATES),
            ("problem", "problem_state", "", _PROBLEM_STATES),
            ("problem", "impact", "", _LEVELS),
            ("problem", "urgency", "", _LEVELS),
            ("problem", "priority", "", _PRIORITIES),
            ("problem", "category", "", _PROBLEM_CATEGORIES),
            ("problem", "resolution_code", "", PROBLEM_RESOLUTION_CODES),
        ]
        for table in AGILE_TABLES & self._tables.keys():
            tables += [(table, "state", "", _RM_STATES), (table, "priority", "", _PRIORITIES)]
        for table, element, dependent, choices in tables:
            for sequence, (value, label) in enumerate(choices, start=1):
                values = {"name": table, "element": element, "value": value, "label": label}
                values |= {"sequence": str(sequence), "dependent_value": dependent}
                key = (
                    (element, dependent, value) if table == "incident" else (table, element, dependent, value)
                )
                sys_id = _stable_id("sys_choice", *key)
                self._insert("sys_choice", values, "system", sys_id, _SEEDED_ON)

    def _seed_people(self) -> None:
        for user_name, name, title, active in _SEED_PEOPLE:
            self._insert_user(user_name, name, title=title, active=active)
        for name, sys_id, manager, active in _SEED_GROUPS:
            email = name.lower().replace(" ", "-") + "@example.com"
            values = {"name": name, "description": f"{name} team", "email": email, "active": active}
            values["manager"] = _stable_id("sys_user", manager) if manager else ""
            sys_id = sys_id or _stable_id("sys_user_group", name)
            self._insert("sys_user_group", values, "system", sys_id, _SEEDED_ON)

    def _seed_incidents(self, close_code: str) -> None:
        groups = {group["name"]: sys_id for sys_id, group in self._tables["sys_user_group"].items()}
        for index, seed in enumerate(_SEED_INCIDENTS, start=1):
            fields = dict(seed, caller_id=_stable_id("sys_user", seed["caller_id"]))
            fields["assignment_group"] = groups[seed["assignment_group"]]
            if "assigned_to" in seed:
                fields["assigned_to"] = _stable_id("sys_user", seed["assigned_to"])
            if "close_notes" in seed:
                fields["close_code"] = close_code
            number = f"INC{index:07d}"
            self.add_incident(number=number, sys_id=_stable_id("incident", number), **fields)


_SEED_PEOPLE = (  # user_name, name, title, active
    ("jane.doe", "Jane Doe", "Data Engineer", "true"),
    ("beth.anglin", "Beth Anglin", "Service Desk Analyst", "true"),
    ("david.loo", "David Loo", "Database Administrator", "true"),
    ("fred.luddy", "Fred Luddy", "Network Engineer", "true"),
    ("abel.tuter", "Abel Tuter", "Sales Analyst", "true"),
    ("old.contractor", "Old Contractor", "Contractor", "false"),
)
_SEED_GROUPS = (  # name, sys_id (None: derived from the name), manager's user_name, active
    ("Network", NETWORK_GROUP_SYS_ID, "fred.luddy", "true"),
    ("Service Desk", SERVICE_DESK_GROUP_SYS_ID, "beth.anglin", "true"),
    ("Database", None, "david.loo", "true"),
    ("Data Quality", None, "jane.doe", "true"),
    ("Hardware", None, "", "true"),
    ("Software", None, "", "true"),
    ("Legacy ETL", None, "", "false"),
)
# Numbered INC0000001.. in this order. People and groups are named here and resolved to sys_ids when
# seeding; records with close_notes get the instance's seed close code.
# fmt: off
_SEED_INCIDENTS: tuple[dict[str, str], ...] = (
    {"sys_created_on": "2024-03-04 09:12:45", "short_description": "Unable to access the shared folder.",
     "description": "Jane cannot open the finance share on fileserver since this morning.",
     "category": "inquiry", "subcategory": "internal application", "impact": "2", "urgency": "2", "state": "2",
     "caller_id": "jane.doe", "assignment_group": "Service Desk", "assigned_to": "beth.anglin"},
    {"sys_created_on": "2024-04-16 02:31:07", "short_description": "Nightly orders_daily load failed",
     "description": "The 02:00 load of orders_daily stopped with ORA-01653 (unable to extend table).",
     "category": "database", "subcategory": "oracle", "impact": "2", "urgency": "1",
     "caller_id": "david.loo", "assignment_group": "Database",
     "work_notes": "Added a datafile to the tablespace; the next run will tell."},
    {"sys_created_on": "2024-05-02 08:05:00", "short_description": "Email server is down.",
     "category": "software", "subcategory": "email", "impact": "1", "urgency": "1", "state": "6",
     "caller_id": "fred.luddy", "assignment_group": "Service Desk",
     "close_notes": "Restarted the mail transport service."},
    {"sys_created_on": "2024-06-11 14:40:22", "short_description": "VPN connection drops every few minutes",
     "category": "network", "subcategory": "vpn", "impact": "3", "urgency": "2", "state": "3", "hold_reason": "1",
     "caller_id": "abel.tuter", "assignment_group": "Network"},
    {"sys_created_on": "2024-07-08 11:20:03", "short_description": "Duplicate rows in customer_dim after backfill",
     "category": "database", "subcategory": "sql server", "impact": "2", "urgency": "2", "state": "7",
     "caller_id": "jane.doe", "assignment_group": "Data Quality",
     "close_notes": "Deduplicated and re-ran the backfill with a merge key."},
    {"sys_created_on": "2024-07-20 10:00:00", "short_description": "Sales dashboard shows stale revenue numbers",
     "category": "inquiry", "caller_id": "abel.tuter", "assignment_group": "Data Quality"},
)
# fmt: on
