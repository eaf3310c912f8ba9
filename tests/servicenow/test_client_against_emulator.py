"""Every client operation against the in-process ServiceNow emulator (`emulators/servicenow.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulators.servicenow import NETWORK_GROUP_SYS_ID, ServiceNowEmulator
from servicenow import Choice, Group, RetryPolicy, ServiceNowClient, parse_credentials
from servicenow.errors import (
    AuthenticationError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    ServiceNowTimeoutError,
)
from tests.servicenow.samples import SleepRecorder

INSTANCE = "https://dev-snowbot.service-now.com"
CREDENTIALS = parse_credentials("snowbot:pa:ss-w0rd")
MISSING_SYS_ID = "0" * 32
NO_RETRY = RetryPolicy(attempts=1)


class Clock:
    """The emulator's clock; each reading is a second later, so journal entries have distinct times."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def emu() -> ServiceNowEmulator:
    return ServiceNowEmulator(
        base_url=INSTANCE,
        users=[("snowbot", "pa:ss-w0rd", ("itil",)), ("viewer", "viewer", ())],
        clock=Clock(),
    )


@pytest.fixture
async def sn(emu: ServiceNowEmulator, sleeps: SleepRecorder) -> AsyncIterator[ServiceNowClient]:
    retry = RetryPolicy(sleep=sleeps, jitter=lambda: 1.0)
    async with ServiceNowClient.connect(
        INSTANCE, CREDENTIALS, transport=emu.transport(), retry=retry
    ) as client:
        yield client


async def create(sn: ServiceNowClient, **fields: str):
    return await sn.create_incident(
        {
            "short_description": "orders_daily failed a freshness check",
            "impact": "2",
            "urgency": "1",
            **fields,
        }
    )


async def test_check_connection(sn, emu) -> None:
    await sn.check_connection()
    (request,) = emu.requests
    assert request.status == 200
    assert request.query["sysparm_display_value"] == "all"
    assert request.query["sysparm_exclude_reference_link"] == "true"


async def test_create_then_read_it_back_every_way(sn, emu) -> None:
    created = await create(sn, correlation_id="qualytics-anomaly-824", assignment_group=NETWORK_GROUP_SYS_ID)

    assert created.number.startswith("INC") and created.state_label == "New"
    assert (created.priority, created.priority_label) == ("2", "2 - High")  # impact 2 x urgency 1
    assert created.assignment_group is not None and created.assignment_group.display == "Network"
    assert created.created_on == datetime.fromisoformat(
        emu.incidents[created.sys_id]["sys_created_on"]
    ).replace(tzinfo=UTC)
    assert created.url == f"{INSTANCE}/nav_to.do?uri=incident.do?sys_id={created.sys_id}"
    read = await sn.get_incident(created.sys_id)
    # the create asks back only what its callers show (TICKET_FIELDS): the rest of its answer is empty
    not_asked = {"opened_at": None, "close_code": "", "active": False}
    assert read.active
    assert created == read.model_copy(update=not_asked)
    assert await sn.get_incident_by_number(created.number.lower()) == read
    assert await sn.find_incident_by_correlation_id("qualytics-anomaly-824") == read
    assert await sn.find_incident_by_correlation_id("qualytics-anomaly-825") is None
    assert await sn.get_incident_by_number("INC9999999") is None
    assert sn.incident_url(created.sys_id) == created.url


async def test_get_incident_that_does_not_exist(sn) -> None:
    with pytest.raises(NotFoundError, match="No Record found"):
        await sn.get_incident(MISSING_SYS_ID)


