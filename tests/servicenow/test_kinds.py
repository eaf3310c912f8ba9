"""The incident kind holds the facts the rest of snowbot used to spell out itself."""

from __future__ import annotations

import pytest

from servicenow.kinds import INCIDENT, kind_named, kind_of_number


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
        kind_named("problem")
    assert kind_of_number(" INC0010001 ") is INCIDENT and kind_of_number("PRB0000001") is None
