"""The form's drop-downs over the Table API: choice lists (sys_choice), assignment groups, users.

Functions of a `servicenow.transport.TableAPI`; `ServiceNowClient` offers them as its methods. Text typed
by a person goes through `servicenow.query` (`safe_search_text`), never into `sysparm_query` raw.
sys_choice is often closed to itil accounts by field ACLs (servicenow-table-api.md, corrections): the
refusal is kept in `refused_reads`, and callers fall back to free text.
"""

from __future__ import annotations

import re

from servicenow.errors import QueryError
from servicenow.models import Choice, Group, User, _pair
from servicenow.query import Query, safe_search_text
from servicenow.transport import TableAPI

CHOICE_LIMIT = 500
_USER_FIELDS = ("sys_id", "name", "user_name", "email")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


async def list_choices(
    api: TableAPI, table: str, element: str, *, dependent_value: str | None
) -> list[Choice]:
    """Active English choices of `table.element` in display order; subcategories of one category when
    `dependent_value` is that category's value."""
    query = (
        Query("sys_choice")
        .equals("name", table)
        .equals("element", element)
        .equals("inactive", "false")
        .equals("language", "en")
    )
    if dependent_value:
        query.equals("dependent_value", dependent_value)
    query.order_by("sequence").order_by("label")
    fields = ("value", "label", "dependent_value")
    records, _ = await api.get_page(query, fields=fields, limit=CHOICE_LIMIT)
    return [api.parse(Choice.from_record, record) for record in records]


async def search_groups(api: TableAPI, text: str, *, limit: int) -> list[Group]:
    """Active assignment groups whose name contains `text` (all when blank), by name."""
    text = safe_search_text(text)
    query = Query("sys_user_group").equals("active", "true")
    if text:
        query.like("name", text)
    query.order_by("name")
    records, _ = await api.get_page(query, fields=("sys_id", "name"), limit=limit)
    return [api.parse(Group.from_record, record) for record in records]


async def search_users(api: TableAPI, text: str, *, limit: int) -> list[User]:
    """Active users whose name, user name or email contains `text` (all when blank), by name."""
    text = safe_search_text(text)
    query = Query("sys_user").equals("active", "true")
    if text:
        query.like("name", text).or_like("user_name", text).or_like("email", text)
    query.order_by("name")
    records, _ = await api.get_page(query, fields=_USER_FIELDS, limit=limit)
    return [api.parse(User.from_record, record) for record in records]


async def find_user_by_email(api: TableAPI, email: str) -> User | None:
    """The active user with this email address, or None."""
    email = email.strip()
    if not EMAIL.fullmatch(email):
        raise QueryError(f"{email!r} is not an email address")
    query = Query("sys_user").equals("active", "true").equals("email", email)
    records, _ = await api.get_page(query, fields=_USER_FIELDS, limit=1)
    return api.parse(User.from_record, records[0]) if records else None


async def account_roles(api: TableAPI, user_name: str) -> list[str] | None:
    """The role names the account `user_name` holds (sys_user_has_role, active rows), or None when its
    sys_user row is not visible. ServiceNow docs, "User roles": sys_user_has_role joins sys_user and
    sys_user_role; in `all` display mode a reference's display value is the role's name."""
    users, _ = await api.get_page(
        Query("sys_user").equals("user_name", user_name), fields=("sys_id",), limit=1
    )
    if not users:
        return None
    user_id = api.parse(lambda record: _pair(record, "sys_id")[0], users[0])
    query = Query("sys_user_has_role").equals("user", user_id).equals("state", "active")
    records, _ = await api.get_page(query, fields=("role",), limit=CHOICE_LIMIT)
    return sorted({api.parse(lambda record: _pair(record, "role")[1], record) for record in records})


async def sample_journal(api: TableAPI) -> int:
    """How many work-note rows of sys_journal_field one small read sees (0 to 1): `snowbot doctor`'s probe."""
    query = Query("sys_journal_field").equals("element", "work_notes")
    records, _ = await api.get_page(query, fields=("sys_id",), limit=1)
    return len(records)
