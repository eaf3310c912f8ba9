from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from servicenow.errors import ServiceNowError
from servicenow.kinds import INCIDENT
from servicenow.query import MAX_VALUE_LENGTH, Query, QueryError, check_number, safe_search_text
from tests.servicenow.samples import GROUP_ID, SYS_ID

INJECTIONS = [
    "x^ORactive=true",
    "^NQactive=true",
    "disk^ORDERBYnumber",
    "a\nb",
    "a\rb",
    "tab\tseparated",
    "line\u2028separator",
    "nul\x00",
    "javascript:gs.getUserID()",
    "  JavaScript:gs.getUserID()",
    "\tJAVASCRIPT:1",
]

# Text built from the characters that matter in an encoded query, mixed with anything at all.
QUERY_TEXT = st.lists(
    st.sampled_from([*"^ORNQ=,@ \n\r\t", "ORDERBY", "^OR", "^NQ", "javascript:", " JavaScript:", "INC0010"])
    | st.characters(),
    max_size=12,
).map("".join)


def refused(text: str) -> bool:
    """What the builder must refuse, restated independently of its code."""
    return (
        not text
        or "^" in text
        or any(unicodedata.category(ch) in {"Cc", "Zl", "Zp"} for ch in text)
        or text.strip().lower().startswith("javascript:")
    )


def test_builds_the_search_query_from_the_brief() -> None:
    query = (
        Query()
        .where("active", "=", "true")
        .like("short_description", "disk full")
        .or_starts_with("number", "disk full")
        .order_by_desc("sys_created_on")
    )
    assert query.build() == (
        "active=true^short_descriptionLIKEdisk full^ORnumberSTARTSWITHdisk full^ORDERBYDESCsys_created_on"
    )


def test_empty_query_builds_to_nothing_and_order_terms_alone_have_no_leading_caret() -> None:
    assert Query().build() == ""
    assert (
        Query("sys_user_group").order_by("name").order_by_desc("sys_id").build()
        == "ORDERBYname^ORDERBYDESCsys_id"
    )


def test_other_tables_have_their_own_fields() -> None:
    assert (
        Query("sys_user").like("email", "jane").or_like("name", "jane").build()
        == "emailLIKEjane^ORnameLIKEjane"
    )
    with pytest.raises(QueryError, match="field 'email' of table 'sys_choice'"):
        Query("sys_choice").like("email", "jane")


@pytest.mark.parametrize("text", INJECTIONS)
def test_safe_search_text_refuses_structure_and_scripts(text: str) -> None:
    with pytest.raises(QueryError) as caught:
        safe_search_text(text)
    assert caught.value.message in {
        "search text may not contain ^ or line breaks",
        "search text may not start with 'javascript:'",
    }


@pytest.mark.parametrize("text", INJECTIONS)
def test_builder_refuses_the_same_values(text: str) -> None:
    with pytest.raises(QueryError, match="the value for short_description may not"):
        Query().like("short_description", text)


def test_safe_search_text_strips_and_keeps_harmless_punctuation() -> None:
    assert safe_search_text("  disk full  ") == "disk full"
    assert safe_search_text("") == ""
    assert safe_search_text("a=b, c@d; 50% (NQ OR)") == "a=b, c@d; 50% (NQ OR)"
    assert safe_search_text("see javascript: docs") == "see javascript: docs"


def test_overlong_text_is_refused() -> None:
    assert safe_search_text("x" * MAX_VALUE_LENGTH) == "x" * MAX_VALUE_LENGTH
    with pytest.raises(QueryError, match="too long"):
        safe_search_text("x" * (MAX_VALUE_LENGTH + 1))


