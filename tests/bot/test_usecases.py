"""The use cases against the ServiceNow and Qualytics emulators, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from bot.settings import Settings
from bot.usecases import (
    AlreadyLinked,
    AnomalyNotFound,
    InvalidInput,
    LinkNotFound,
    NotConfigured,
    NotConnected,
    SlackContext,
    Snowbot,
    TicketForm,
    TicketNotFound,
    Upstream,
    anomaly_block,
    with_anomaly_block,
)
from emulators.qualytics import QualyticsEmulator
from emulators.servicenow import NETWORK_GROUP_SYS_ID, ServiceNowEmulator
from storage import integrations, links, sync
from tests.conftest import INSTANCE_URL

SAMPLE_DESCRIPTION = (
    "## Qualytics Anomaly Linked [2026-01-23 19:51:23 UTC]\n\n**Anomaly ID:** 824\n**Status:** Acknowledged\n"
    "**Type:** record\n**Detected:** 2026-01-22 13:22:40.780346+00:00\n\n**Failed Checks:**\n"
    "- The field 'max_value' has a value that falls outside the declared limits\n\n"
    "**View in Qualytics:** https://demo.qualytics.io/datastores/23/anomalies?id=824\n"
)
"""The spec's sample description, with the emulator's Qualytics host."""


class LosingTransport(httpx.AsyncBaseTransport):
    """Raises `error` instead of forwarding the first `count` requests matching `method` (never applied)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        method: str = "POST",
        count: int = 1,
        error: type = httpx.ReadTimeout,
    ) -> None:
        self.inner, self.method, self.count, self.error = inner, method, count, error
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.method in (None, request.method) and self.lost < self.count:
            self.lost += 1
            raise self.error("lost on the way", request=request)
        return await self.inner.handle_async_request(request)


def new_incidents(sn: ServiceNowEmulator, before: set[str]) -> list[dict[str, str]]:
    return [row for sys_id, row in sn.incidents.items() if sys_id not in before]


def posts(sn: ServiceNowEmulator) -> list[object]:
    return [r for r in sn.requests if r.method == "POST"]


def lookups(sn: ServiceNowEmulator) -> list[object]:
    """The look-ups of an incident by correlation id the emulator answered."""
    return [
        r for r in sn.requests if r.method == "GET" and "correlation_id" in r.query.get("sysparm_query", "")
    ]


def with_correlation_id(sn: ServiceNowEmulator, prefix: str = "snowbot:824:") -> list[dict[str, str]]:
    return [row for row in sn.incidents.values() if row["correlation_id"].startswith(prefix)]


class SleepRecorder:
    """An injected `sleep`: records the waits, then awaits `then` (if set) instead of the clock."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.then: Callable[[], Awaitable[object]] | None = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            await self.then()


class SlowCreateTransport(httpx.AsyncBaseTransport):
    """The first POST times out for the client at once (`ReadTimeout`: it may have arrived), but ServiceNow
    applies it only once `release` is set: by default right after the first correlation-id look-up ran.
    `applied` is the task that forwards it, to await for the outcome."""

    def __init__(self, inner: httpx.AsyncBaseTransport, release_after_first_lookup: bool = True) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.release_after_first_lookup = release_after_first_lookup
        self.applied: asyncio.Task[None] | None = None
        self.lookups = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.applied is None:
            await request.aread()
            self.applied = asyncio.create_task(self._apply_when_released(request))
            raise httpx.ReadTimeout("the answer did not come in time", request=request)
        response = await self.inner.handle_async_request(request)
        if "correlation_id" in request.url.params.get("sysparm_query", ""):
            self.lookups += 1
            if self.release_after_first_lookup:
                self.release.set()
        return response

    async def _apply_when_released(self, request: httpx.Request) -> None:
        await self.release.wait()
        response = await self.inner.handle_async_request(request)
        await response.aread()

    async def wait_applied(self) -> None:
        assert self.applied is not None
        await self.applied


class AppliedThenFailing(httpx.AsyncBaseTransport):
    """Forwards the first `method` request (ServiceNow applies it), then answers the client with `status`
    (a proxy's 502/504) or raises `error` (a lost answer)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        method: str = "POST",
        *,
        status: int | None = None,
        error: type = httpx.ReadTimeout,
    ) -> None:
        self.inner, self.method, self.status, self.error = inner, method, status, error
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != self.method or self.failed:
            return response
        self.failed += 1
        await response.aread()
        if self.status is not None:
            return httpx.Response(self.status, text="Bad Gateway", request=request)
        raise self.error("the answer was lost", request=request)


