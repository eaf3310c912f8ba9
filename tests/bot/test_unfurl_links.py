"""`bot.usecases.unfurls.parse_link`: every link form Qualytics and ServiceNow use, and what is not one."""

from __future__ import annotations

import pytest

from bot.usecases.unfurls import AnomalyLink, TicketLink, parse_link

SYS_ID = "9d385017c611228701d22104cc95c371"
TABLES = ("incident", "problem", "rm_defect", "rm_enhancement")  # the kinds area's tables, by table name
INSTANCES = ("dev1.service-now.com", "itsm.acme.example")


def parse(url: str, tables: tuple[str, ...] = TABLES) -> AnomalyLink | TicketLink | None:
    return parse_link(url, qualytics_host="acme.qualytics.io", instance_hosts=INSTANCES, tables=tables)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.qualytics.io/datastores/23/anomalies?id=824",
        "https://acme.qualytics.io/datastores/23/anomalies/?id=824&tab=checks",
        "https://acme.qualytics.io/anomalies/824",
        "https://ACME.qualytics.io/anomalies/824/",
        "https://acme.qualytics.io/datastores/23/anomalies?foo=1&amp;id=824",  # HTML-escaped, as in text
    ],
)
def test_both_qualytics_forms_name_the_anomaly(url: str) -> None:
    assert parse(url) == AnomalyLink(824)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize(
    "form",
    [
        "https://dev1.service-now.com/nav_to.do?uri={table}.do?sys_id={sys_id}",
        "https://dev1.service-now.com/nav_to.do?uri=%2F{table}.do%3Fsys_id%3D{sys_id}",
        "https://dev1.service-now.com/{table}.do?sys_id={sys_id}",
        "https://dev1.service-now.com/{table}.do?sys_id={sys_id}&sysparm_view=ess",
    ],
)
def test_both_servicenow_forms_name_the_ticket_for_every_kind_table(form: str, table: str) -> None:
    url = form.format(table=table, sys_id=SYS_ID)
    assert parse(url) == TicketLink("dev1.service-now.com", table, SYS_ID)


@pytest.mark.parametrize(
    "url",
    [
        "https://other.qualytics.io/anomalies/824",  # not QUALYTICS_URL's host
        "https://acme.qualytics.io/datastores/23",
        "https://acme.qualytics.io/anomalies/0",
        "https://acme.qualytics.io/datastores/23/anomalies?id=abc",
        "https://dev2.service-now.com/incident.do?sys_id=" + SYS_ID,  # no integration on that host
        "https://dev1.service-now.com/change_request.do?sys_id=" + SYS_ID,  # not a ticket kind
        "https://dev1.service-now.com/incident.do?sys_id=nope",
        "https://dev1.service-now.com/nav_to.do?uri=home.do",
        "https://dev1.service-now.com/incident_list.do",
        "not a url",
        "https://[::1/",
    ],
)
def test_what_is_not_a_known_link_gives_none(url: str) -> None:
    assert parse(url) is None


def test_tables_come_from_the_kinds_given() -> None:
    assert parse(f"https://dev1.service-now.com/problem.do?sys_id={SYS_ID}", tables=("incident",)) is None