def test_query_error_is_a_servicenow_error_and_a_value_error() -> None:
    with pytest.raises(QueryError) as caught:
        safe_search_text("a^b")
    assert isinstance(caught.value, ServiceNowError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Query("sys_properties"), "table 'sys_properties' cannot be queried"),
        (lambda: Query().like("password", "x"), "field 'password' of table 'incident' may not be used"),
        (lambda: Query().order_by("123TEXTQUERY321"), "may not be used"),
        (lambda: Query().where("state", "NQ", "1"), "operator 'NQ' is not supported"),
        (lambda: Query().where("state", "ISEMPTY", "x"), "is not supported"),
        (lambda: Query().or_like("short_description", "x"), "needs a condition before it"),
        (lambda: Query().equals("correlation_id", ""), "may not be empty"),
        (lambda: Query().like("short_description", ""), "may not be empty"),
        (lambda: Query().equals("short_description", 5), "must be text, not int"),
    ],
)
def test_refuses_unknown_tables_fields_operators_and_empty_values(build, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        build()


@pytest.mark.parametrize("number", ["INC001", "inc0010001", "INC0010001 OR", "PRB0010001", "INC 0010001"])
def test_number_equality_needs_a_full_incident_number(number: str) -> None:
    with pytest.raises(QueryError, match="is not an incident number"):
        Query().equals("number", number)


def test_number_prefix_search_is_free_text() -> None:
    assert Query().equals("number", "INC0010001").build() == "number=INC0010001"
    assert Query().equals("number", "INC12345678").build() == "number=INC12345678"
    assert Query().starts_with("number", "INC001").build() == "numberSTARTSWITHINC001"


@pytest.mark.parametrize("field", ["sys_id", "assignment_group", "assigned_to", "caller_id"])
def test_sys_id_fields_need_a_sys_id_for_equality(field: str) -> None:
    assert Query().equals(field, SYS_ID).build() == f"{field}={SYS_ID}"
    for bad in [SYS_ID.upper(), SYS_ID[:-1], f"{SYS_ID},{GROUP_ID}", "Network"]:
        with pytest.raises(QueryError, match="is not a ServiceNow sys_id"):
            Query().equals(field, bad)


def test_in_lists_join_with_commas_and_refuse_commas_inside_items() -> None:
    assert Query().is_in("sys_id", [SYS_ID, GROUP_ID]).build() == f"sys_idIN{SYS_ID},{GROUP_ID}"
    assert Query().is_in("state", ["1", "2"]).build() == "stateIN1,2"
    with pytest.raises(QueryError, match="may not contain ','"):
        Query().is_in("category", ["network", "hardware,software"])
    with pytest.raises(QueryError, match="needs at least one value"):
        Query().is_in("state", [])
    with pytest.raises(QueryError, match="is not a ServiceNow sys_id"):
        Query().is_in("sys_id", [SYS_ID, "nope"])


def test_between_refuses_the_bound_separator() -> None:
    assert Query().between("impact", "1", "2").build() == "impactBETWEEN1@2"
    with pytest.raises(QueryError, match="may not contain '@'"):
        Query().between("sys_created_on", "2024-01-01@x", "2024-02-01")
    with pytest.raises(QueryError, match="may not contain \\^"):
        Query().between("impact", "1", "2^NQactive=true")


def test_at_sign_is_fine_where_it_does_not_split() -> None:
    assert Query("sys_user").equals("email", "jane@example.com").build() == "email=jane@example.com"


def test_or_binds_to_the_condition_before_it() -> None:
    # active AND (short_description LIKE OR number STARTSWITH): exactly one AND-ed group after `active`.
    built = (
        Query().equals("active", "true").like("short_description", "x").or_starts_with("number", "x").build()
    )
    and_groups = built.split("^")
    assert and_groups == ["active=true", "short_descriptionLIKEx", "ORnumberSTARTSWITHx"]
    assert "^NQ" not in built


@given(QUERY_TEXT)
@example("x^ORactive=true")
@example("^NQactive=true")
@example("javascript:gs.getUserID()")
def test_any_text_is_refused_or_stays_inside_its_own_clauses(text: str) -> None:
    try:
        built = (
            Query()
            .like("short_description", text)
            .or_starts_with("number", text)
            .order_by_desc("sys_created_on")
            .build()
        )
    except QueryError:
        assert refused(text)
        return
    assert not refused(text)
    assert built.split("^") == [
        f"short_descriptionLIKE{text}",
        f"ORnumberSTARTSWITH{text}",
        "ORDERBYDESCsys_created_on",
    ]


@given(st.lists(QUERY_TEXT, min_size=1, max_size=5))
def test_any_in_list_is_refused_or_has_exactly_its_items(items: list[str]) -> None:
    try:
        built = Query().is_in("category", items).build()
    except QueryError:
        assert any(refused(item) or "," in item for item in items)
        return
    assert not any(refused(item) or "," in item for item in items)
    assert "^" not in built
    assert built.removeprefix("categoryIN").split(",") == items


def test_a_number_is_checked_against_the_kind_of_its_table() -> None:
    # A second kind, as Problem will be (servicenow.kinds): its numbers, its words, ServiceNow's upper case.
    problem = replace(INCIDENT, name="problem", table="problem", label="Problem", number_prefix="PRB")
    assert check_number("PRB0010001", problem) == "PRB0010001"
    for wrong in ("INC0010001", "prb0010001", "PRB001"):
        with pytest.raises(QueryError, match=rf"'{wrong}' is not a problem number such as PRB0010001"):
            check_number(wrong, problem)
    assert check_number("INC0010001") == "INC0010001"  # the default kind: incident