async def test_search_incidents(sn, emu) -> None:
    created = await create(sn, short_description="Freshness check failed on orders_daily")

    by_text = await sn.search_incidents("ORDERS_DAILY")
    assert by_text.items[0].sys_id == created.sys_id  # newest first
    assert all("orders_daily" in i.short_description.lower() for i in by_text.items)
    assert by_text.total == len(by_text.items) >= 2

    by_number = await sn.search_incidents(created.number[:-2])
    assert created.sys_id in {i.sys_id for i in by_number.items}
    assert all(i.number.startswith(created.number[:-2]) for i in by_number.items)

    everything = await sn.search_incidents("", page=1, size=3)
    second = await sn.search_incidents("", page=2, size=3)
    assert everything.total == second.total == len(emu.incidents)
    assert len(everything.items) == 3
    assert not {i.sys_id for i in everything.items} & {i.sys_id for i in second.items}
    created_on = [i.created_on for i in everything.items + second.items]
    assert created_on == sorted(created_on, reverse=True)


@pytest.mark.parametrize("text", ["x^ORactive=true", "x^NQactive=true", "x^ORDERBYnumber"])
async def test_injection_is_refused_or_matches_only_the_literal_text(sn, emu, text) -> None:
    try:
        page = await sn.search_incidents(text)
    except QueryError as error:
        assert "may not contain ^" in error.message
    else:
        assert all(text.lower() in incident.short_description.lower() for incident in page.items)
    assert not any(text in request.query.get("sysparm_query", "") for request in emu.requests)


async def test_the_emulator_would_fall_for_a_raw_injection(emu) -> None:
    """Shows the test above is meaningful: unfiltered, the same text returns every active incident."""
    auth = httpx.BasicAuth("snowbot", "pa:ss-w0rd")
    async with httpx.AsyncClient(transport=emu.transport(), base_url=INSTANCE, auth=auth) as http:
        response = await http.get(
            "/api/now/table/incident",
            params={
                "sysparm_query": "short_descriptionLIKEx^ORactive=true",
                "sysparm_fields": "short_description",
            },
        )
    leaked = [row["short_description"] for row in response.json()["result"]]
    assert leaked and not all("x^oractive=true" in text.lower() for text in leaked)


async def test_get_incidents_in_order(sn, emu) -> None:
    created = [await create(sn, short_description=f"check {n}") for n in range(3)]
    wanted = [created[2].sys_id, MISSING_SYS_ID, created[0].sys_id, created[1].sys_id.upper()]
    found = await sn.get_incidents(wanted)
    assert [i.sys_id for i in found] == [created[2].sys_id, created[0].sys_id, created[1].sys_id]


async def test_work_notes_description_and_resolve(sn, emu) -> None:
    created = await create(sn, description="Anomaly 824")

    noted = await sn.add_work_note(created.sys_id, "first note")
    assert noted.work_notes == ""  # a write does not ask for the growing journal back
    assert "first note" in (await sn.get_incident(created.sys_id)).work_notes
    await sn.add_work_note(created.sys_id, "second note", retry_safe=True)
    assert await sn.list_work_notes(created.sys_id) == []  # sys_journal_field is closed to itil
    assert await sn.has_work_note(created.sys_id, "second note")  # found in work_notes instead
    assert not await sn.has_work_note(created.sys_id, "third note")
    assert "sys_journal_field" in sn.refused_reads
    emu.grant_read("itil", "sys_journal_field")
    notes = await sn.list_work_notes(created.sys_id)
    assert [n.text for n in notes] == ["second note", "first note"]
    assert all(n.created_by == "snowbot" and n.created_on is not None for n in notes)

    appended = await sn.append_to_description(
        created.sys_id, "Anomaly 825 is related", work_note="linked 825"
    )
    assert appended.description == "Anomaly 824\n\nAnomaly 825 is related"
    assert (await sn.list_work_notes(created.sys_id))[0].text == "linked 825"

    resolved = await sn.resolve(
        created.sys_id, "Solution provided", "Reloaded the partition", work_note="done"
    )
    assert (resolved.state, resolved.state_label) == ("6", "Resolved")
    assert (resolved.close_code, resolved.resolved_at) == ("", None)  # a resolve asks back the state only
    after = await sn.get_incident(created.sys_id)
    assert (after.close_code, after.close_notes) == ("Solution provided", "Reloaded the partition")
    assert after.resolved_at is not None
    assert emu.incidents[created.sys_id]["state"] == "6"