# ------------------------------------------------------------------------------------------------- create


async def test_description_matches_the_spec_sample_exactly(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator, frozen_now: datetime
) -> None:
    q_emulator.anomalies[824]["status"] = "Acknowledged"
    snowbot.clock = lambda: frozen_now

    created = await snowbot.create_ticket_for_anomaly(824, TicketForm("My ticket description"), actor="U1")

    assert created.incident.description == SAMPLE_DESCRIPTION
    assert sn_emulator.incidents[created.incident.sys_id]["description"] == SAMPLE_DESCRIPTION
    assert created.message == f"Ticket {created.incident.number} created and linked to anomaly 824"


async def test_create_sends_the_form_and_a_correlation_id_and_stores_the_link(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator, q_emulator: QualyticsEmulator
) -> None:
    form = TicketForm(
        short_description="Orders out of range",
        description="Custom text",
        urgency="1",
        impact="2",
        category="database",
        subcategory="oracle",
        assignment_group=NETWORK_GROUP_SYS_ID.upper(),
    )
    created = await snowbot.create_ticket_for_anomaly(
        824, form, actor="U1", slack_context=SlackContext("C1", "1700000000.000100")
    )

    row = sn_emulator.incidents[created.incident.sys_id]
    assert (row["urgency"], row["impact"], row["priority"]) == ("1", "2", "2")
    assert (row["category"], row["subcategory"]) == ("database", "oracle")
    # the person's text comes first; the anomaly details (and the link back) are always kept
    assert row["description"].startswith("Custom text\n\n## Qualytics Anomaly Linked [")
    assert (
        "**View in Qualytics:** https://demo.qualytics.io/datastores/23/anomalies?id=824"
        in row["description"]
    )
    assert row["assignment_group"] == NETWORK_GROUP_SYS_ID
    assert row["correlation_id"].startswith("snowbot:824:")
    assert "priority" not in posts(sn_emulator)[0].body
    [link] = links.for_anomaly(snowbot.db, 824)
    assert (link.ticket_sys_id, link.ticket_number, link.status) == (row["sys_id"], row["number"], "New")
    assert (link.created_by, link.channel_id, link.thread_ts) == ("U1", "C1", "1700000000.000100")
    state = sync.get_state(snowbot.db, link.id)
    assert state is not None and state.last_status == q_emulator.anomalies[824]["status"]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (TicketForm("   "), "short_description"),
        (TicketForm("x" * 161), "short_description"),
        (TicketForm("ok", urgency="4"), "urgency"),
        (TicketForm("ok", impact="high"), "impact"),
        (TicketForm("ok", assignment_group="Network"), "assignment_group"),
        (TicketForm("ok", assigned_to="beth.anglin"), "assigned_to"),
    ],
)
async def test_a_bad_form_is_refused_before_any_call(
    snowbot: Snowbot,
    sn_emulator: ServiceNowEmulator,
    q_emulator: QualyticsEmulator,
    form: TicketForm,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await snowbot.create_ticket_for_anomaly(824, form, actor="U1")
    assert caught.value.field == field
    assert sn_emulator.requests == [] and q_emulator.requests == []


async def test_an_unknown_category_lists_the_instance_choices(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    before = set(sn_emulator.incidents)
    with pytest.raises(InvalidInput, match="database") as caught:
        await snowbot.create_ticket_for_anomaly(824, TicketForm("ok", category="Database"), actor="U1")
    assert caught.value.field == "category"
    with pytest.raises(InvalidInput) as caught:
        await snowbot.create_ticket_for_anomaly(
            824, TicketForm("ok", category="network", subcategory="oracle"), actor="U1"
        )
    assert caught.value.field == "subcategory"
    assert new_incidents(sn_emulator, before) == []


async def test_a_lost_create_response_does_not_make_a_second_incident(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    before = set(sn_emulator.incidents)
    sn_emulator.faults.drop_next()

    created = await snowbot.create_ticket_for_anomaly(824, TicketForm("Lost answer"), actor="U1")

    [row] = new_incidents(sn_emulator, before)
    assert created.incident.sys_id == row["sys_id"]
    assert len(posts(sn_emulator)) == 1
    [link] = links.for_anomaly(snowbot.db, 824)
    assert link.ticket_sys_id == row["sys_id"]


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_a_create_that_never_left_is_sent_again_with_the_same_correlation_id(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator, error: type
) -> None:
    bot = make_snowbot(settings, servicenow_transport=LosingTransport(sn_emulator.transport(), error=error))
    before = set(sn_emulator.incidents)

    created = await bot.create_ticket_for_anomaly(824, TicketForm("Sent twice"), actor="U1")

    [row] = new_incidents(sn_emulator, before)
    assert created.incident.sys_id == row["sys_id"]
    assert len(posts(sn_emulator)) == 1 and lookups(sn_emulator) == []  # nothing arrived: nothing to look up


async def test_create_gives_up_after_a_few_unsent_attempts_and_stores_nothing(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    losing = LosingTransport(sn_emulator.transport(), count=100, error=httpx.ConnectTimeout)
    bot = make_snowbot(settings, servicenow_transport=losing)

    with pytest.raises(Upstream) as caught:
        await bot.create_ticket_for_anomaly(824, TicketForm("Never arrives"), actor="U1")

    assert (caught.value.system, caught.value.kind) == ("servicenow", "timeout")
    assert losing.lost == bot.create_attempts
    assert links.for_anomaly(bot.db, 824) == []


async def test_a_slow_create_is_found_by_looking_again_and_never_sent_twice(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    """The POST times out while ServiceNow is still working on it: the first look-up finds nothing, the
    incident appears after it. snowbot waits (settles) and looks again instead of sending it again."""
    slow = SlowCreateTransport(sn_emulator.transport())
    bot = make_snowbot(settings, servicenow_transport=slow)
    bot.sleep = sleeps = SleepRecorder()
    sleeps.then = slow.wait_applied

    created = await bot.create_ticket_for_anomaly(824, TicketForm("Slow create"), actor="U1")
    await slow.wait_applied()

    [row] = with_correlation_id(sn_emulator)
    assert created.incident.sys_id == row["sys_id"]
    assert len(posts(sn_emulator)) == 1 and slow.lookups == 2
    assert sleeps.waits == [bot.create_settle[0]]
    [link] = links.for_anomaly(bot.db, 824)
    assert link.ticket_sys_id == row["sys_id"]


async def test_a_create_not_confirmed_in_time_is_a_clear_error_and_never_sent_twice(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    slow = SlowCreateTransport(sn_emulator.transport(), release_after_first_lookup=False)
    bot = make_snowbot(settings, servicenow_transport=slow)
    bot.sleep = sleeps = SleepRecorder()

    with pytest.raises(Upstream) as caught:
        await bot.create_ticket_for_anomaly(824, TicketForm("Very slow create"), actor="U1")
    slow.release.set()  # ServiceNow finishes only now
    await slow.wait_applied()

    [row] = with_correlation_id(sn_emulator)
    assert (caught.value.system, caught.value.kind) == ("servicenow", "timeout")
    assert "did not confirm the incident in time" in caught.value.message
    assert f"correlation id {row['correlation_id']}" in caught.value.message
    assert len(posts(sn_emulator)) == 1
    assert slow.lookups == len(bot.create_settle) + 1 and sleeps.waits == list(bot.create_settle)
    assert links.for_anomaly(bot.db, 824) == []


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_error_after_the_create_was_applied_is_looked_up(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator, status: int
) -> None:
    bot = make_snowbot(
        settings, servicenow_transport=AppliedThenFailing(sn_emulator.transport(), status=status)
    )
    bot.sleep = SleepRecorder()

    created = await bot.create_ticket_for_anomaly(824, TicketForm("Behind a proxy"), actor="U1")

    [row] = with_correlation_id(sn_emulator)
    assert created.incident.sys_id == row["sys_id"] and len(posts(sn_emulator)) == 1


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_error_is_never_followed_by_a_second_create(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator, status: int
) -> None:
    snowbot.sleep = SleepRecorder()
    sn_emulator.faults.fail_next(status)  # not applied, but the client cannot know

    with pytest.raises(Upstream, match="did not confirm the incident in time"):
        await snowbot.create_ticket_for_anomaly(824, TicketForm("Gateway"), actor="U1")

    assert len(posts(sn_emulator)) == 1 and len(lookups(sn_emulator)) == len(snowbot.create_settle) + 1
    assert with_correlation_id(sn_emulator) == [] and links.for_anomaly(snowbot.db, 824) == []


async def test_servicenow_failing_stores_nothing(snowbot: Snowbot, sn_emulator: ServiceNowEmulator) -> None:
    sn_emulator.faults.fail_next(500)
    with pytest.raises(Upstream) as caught:
        await snowbot.create_ticket_for_anomaly(824, TicketForm("Server error"), actor="U1")
    assert caught.value.kind == "bad_gateway" and "500" in caught.value.message
    assert links.for_anomaly(snowbot.db, 824) == []


async def test_unknown_anomaly(snowbot: Snowbot, sn_emulator: ServiceNowEmulator) -> None:
    with pytest.raises(AnomalyNotFound):
        await snowbot.create_ticket_for_anomaly(999_999, TicketForm("x"), actor="U1")
    with pytest.raises(AnomalyNotFound):
        await snowbot.list_links(999_999)
    assert [r for r in sn_emulator.requests if r.method != "GET"] == []


async def test_qualytics_unavailable_is_an_upstream_failure(
    snowbot: Snowbot, q_emulator: QualyticsEmulator
) -> None:
    q_emulator.faults.fail_next(503, count=10)
    with pytest.raises(Upstream) as caught:
        await snowbot.create_ticket_for_anomaly(824, TicketForm("x"), actor="U1")
    assert (caught.value.system, caught.value.kind) == ("qualytics", "unavailable")


URL_824 = "https://demo.qualytics.io/datastores/23/anomalies?id=824"
VIEW_LINE = f"**View in Qualytics:** {URL_824}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(SAMPLE_DESCRIPTION, SAMPLE_DESCRIPTION, id="the-untouched-block"),
        pytest.param(SAMPLE_DESCRIPTION.rstrip("\n"), SAMPLE_DESCRIPTION, id="untouched-without-newline"),
        pytest.param(
            SAMPLE_DESCRIPTION[:120],  # a long Slack description cut from the end, where the link is
            f"{SAMPLE_DESCRIPTION[:120].rstrip()}\n\n{VIEW_LINE}\n",
            id="truncated",
        ),
        pytest.param(
            SAMPLE_DESCRIPTION.replace(VIEW_LINE + "\n", "") + "Checked by the on-call team.",
            SAMPLE_DESCRIPTION.replace(VIEW_LINE + "\n", "")
            + f"Checked by the on-call team.\n\n{VIEW_LINE}\n",
            id="link-line-deleted",
        ),
        pytest.param(
            SAMPLE_DESCRIPTION.replace("id=824", "id=8240"),
            SAMPLE_DESCRIPTION.replace("id=824", "id=8240") + f"\n{VIEW_LINE}\n",
            id="another-anomaly's-link",
        ),
        pytest.param(
            f"Seen twice, see {URL_824}.", f"Seen twice, see {URL_824}.\n", id="the-link-in-the-person's-text"
        ),
        pytest.param("  ", SAMPLE_DESCRIPTION, id="blank"),
        pytest.param("My text", f"My text\n\n{SAMPLE_DESCRIPTION}", id="no-block"),
    ],
)
def test_the_description_always_links_back_to_the_anomaly(text: str, expected: str) -> None:
    assert with_anomaly_block(text, SAMPLE_DESCRIPTION, URL_824) == expected


async def test_a_truncated_prefilled_description_still_links_back_to_qualytics(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    cut = SAMPLE_DESCRIPTION[: SAMPLE_DESCRIPTION.index("**View in Qualytics:**")]  # as Slack may cut it

    created = await snowbot.create_ticket_for_anomaly(824, TicketForm("Cut", description=cut), actor="U1")

    description = sn_emulator.incidents[created.incident.sys_id]["description"]
    assert description.startswith(cut.rstrip()) and description.endswith(f"\n\n{VIEW_LINE}\n")
    assert description.count("## Qualytics Anomaly Linked") == 1


def test_anomaly_block_handles_no_failed_checks(snowbot: Snowbot) -> None:
    from qualytics_api import Anomaly

    anomaly = Anomaly.model_validate(
        {
            "id": 5,
            "status": "Active",
            "type": "shape",
            "created": "2026-01-02T03:04:05Z",
            "datastore": {"id": 1},
        }
    )
    text = anomaly_block(anomaly, "https://q/x", datetime(2026, 1, 3, tzinfo=UTC))
    assert "**Detected:** 2026-01-02 03:04:05+00:00\n" in text
    assert "**Failed Checks:**\n- (none reported)\n" in text and text.endswith("https://q/x\n")


# --------------------------------------------------------------------------------------------------- link


@pytest.mark.parametrize("by", ["number", "sys_id"])
async def test_link_appends_the_anomaly_and_a_work_note_in_one_patch(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator, frozen_now: datetime, by: str
) -> None:
    row = sn_emulator.get_by_number("INC0000001")
    assert row is not None
    original = row["description"]
    snowbot.clock = lambda: frozen_now
    sn_emulator.reset_log()

    linked = await snowbot.link_existing_ticket(824, row[by], actor="U2")

    assert linked.link.ticket_sys_id == row["sys_id"]
    description = sn_emulator.incidents[row["sys_id"]]["description"]
    assert description.startswith(original + "\n\n## Qualytics Anomaly Linked [2026-01-23 19:51:23 UTC]\n")
    [note] = [entry["value"] for entry in sn_emulator.journal(row["sys_id"])][-1:]
    assert "Qualytics anomaly 824" in note and "U2" in note
    assert [r.method for r in sn_emulator.requests if r.method != "GET"] == ["PATCH"]


async def test_a_duplicate_link_is_refused_before_touching_servicenow(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    row = sn_emulator.get_by_number("INC0000001")
    assert row is not None
    await snowbot.link_existing_ticket(824, "INC0000001", actor="U2")
    sn_emulator.reset_log()

    for ticket in ("inc0000001", row["sys_id"]):
        with pytest.raises(AlreadyLinked, match="INC0000001 is already linked to anomaly 824"):
            await snowbot.link_existing_ticket(824, ticket, actor="U2")
    assert sn_emulator.requests == []


async def test_two_identical_link_requests_at_once_append_once(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    results = await asyncio.gather(
        *(snowbot.link_existing_ticket(824, "INC0000001", actor="U2") for _ in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["AlreadyLinked", "TicketLinked"]
    assert [r.method for r in sn_emulator.requests if r.method != "GET"] == ["PATCH"]


def blocks_and_notes(sn: ServiceNowEmulator, number: str, url: str = URL_824) -> tuple[int, int]:
    row = sn.get_by_number(number)
    assert row is not None
    notes = [e["value"] for e in sn.journal(row["sys_id"]) if url in e["value"]]
    return row["description"].count(url), len(notes)


@pytest.mark.parametrize(
    "lost", [{"error": httpx.ReadTimeout}, {"error": httpx.RemoteProtocolError}, {"status": 504}]
)
async def test_a_link_whose_answer_was_lost_after_it_was_applied_is_stored(
    make_snowbot: Callable[..., Snowbot],
    settings: Settings,
    sn_emulator: ServiceNowEmulator,
    lost: dict[str, object],
) -> None:
    bot = make_snowbot(
        settings, servicenow_transport=AppliedThenFailing(sn_emulator.transport(), "PATCH", **lost)
    )

    linked = await bot.link_existing_ticket(824, "INC0000001", actor="U2")

    assert linked.incident.number == "INC0000001" and URL_824 in linked.incident.description
    assert [link.ticket_number for link in links.for_anomaly(bot.db, 824)] == ["INC0000001"]
    assert blocks_and_notes(sn_emulator, "INC0000001") == (1, 1)
    assert len([r for r in sn_emulator.requests if r.method == "PATCH"]) == 1


async def test_a_link_whose_patch_never_arrived_fails_and_a_retry_appends_once(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    bot = make_snowbot(
        settings, servicenow_transport=LosingTransport(sn_emulator.transport(), method="PATCH")
    )
    with pytest.raises(Upstream) as caught:
        await bot.link_existing_ticket(824, "INC0000001", actor="U2")
    assert caught.value.kind == "timeout" and links.for_anomaly(bot.db, 824) == []
    assert blocks_and_notes(sn_emulator, "INC0000001") == (0, 0)

    bot.intent_settle = 0.0  # the lost PATCH has surely ended: its intent may be retired, the retry appends
    await bot.link_existing_ticket(824, "INC0000001", actor="U2")

    assert blocks_and_notes(sn_emulator, "INC0000001") == (1, 1)


async def test_linking_again_after_an_unrecorded_append_does_not_append_twice(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    """An earlier attempt appended the block but stored no link (e.g. it crashed): the retry only links."""
    row = sn_emulator.get_by_number("INC0000001")
    assert row is not None
    row["description"] += f"\n\n{SAMPLE_DESCRIPTION}"
    sn_emulator.reset_log()

    linked = await snowbot.link_existing_ticket(824, "INC0000001", actor="U2")

    assert linked.link.ticket_sys_id == row["sys_id"]
    assert [r.method for r in sn_emulator.requests if r.method != "GET"] == []
    assert row["description"].count(URL_824) == 1


class SlowPatchTransport(httpx.AsyncBaseTransport):
    """Lets every other task run (without a clock) before a PATCH goes out, as a slow network would."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            for _ in range(100):
                await asyncio.sleep(0)
        return await self.inner.handle_async_request(request)


async def test_two_anomalies_linked_to_one_incident_at_once_keep_both_blocks(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    snowbot = make_snowbot(settings, servicenow_transport=SlowPatchTransport(sn_emulator.transport()))
    url_823 = URL_824.replace("824", "823")
    await asyncio.gather(
        snowbot.link_existing_ticket(823, "INC0000001", actor="U2"),
        snowbot.link_existing_ticket(824, "INC0000001", actor="U3"),
    )

    assert blocks_and_notes(sn_emulator, "INC0000001") == (1, 1)
    assert blocks_and_notes(sn_emulator, "INC0000001", url_823) == (1, 1)
    row = sn_emulator.get_by_number("INC0000001")
    assert row is not None
    assert sorted(link.anomaly_id for link in links.for_ticket(snowbot.db, row["sys_id"])) == [823, 824]


async def test_many_tickets_per_anomaly_and_unlink(snowbot: Snowbot) -> None:
    first = await snowbot.link_existing_ticket(824, "INC0000001", actor="U2")
    await snowbot.link_existing_ticket(824, "INC0000002", actor="U2")
    await snowbot.link_existing_ticket(823, "INC0000001", actor="U2")
    assert [link.ticket_number for link in await snowbot.list_links(824)] == ["INC0000001", "INC0000002"]

    with pytest.raises(LinkNotFound):
        await snowbot.unlink(823, first.link.id)
    await snowbot.unlink(824, first.link.id)
    assert [link.ticket_number for link in await snowbot.list_links(824)] == ["INC0000002"]


@pytest.mark.parametrize("ticket", ["INC9999999", "0123456789abcdef0123456789abcdef"])
async def test_link_to_an_unknown_ticket(snowbot: Snowbot, ticket: str) -> None:
    with pytest.raises(TicketNotFound):
        await snowbot.link_existing_ticket(824, ticket, actor="U2")
    assert links.for_anomaly(snowbot.db, 824) == []


@pytest.mark.parametrize("ticket", ["", "INC12", "x^NQactive=true", "javascript:gs.log(1)"])
async def test_a_malformed_ticket_id_is_invalid_input(snowbot: Snowbot, ticket: str) -> None:
    with pytest.raises(InvalidInput):
        await snowbot.link_existing_ticket(824, ticket, actor="U2")
    with pytest.raises(InvalidInput):
        await snowbot.get_ticket(ticket)


# ----------------------------------------------------------------------------------- search, get, lookups


async def test_search_and_get(snowbot: Snowbot) -> None:
    page = await snowbot.search_tickets("shared folder", page=1, size=10)
    assert [i.number for i in page.items] == ["INC0000001"] and (page.total, page.pages) == (1, 1)
    everything = await snowbot.search_tickets("", page=1, size=2)
    assert everything.pages == -(-everything.total // 2) and len(everything.items) == 2
    assert (await snowbot.get_ticket("inc0000001")).short_description == "Unable to access the shared folder."
    with pytest.raises(InvalidInput):
        await snowbot.search_tickets("a^NQb")


async def test_form_specification_reads_and_caches_the_instance_choices(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    spec = await snowbot.form_specification()
    assert spec.choices_source == "instance"
    assert spec.field("title").required and spec.field("title").max_length == 160
    assert spec.field("priority").read_only
    assert [o.label for o in spec.field("urgency").options or []] == ["1 - High", "2 - Medium", "3 - Low"]
    assert "database" in [o.value for o in spec.field("category").options or []]
    assert ("oracle", "database") in [
        (o.value, o.dependent_value) for o in spec.field("subcategory").options or []
    ]
    sn_emulator.reset_log()
    await snowbot.form_specification()
    assert sn_emulator.requests == []


async def test_form_specification_falls_back_to_free_text(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    sn_emulator.hibernating = True
    spec = await snowbot.form_specification()
    assert spec.choices_source == "free_text"
    assert spec.field("category").type == "string" and spec.field("category").options is None


async def test_groups_users_and_callers(snowbot: Snowbot) -> None:
    assert NETWORK_GROUP_SYS_ID in [g.sys_id for g in await snowbot.search_groups("netw")]
    assert "jane.doe" in [u.user_name for u in await snowbot.search_users("jane")]
    caller = await snowbot.caller_for_email("jane.doe@example.com")
    assert caller is not None and caller.user_name == "jane.doe"
    assert await snowbot.caller_for_email("nobody@example.com") is None
    assert await snowbot.caller_for_email("not an email") is None


# ------------------------------------------------------------------------------------------- integrations


async def test_the_environment_integration_is_recorded_once_without_a_password(snowbot: Snowbot) -> None:
    [env] = await snowbot.list_integrations()
    assert (env.source, env.username, env.is_default) == ("env", "admin", True)
    assert snowbot.ensure_env_integration() == env
    row = next(snowbot.db.query("SELECT password_encrypted FROM integrations"))
    assert row["password_encrypted"] is None
    checked = await snowbot.check_connection()
    assert checked.status == "Connected"


async def test_connect_stores_an_encrypted_password_and_reports_connected(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
) -> None:
    sn_emulator.add_user("svc_qualytics", "S3cret:with:colons", ["itil"])
    bot = make_snowbot(make_settings(servicenow_instance_url=None, servicenow_credentials=None))

    connected = await bot.connect("https://dev-snowbot.service-now.com", "svc_qualytics:S3cret:with:colons")

    assert connected.message == "The Integration has been successfully created."
    assert (connected.integration.status, connected.integration.source) == ("Connected", "user")
    stored = next(bot.db.query("SELECT password_encrypted FROM integrations"))["password_encrypted"]
    assert "S3cret" not in stored
    assert (await bot.get_ticket("INC0000001")).number == "INC0000001"


@pytest.mark.parametrize(
    ("prepare", "advice", "kind"),
    [
        (lambda sn: None, "username:password", "bad_gateway"),
        (lambda sn: setattr(sn, "hibernating", True), "hibernating", "unavailable"),
        (lambda sn: sn.faults.fail_next(503, count=10), "503", "unavailable"),
    ],
    ids=["401", "hibernating", "503"],
)
async def test_connect_failures_give_advice_and_mark_the_row(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
    prepare: Callable[[ServiceNowEmulator], object],
    advice: str,
    kind: str,
) -> None:
    bot = make_snowbot(make_settings(servicenow_instance_url=None, servicenow_credentials=None))
    await bot.connect("https://dev-snowbot.service-now.com", "admin:admin")
    prepare(sn_emulator)
    credentials = "admin:wrong" if advice == "username:password" else "admin:admin"

    with pytest.raises(Upstream) as caught:
        await bot.connect("https://dev-snowbot.service-now.com", credentials)

    assert advice in caught.value.message and caught.value.kind == kind
    [row] = integrations.list_all(bot.db)
    assert row.status == "Error" and advice in (row.last_error or "")
    assert "wrong" not in caught.value.message


async def test_a_missing_role_is_reported_as_what_was_refused(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator
) -> None:
    sn_emulator.add_user("admin", "admin", ["snc_read_only"])
    with pytest.raises(Upstream, match="refused to create an incident record") as caught:
        await snowbot.create_ticket_for_anomaly(824, TicketForm("x"), actor="U1")
    assert "ACL Exception Insert Failed due to security constraints" in caught.value.message
    assert "itil" not in caught.value.message  # ServiceNow's words, not a guess about roles
    assert caught.value.status_code == 403
    assert links.for_anomaly(snowbot.db, 824) == []


@pytest.mark.parametrize(
    ("url", "credentials", "field"),
    [
        ("http://dev-snowbot.service-now.com", "a:Pw-1", "instance_url"),
        ("https://dev-snowbot.service-now.com/", "a:Pw-1", "instance_url"),
        ("https://dev-snowbot.service-now.com", "no-colon", "credentials"),
        ("https://dev-snowbot.service-now.com", ":password", "credentials"),
    ],
)
async def test_connect_validates_before_any_call(
    snowbot: Snowbot, sn_emulator: ServiceNowEmulator, url: str, credentials: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await snowbot.connect(url, credentials)
    assert caught.value.field == field and "Pw-1" not in caught.value.message
    assert sn_emulator.requests == []


async def test_connect_without_a_secret_key_is_refused(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    sn_emulator: ServiceNowEmulator,
) -> None:
    bot = make_snowbot(make_settings(secret_key=None))
    with pytest.raises(NotConfigured, match="SNOWBOT_SECRET_KEY"):
        await bot.connect("https://dev-snowbot.service-now.com", "admin:admin")
    assert sn_emulator.requests == []
    # ... while the integration from the environment keeps working without one.
    assert (await bot.get_ticket("INC0000001")).number == "INC0000001"


async def test_not_connected(
    make_snowbot: Callable[..., Snowbot], make_settings: Callable[..., Settings]
) -> None:
    bot = make_snowbot(make_settings(servicenow_instance_url=None, servicenow_credentials=None))
    with pytest.raises(NotConnected, match="POST /api/integrations/ticketing"):
        await bot.search_tickets("x")
    assert (await bot.form_specification()).choices_source == "free_text"


async def test_status_reports_integrations_and_sync_health(snowbot: Snowbot) -> None:
    created = await snowbot.create_ticket_for_anomaly(824, TicketForm("x"), actor="U1")
    sync.record_events(
        snowbot.db,
        created.link.id,
        "Acknowledged",
        False,
        [],
        [{"event_key": "k", "kind": "status", "payload": {}}],
    )
    status = await snowbot.status()
    assert [i.source for i in status.integrations] == ["env"]
    assert (status.sync.pending, status.sync.failed, status.sync.last_run_at) == (1, 0, None)


# ------------------------------------------------------------------------------------------ client cache


class HoldingTransport(httpx.AsyncBaseTransport):
    """Holds the first incident GET until `release` is set (`arrived` says it is held); its `aclose` yields
    to the event loop, as closing a real connection pool does."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.arrived, self.release = asyncio.Event(), asyncio.Event()
        self.held = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if (
            not self.held
            and request.method == "GET"
            and request.url.path.startswith("/api/now/table/incident")
        ):
            self.held = True
            self.arrived.set()
            await self.release.wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await asyncio.sleep(0)  # the emulator's transport is shared by every client: never closed here


async def test_reconnecting_does_not_close_a_client_with_requests_in_flight(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    hold = HoldingTransport(sn_emulator.transport())
    bot = make_snowbot(settings, servicenow_transport=hold)
    [env] = await bot.list_integrations()
    in_use = await bot.servicenow_client(env.id)
    linking = asyncio.create_task(bot.link_existing_ticket(824, "INC0000001", actor="U2"))
    await hold.arrived.wait()

    await bot.connect(INSTANCE_URL, "admin:admin")  # the same integration, saved again: a new client
    hold.release.set()
    linked = await linking

    assert linked.incident.number == "INC0000001"
    assert await bot.servicenow_client(env.id) is not in_use
    await bot.aclose()
    assert in_use._http.is_closed  # the retired client is closed with the bot


async def test_concurrent_callers_share_one_client_after_the_credentials_changed(
    make_snowbot: Callable[..., Snowbot], settings: Settings, sn_emulator: ServiceNowEmulator
) -> None:
    closing_yields = HoldingTransport(sn_emulator.transport())
    closing_yields.held = True  # hold nothing: only closing yields
    bot = make_snowbot(settings, servicenow_transport=closing_yields)
    [env] = await bot.list_integrations()
    stale = await bot.servicenow_client(env.id)
    sn_emulator.add_user("admin", "rotated", ["itil", "admin"])
    bot.settings.servicenow_credentials = SecretStr("admin:rotated")

    first, second = await asyncio.gather(bot.servicenow_client(env.id), bot.servicenow_client(env.id))

    assert first is second and first is not stale
    assert (await bot.get_ticket("INC0000001")).number == "INC0000001"


# ------------------------------------------------------------------------------------ secrets at rest


def test_the_environment_integration_needs_no_secret_box(
    make_snowbot: Callable[..., Snowbot],
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No SNOWBOT_SECRET_KEY: no throwaway SecretBox (600k PBKDF2 iterations) is derived at start-up."""

    def no_box(*_args: object) -> None:
        raise AssertionError("a SecretBox was derived for an integration that stores no secret")

    monkeypatch.setattr("storage.crypto.SecretBox.__init__", no_box)
    bot = make_snowbot(make_settings(secret_key=None))

    [env] = integrations.list_all(bot.db)
    assert (env.source, env.username, env.is_default) == ("env", "admin", True)
    with pytest.raises(ValueError, match="SecretBox"):
        integrations.save(
            bot.db, None, instance_url="https://x.service-now.com", username="u", password=SecretStr("p")
        )


def test_the_clear_credentials_are_not_kept_on_the_settings(settings: Settings) -> None:
    assert settings.servicenow_credentials_value == "admin:admin"
    assert "admin:admin" not in repr(vars(settings))
    settings.servicenow_credentials = SecretStr("admin:rotated")
    assert settings.servicenow_credentials_value == "admin:rotated"
