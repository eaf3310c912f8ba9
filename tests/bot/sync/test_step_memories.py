"""The memories the engine keeps from pass to pass, alone: resolution codes (`CloseCodes`) and Qualytics'
own ticket links (`NativeLinks`). The engine-level behaviour is in test_exactly_once and test_native_links."""

from __future__ import annotations

from datetime import timedelta

from bot.sync.close_codes import FALLBACK_CLOSE_CODE, CloseCodes
from bot.sync.native_links import NATIVE_LINKS_RECHECK, NativeLinks
from qualytics_api import QualyticsAuthError
from servicenow import Choice
from servicenow.errors import PermissionDeniedError
from servicenow.kinds import DEFECT, PROBLEM
from tests.bot.sync.conftest import T0


class Instance:
    """A ServiceNow client that only lists resolution codes (or refuses to), counting the reads."""

    def __init__(self, *codes: tuple[str, str], refuse: bool = False) -> None:
        self.codes, self.refuse, self.reads = codes, refuse, 0

    async def list_choices(
        self, table: str, element: str, dependent_value: str | None = None
    ) -> list[Choice]:
        assert (table, element) == ("incident", "close_code")  # servicenow.kinds.INCIDENT's resolve fields
        self.reads += 1
        if self.refuse:
            raise PermissionDeniedError("ServiceNow refused to read sys_choice (HTTP 403)", status_code=403)
        return [Choice(value=value, label=label) for value, label in self.codes]


async def test_resolution_codes_are_read_once_per_integration_until_forgotten() -> None:
    codes, instance = CloseCodes(), Instance(("dup", "Duplicate"), ("solved", "Solution provided"))

    async def code(status: str, integration_id: int = 1) -> str:
        return await codes.code_for(instance, integration_id=integration_id, status=status, configured=None)  # type: ignore[arg-type]

    assert [await code("Resolved"), await code("Duplicate"), await code("Invalid")] == [
        "solved",
        "dup",
        "solved",
    ]
    assert instance.reads == 1
    await code("Resolved", integration_id=2)
    codes.forget(1)
    await code("Resolved")
    assert instance.reads == 3


class Tables:
    """A client listing each table's resolution-code choices, recording which lists were read."""

    def __init__(self) -> None:
        self.read: list[tuple[str, str]] = []

    async def list_choices(
        self, table: str, element: str, dependent_value: str | None = None
    ) -> list[Choice]:
        self.read.append((table, element))
        if table == "problem":
            return [
                Choice(value="risk_accepted", label="Risk Accepted"),
                Choice(value="fix_applied", label="Fix Applied"),
            ]
        return [Choice(value="solved", label="Solution provided")]


async def test_resolution_codes_are_kept_per_integration_and_kind() -> None:
    codes, instance = CloseCodes(), Tables()

    async def code(**kind) -> str:
        return await codes.code_for(instance, integration_id=1, status="Resolved", configured="Mine", **kind)  # type: ignore[arg-type]

    assert (
        await code(kind=PROBLEM) == "fix_applied"
    )  # a Problem's own list; SNOWBOT_CLOSE_CODE is an incident's
    assert await code() == "Mine"
    assert await code(kind=DEFECT) == ""  # no resolution code on an rm_defect: nothing read
    assert await code(kind=PROBLEM) == "fix_applied"
    assert instance.read == [("problem", "resolution_code")]


async def test_a_configured_code_is_used_without_reading_and_a_refusal_falls_back() -> None:
    codes, refused = CloseCodes(), Instance(refuse=True)
    configured = await codes.code_for(
        refused, integration_id=1, status="Resolved", configured="Closed/Resolved by Caller"
    )  # type: ignore[arg-type]
    assert (configured, refused.reads) == ("Closed/Resolved by Caller", 0)
    assert (
        await codes.code_for(refused, integration_id=1, status="Duplicate", configured=None)
        == FALLBACK_CLOSE_CODE
    )  # type: ignore[arg-type]


async def test_native_links_are_rechecked_hourly_and_never_after_a_refusal() -> None:
    asked: list[int] = []

    class Qualytics:
        refuse = False

        async def ticket_links(self, anomaly_id: int) -> list[dict]:
            asked.append(anomaly_id)
            if self.refuse:
                raise QualyticsAuthError("the token may not read ticket links", status_code=403)
            return [{"id": 1}] if anomaly_id == 824 else []

    native, qualytics = NativeLinks(), Qualytics()
    for now in (T0, T0 + timedelta(minutes=59)):
        for anomaly_id in (824, 825):
            await native.check(qualytics, anomaly_id, now=now)
    assert asked == [824, 825] and native.doubled({824, 825}) == [824] and native.doubled({825}) == []

    qualytics.refuse = True
    later = T0 + NATIVE_LINKS_RECHECK
    await native.check(qualytics, 824, now=later)
    await native.check(qualytics, 825, now=later + NATIVE_LINKS_RECHECK)
    assert asked == [824, 825, 824]  # the refusal ended the checks
