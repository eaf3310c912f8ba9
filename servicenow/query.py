"""A small builder of ServiceNow encoded queries (`sysparm_query`) that user text cannot subvert.

An encoded query is `<field><OPERATOR><value>` conditions joined by `^` (AND) and `^OR` (OR with the
condition just before), followed by `^ORDERBY<field>` / `^ORDERBYDESC<field>` terms. ServiceNow has no
escape for `^`, so a value containing it could add conditions of its own (`x^NQactive=true` matches every
record). The builder therefore accepts only whitelisted tables, fields and operators and refuses, with a
`QueryError`, any value that could change the query's structure:

- `^`, line breaks or other control characters anywhere;
- a leading `javascript:` (ServiceNow evaluates it as a server-side script);
- `,` inside an IN item and `@` inside a BETWEEN bound (their separators);
- an empty value (`correlation_id=` would match every incident without one);
- for `=`/`!=`/`IN`, a ticket number that is not its kind's prefix + 7 or more digits as ServiceNow writes it
  (`INC0010001`: `servicenow.kinds`), and a sys_id (or a reference to one) that is not 32 lowercase hex
  characters.

    Query("incident").like("short_description", text).or_starts_with("number", text)
        .order_by_desc("sys_created_on").build()
    == "short_descriptionLIKE<text>^ORnumberSTARTSWITH<text>^ORDERBYDESCsys_created_on"

`^OR` binds only the two conditions around it, so `where(a).like(b).or_like(c)` means a AND (b OR c).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache

from servicenow.errors import QueryError
from servicenow.kinds import INCIDENT, KINDS, TicketKind

__all__ = [
    "MAX_VALUE_LENGTH",
    "TABLE_FIELDS",
    "Query",
    "QueryError",
    "check_number",
    "check_sys_id",
    "safe_search_text",
]

MAX_VALUE_LENGTH = 200

_TICKET_FIELDS = frozenset(
    "sys_id number short_description description state priority urgency impact category subcategory "
    "assignment_group assigned_to caller_id active correlation_id close_code close_notes opened_at "
    "resolved_at closed_at sys_created_on sys_updated_on".split()
)
TABLE_FIELDS: dict[str, frozenset[str]] = {
    **{kind.table: _TICKET_FIELDS | frozenset(kind.record_fields) for kind in KINDS.values()},
    "sys_user": frozenset({"sys_id", "name", "user_name", "email", "first_name", "last_name", "active"}),
    "sys_user_group": frozenset({"sys_id", "name", "description", "email", "active"}),
    "sys_choice": frozenset(
        {"name", "element", "value", "label", "sequence", "inactive", "language", "dependent_value"}
    ),
    "sys_journal_field": frozenset(
        {"sys_id", "name", "element", "element_id", "value", "sys_created_on", "sys_created_by"}
    ),
    "sys_user_has_role": frozenset({"sys_id", "user", "role", "state"}),  # the account's roles (doctor)
}
"""The fields each table may be queried or sorted on."""

SCALAR_OPERATORS = frozenset({"=", "!=", "LIKE", "STARTSWITH", "ENDSWITH", "<", "<=", ">", ">="})

SYS_ID_FIELDS = frozenset({"sys_id", "element_id", "assignment_group", "assigned_to", "caller_id", "user"})
"""Fields holding a sys_id: compared by equality, the value must look like one."""

SYS_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_KIND_OF_TABLE = {kind.table: kind for kind in KINDS.values()}
_EXACT_OPERATORS = frozenset({"=", "!="})


def _check_text(value: str, what: str = "search text") -> str:
    """Refuse what could end a condition or run a script; return the value unchanged."""
    if not isinstance(value, str):
        raise QueryError(f"{what} must be text, not {type(value).__name__}")
    if "^" in value or any(unicodedata.category(ch) in {"Cc", "Zl", "Zp"} for ch in value):
        raise QueryError(f"{what} may not contain ^ or line breaks")
    if value.strip().lower().startswith("javascript:"):
        raise QueryError(f"{what} may not start with 'javascript:'")
    if len(value) > MAX_VALUE_LENGTH:
        raise QueryError(f"{what} is too long: keep it under {MAX_VALUE_LENGTH} characters")
    return value


def safe_search_text(text: str) -> str:
    """Validate free text typed by a person for use in a query value; return it stripped ("" if blank)."""
    return _check_text(text).strip()


def check_sys_id(value: str) -> str:
    """Return `value` if it is a sys_id (32 lowercase hex characters), else raise `QueryError`."""
    if not isinstance(value, str) or not SYS_ID_PATTERN.fullmatch(value):
        raise QueryError(f"{value!r} is not a ServiceNow sys_id (32 lowercase hexadecimal characters)")
    return value


def check_number(value: str, kind: TicketKind = INCIDENT) -> str:
    """Return `value` if it is a number of `kind` as ServiceNow writes it (`INC` + 7 or more digits, upper
    case), else raise `QueryError`."""
    if not isinstance(value, str) or not _number_pattern(kind.number_prefix).fullmatch(value):
        label = kind.label.lower()
        article = "an" if label[:1] in "aeiou" else "a"
        raise QueryError(f"{value!r} is not {article} {label} number such as {kind.number_prefix}0010001")
    return value


@cache
def _number_pattern(prefix: str) -> re.Pattern[str]:
    """A kind's prefix in upper case, then 7 or more digits: the form a query compares (`kind.number_pattern`
    takes any case and at most 12 digits, for text people type)."""
    return re.compile(rf"{re.escape(prefix)}\d{{7,}}")


class Query:
    """Conditions and sort terms for one table, rendered by `build()`. Methods return the query itself."""

    def __init__(self, table: str = INCIDENT.table) -> None:
        if table not in TABLE_FIELDS:
            raise QueryError(
                f"table {table!r} cannot be queried; known tables: {', '.join(sorted(TABLE_FIELDS))}"
            )
        self.table = table
        self._conditions: list[str] = []
        self._order: list[str] = []

    def __repr__(self) -> str:
        return f"Query({self.table!r}, {self.build()!r})"

    # -- conditions -----------------------------------------------------------------------------------

    def where(self, field: str, operator: str, value: str) -> Query:
        """AND a condition `<field><operator><value>`."""
        return self._add("^", self._condition(field, operator, value))

    def or_where(self, field: str, operator: str, value: str) -> Query:
        """OR a condition with the one just before it."""
        if not self._conditions:
            raise QueryError("an OR condition needs a condition before it")
        return self._add("^OR", self._condition(field, operator, value))

    def equals(self, field: str, value: str) -> Query:
        return self.where(field, "=", value)

    def like(self, field: str, text: str) -> Query:
        return self.where(field, "LIKE", text)

    def or_like(self, field: str, text: str) -> Query:
        return self.or_where(field, "LIKE", text)

    def starts_with(self, field: str, text: str) -> Query:
        return self.where(field, "STARTSWITH", text)

    def or_starts_with(self, field: str, text: str) -> Query:
        return self.or_where(field, "STARTSWITH", text)

    def is_in(self, field: str, values: Iterable[str]) -> Query:
        """AND `<field>IN<a>,<b>,...`; no item may contain `,`."""
        items = list(values)
        if not items:
            raise QueryError(f"IN on {field!r} needs at least one value")
        for item in items:
            self._check_value(field, "IN", item)
            if "," in item:
                raise QueryError(f"{item!r} may not contain ',' (it separates the values of an IN list)")
        return self._add("^", f"{self._field(field)}IN{','.join(items)}")

    def between(self, field: str, low: str, high: str) -> Query:
        """AND `<field>BETWEEN<low>@<high>`; neither bound may contain `@`."""
        for bound in (low, high):
            self._check_value(field, "BETWEEN", bound)
            if "@" in bound:
                raise QueryError(f"{bound!r} may not contain '@' (it separates the bounds of BETWEEN)")
        return self._add("^", f"{self._field(field)}BETWEEN{low}@{high}")

    # -- ordering -------------------------------------------------------------------------------------

    def order_by(self, field: str) -> Query:
        self._order.append(f"ORDERBY{self._field(field)}")
        return self

    def order_by_desc(self, field: str) -> Query:
        self._order.append(f"ORDERBYDESC{self._field(field)}")
        return self

    def build(self) -> str:
        """The encoded query; "" when there are neither conditions nor sort terms."""
        return "".join([*self._conditions, *(f"^{term}" for term in self._order)]).removeprefix("^")

    # -- validation -----------------------------------------------------------------------------------

    def _add(self, joiner: str, condition: str) -> Query:
        self._conditions.append(f"{joiner}{condition}")
        return self

    def _field(self, field: str) -> str:
        if field not in TABLE_FIELDS[self.table]:
            raise QueryError(f"field {field!r} of table {self.table!r} may not be used in a query")
        return field

    def _condition(self, field: str, operator: str, value: str) -> str:
        if operator not in SCALAR_OPERATORS:
            raise QueryError(
                f"operator {operator!r} is not supported; use one of {' '.join(sorted(SCALAR_OPERATORS))}"
            )
        self._check_value(field, operator, value)
        return f"{self._field(field)}{operator}{value}"

    def _check_value(self, field: str, operator: str, value: str) -> None:
        _check_text(value, f"the value for {field}")
        if not value:
            raise QueryError(f"the value for {field} may not be empty")
        exact = operator in _EXACT_OPERATORS or operator == "IN"
        if exact and field in SYS_ID_FIELDS:
            check_sys_id(value)
        kind = _KIND_OF_TABLE.get(self.table)
        if exact and kind is not None and field == "number":
            check_number(value, kind)