async def test_resolve_without_close_fields_meets_the_data_policy(sn) -> None:
    created = await create(sn)
    with pytest.raises(PermissionDeniedError) as caught:
        await sn.resolve(created.sys_id, "", "")
    assert "The following fields are mandatory" in caught.value.message
    assert "refused to update an incident record" in caught.value.message
    assert "itil" not in caught.value.message  # what was refused, not a guess about roles


async def test_choices_need_the_sys_choice_read_grant(sn, emu) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        await sn.list_choices("incident", "category")
    assert "refused to read sys_choice" in caught.value.message
    assert "Field(s) present in the query do not have permission to be read" in caught.value.message
    assert "label, value, element and dependent_value" in sn.refused_reads["sys_choice"]
    emu.grant_read("itil", "sys_choice.name", "sys_choice.element", "sys_choice.value")
    assert await sn.list_choices("incident", "category")
    assert "sys_choice" not in sn.refused_reads  # a read that works clears the refusal


async def test_choices_groups_and_users(sn, emu) -> None:
    emu.grant_read("itil", "sys_choice.name", "sys_choice.element", "sys_choice.value")
    categories = await sn.list_choices("incident", "category")
    assert Choice(value="network", label="Network") in categories
    subcategories = await sn.list_choices("incident", "subcategory", dependent_value="network")
    assert subcategories and all(c.dependent_value == "network" for c in subcategories)
    assert "vpn" in [c.value for c in subcategories]

    assert await sn.search_groups("netw") == [Group(sys_id=NETWORK_GROUP_SYS_ID, name="Network")]
    assert "Legacy ETL" not in [g.name for g in await sn.search_groups("", limit=50)]  # inactive

    users = await sn.search_users("jane")
    assert [u.user_name for u in users] == ["jane.doe"]
    found = await sn.find_user_by_email(users[0].email)
    assert found == users[0]
    assert await sn.find_user_by_email("nobody@example.com") is None


async def test_transient_failures_are_retried_for_reads(sn, emu, sleeps) -> None:
    emu.faults.fail_next(503)
    emu.faults.fail_next(429, retry_after=2)
    await sn.check_connection()
    assert sleeps.delays == [0.2, 2.0]


async def test_lost_create_is_found_by_correlation_id(sn, emu) -> None:
    emu.faults.drop_next()
    with pytest.raises(ServiceNowTimeoutError, match="look it up before trying again"):
        await create(sn, correlation_id="qualytics-anomaly-900")
    assert [r.method for r in emu.requests].count("POST") == 1
    found = await sn.find_incident_by_correlation_id("qualytics-anomaly-900")
    assert found is not None and found.short_description == "orders_daily failed a freshness check"


async def test_hibernating_instance(sn, emu) -> None:
    emu.hibernating = True
    with pytest.raises(InvalidResponseError, match="is it hibernating"):
        await sn.check_connection()


async def test_wrong_password_and_missing_role(emu) -> None:
    wrong = parse_credentials("snowbot:nope")
    async with ServiceNowClient.connect(INSTANCE, wrong, transport=emu.transport(), retry=NO_RETRY) as client:
        with pytest.raises(AuthenticationError, match="`username:password`"):
            await client.check_connection()

    viewer = parse_credentials("viewer:viewer")
    async with ServiceNowClient.connect(
        INSTANCE, viewer, transport=emu.transport(), retry=NO_RETRY
    ) as client:
        with pytest.raises(PermissionDeniedError, match="refused to create an incident record") as caught:
            await client.create_incident({"short_description": "x"})
        assert "ACL Exception Insert Failed due to security constraints" in caught.value.message
