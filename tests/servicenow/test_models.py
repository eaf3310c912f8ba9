from __future__ import annotations

from datetime import UTC, datetime

import pytest

from servicenow import Choice, Group, Incident, JournalEntry, Reference, User
from tests.servicenow.samples import GROUP_ID, INSTANCE, SYS_ID, USER_ID, incident_record, pair


def test_incident_from_display_value_all_record() -> None:
    incident = Incident.from_record(incident_record(), instance_url=INSTANCE)

    assert incident.sys_id == SYS_ID
    assert incident.number == "INC0010002"
    assert (incident.state, incident.state_label) == ("1", "New")
    assert (incident.priority, incident.priority_label) == ("3", "3 - Moderate")
    assert (incident.urgency, incident.urgency_label) == ("2", "2 - Medium")
    assert (incident.impact, incident.impact_label) == ("2", "2 - Medium")
    assert incident.category == "inquiry"
    assert incident.subcategory == ""
    assert incident.assignment_group == Reference(value=GROUP_ID, display="Network")
    assert incident.caller_id == Reference(value=USER_ID, display="System Administrator")
    assert incident.assigned_to is None
    assert incident.correlation_id == "qualytics-anomaly-824"
    assert incident.work_notes.startswith("2016-12-12 16:56:57 - Beth Anglin (Work notes)\n")
    assert incident.active is True
    assert incident.url == f"{INSTANCE}/nav_to.do?uri=incident.do?sys_id={SYS_ID}"


def test_dates_come_from_the_utc_value_not_the_display() -> None:
    incident = Incident.from_record(incident_record(), instance_url=INSTANCE)
    assert incident.created_on == datetime(2016, 1, 22, 14, 28, 24, tzinfo=UTC)
    assert incident.updated_on == datetime(2016, 1, 22, 15, 0, tzinfo=UTC)
    assert incident.opened_at == incident.created_on
    assert incident.created_on.utcoffset().total_seconds() == 0
    assert incident.resolved_at is None
    assert incident.closed_at is None


def test_resolved_incident() -> None:
    record = incident_record(
        state=pair("6", "Resolved"),
        resolved_at=pair("2024-03-01 09:30:00", "2024-03-01 01:30:00"),
        close_code=pair("Solution provided"),
        close_notes=pair("Reloaded the partition"),
        active=pair("false"),
    )
    incident = Incident.from_record(record, instance_url=INSTANCE)
    assert incident.state_label == "Resolved"
    assert incident.resolved_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert incident.close_code == "Solution provided"
    assert incident.close_notes == "Reloaded the partition"
    assert incident.active is False


def test_plain_string_fields_are_tolerated() -> None:
    """display_value=false with exclude_reference_link gives bare strings; value and display are then equal."""
    record = {key: field["value"] for key, field in incident_record().items()}
    incident = Incident.from_record(record, instance_url=INSTANCE)
    assert incident.state == incident.state_label == "1"
    assert incident.assignment_group == Reference(value=GROUP_ID, display=GROUP_ID)
    assert incident.created_on == datetime(2016, 1, 22, 14, 28, 24, tzinfo=UTC)


def test_missing_and_null_fields_read_as_empty() -> None:
    record = {
        "sys_id": pair(SYS_ID),
        "number": pair("INC0010002"),
        "description": None,
        "state": {"value": "2"},
    }
    incident = Incident.from_record(record, instance_url=INSTANCE)
    assert incident.description == ""
    assert (incident.state, incident.state_label) == ("2", "2")
    assert incident.caller_id is None
    assert incident.created_on is None
    assert incident.active is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sys_id": pair("")}, "no sys_id"),
        ({"number": None}, "no number"),
        ({"sys_created_on": pair("yesterday")}, "sys_created_on is not a date"),
    ],
)
def test_unreadable_records_raise_value_error(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Incident.from_record(incident_record(**overrides), instance_url=INSTANCE)


def test_incident_is_immutable() -> None:
    incident = Incident.from_record(incident_record(), instance_url=INSTANCE)
    with pytest.raises(ValueError, match="frozen"):
        incident.number = "INC0000001"


def test_choice_group_user_and_journal_entry() -> None:
    assert Choice.from_record(
        {"value": pair("vpn"), "label": pair("VPN"), "dependent_value": pair("network")}
    ) == Choice(value="vpn", label="VPN", dependent_value="network")
    assert (
        Choice.from_record(
            {"value": "inquiry", "label": "Inquiry / Help", "dependent_value": ""}
        ).dependent_value
        is None
    )
    assert Group.from_record({"sys_id": pair(GROUP_ID), "name": pair("Network")}) == Group(
        sys_id=GROUP_ID, name="Network"
    )
    user = User.from_record(
        {
            "sys_id": pair(USER_ID),
            "name": pair("Fred Luddy"),
            "user_name": pair("fred.luddy"),
            "email": pair("fred@x.io"),
        }
    )
    assert user == User(sys_id=USER_ID, name="Fred Luddy", user_name="fred.luddy", email="fred@x.io")
    entry = JournalEntry.from_record(
        {
            "sys_id": pair(GROUP_ID),
            "value": pair("Checked the loader"),
            "sys_created_on": pair("2024-03-01 09:30:00", "03/01/2024 01:30:00"),
            "sys_created_by": pair("admin"),
        }
    )
    assert entry == JournalEntry(
        sys_id=GROUP_ID,
        text="Checked the loader",
        created_on=datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        created_by="admin",
    )
