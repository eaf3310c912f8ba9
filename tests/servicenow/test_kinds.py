"""The incident kind holds the facts the rest of snowbot used to spell out itself."""

from __future__ import annotations

import pytest

from servicenow.kinds import (
    DEFECT,
    ENHANCEMENT,
    INCIDENT,
    KINDS,
    PROBLEM,
    kind_named,
    kind_of_number,
    kind_of_type,
)


def test_incident_numbers_states_and_resolve_fields() -> None:
    assert INCIDENT.number_pattern.match("inc0010001") and not INCIDENT.number_pattern.match("INC123")
    assert INCIDENT.number_in_text.findall("INC0010001 created, INC0000002 linked") == [
        "INC0010001",
        "INC0000002",
    ]
    assert [INCIDENT.state_label(code) for code in ("1", "6", "9")] == ["New", "Resolved", "Unknown (9)"]
    assert INCIDENT.state_label("9", "Awaiting") == "Awaiting"
    assert INCIDENT.no_journal_labels == {"Closed", "Canceled"} and "6" in INCIDENT.resolved_states
    assert INCIDENT.resolve_fields("Solution provided", "done") == {
        "state": "6",
        "close_code": "Solution provided",
        "close_notes": "done",
    }


@pytest.mark.parametrize(
    ("urgency", "impact", "expected"),
    [
        ("1", "1", (1, "1 - Critical")),
        ("2", "1", (2, "2 - High")),
        ("3", "3", (5, "5 - Planning")),
        ("x", 1, (5, "5 - Planning")),
    ],
)
def test_the_default_priority_lookup(urgency: str, impact: str | int, expected: tuple[int, str]) -> None:
    assert INCIDENT.priority_for(urgency, impact) == expected


def test_kinds_by_name_and_by_number() -> None:
    assert kind_named(None) is INCIDENT and kind_named("incident") is INCIDENT
    with pytest.raises(KeyError):
        kind_named("change_request")
    assert kind_of_number(" INC0010001 ") is INCIDENT and kind_of_number("CHG0000001") is None
    assert kind_of_number("PRB0040001") is PROBLEM and kind_of_number("dfct0010001") is DEFECT
    assert kind_of_number("ENHC0010661") is ENHANCEMENT


def test_ticket_types_name_the_kinds() -> None:
    assert {kind_of_type(name).name for name in ("incident", "problem", "defect", "enhancement")} == set(
        KINDS
    )
    assert kind_of_type(None) is INCIDENT and kind_of_type("rm_defect") is DEFECT
    with pytest.raises(KeyError):
        kind_of_type("story")


def test_each_kind_resolves_by_its_own_rule() -> None:
    assert INCIDENT.resolve_fields("Solution provided", "n") == {
        "state": "6",
        "close_code": "Solution provided",
        "close_notes": "n",
    }
    assert PROBLEM.resolve_fields("fix_applied", "n") == {
        "state": "106",
        "problem_state": "106",
        "resolution_code": "fix_applied",
        "cause_notes": "n",
        "fix_notes": "n",
    }
    assert DEFECT.resolve_fields("ignored", "n") == {"state": "3", "close_notes": "n"}
    assert INCIDENT.canceled_states == {"8"} and DEFECT.canceled_states == {"4", "7"}
    assert PROBLEM.canceled_states == frozenset()  # canceled is Closed with resolution code "canceled"
