"""Test data (Table API payloads shaped as a real instance sends them) and a recording sleep."""

from __future__ import annotations

from typing import Any

INSTANCE = "https://dev-snowbot.service-now.com"
USERNAME = "snowbot_integration"
PASSWORD = "pa:ss^w0rd-Zq81"  # a colon inside, as parse_credentials must allow
SYS_ID = "c537bae64f411200adf9f8e18110c76e"
GROUP_ID = "287ebd7da9fe198100f92cc8d1d2154e"
USER_ID = "6816f79cc0a8016401c5a33be04be441"
INCIDENTS = f"{INSTANCE}/api/now/table/incident"


def pair(value: str, display: str | None = None) -> dict[str, str]:
    """A field as `sysparm_display_value=all` renders it."""
    return {"display_value": value if display is None else display, "value": value}


def incident_record(**overrides: Any) -> dict[str, Any]:
    """An incident in display_value=all mode (reference links excluded)."""
    record: dict[str, Any] = {
        "sys_id": pair(SYS_ID),
        "number": pair("INC0010002"),
        "short_description": pair("orders_daily failed a freshness check"),
        "description": pair("Anomaly 824 on orders_daily"),
        "state": pair("1", "New"),
        "priority": pair("3", "3 - Moderate"),
        "urgency": pair("2", "2 - Medium"),
        "impact": pair("2", "2 - Medium"),
        "category": pair("inquiry", "Inquiry / Help"),
        "subcategory": pair(""),
        "assignment_group": pair(GROUP_ID, "Network"),
        "assigned_to": pair(""),
        "caller_id": pair(USER_ID, "System Administrator"),
        "sys_created_on": pair("2016-01-22 14:28:24", "01/22/2016 06:28:24"),
        "sys_updated_on": pair("2016-01-22 15:00:00", "01/22/2016 07:00:00"),
        "opened_at": pair("2016-01-22 14:28:24", "01/22/2016 06:28:24"),
        "resolved_at": pair(""),
        "closed_at": pair(""),
        "close_code": pair(""),
        "close_notes": pair(""),
        "correlation_id": pair("qualytics-anomaly-824"),
        "work_notes": pair("", "2016-12-12 16:56:57 - Beth Anglin (Work notes)\nChecked the loader.\n\n"),
        "active": pair("true"),
    }
    record.update(overrides)
    return record


def envelope(result: Any) -> dict[str, Any]:
    return {"result": result}


def error_body(message: str, detail: str | None = None) -> dict[str, Any]:
    """ServiceNow's error envelope."""
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


HIBERNATION_PAGE = (
    "<!DOCTYPE html><html><head><title>ServiceNow Developers</title></head>"
    "<body><h1>Your instance is hibernating</h1><a href='https://developer.servicenow.com'>Wake up</a></body></html>"
)


class SleepRecorder:
    """Stands in for asyncio.sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
