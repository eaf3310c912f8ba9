"""The resolution code an archive resolves a ticket with, and what a refusal naming it means.

Per kind (`servicenow.kinds`): a kind without a resolution code (Defect, Enhancement) needs none; a
Problem uses its list's "fix_applied" (Fix Applied) when listed, else the first active code, else
"fix_applied". For an incident: SNOWBOT_CLOSE_CODE when set; else the code of the archive status when the instance lists one (Duplicate);
else "Solution provided", "Solved (Permanently)" or the instance's first active code; "Solution provided"
when sys_choice cannot be read (403 or no rows). The instance's codes are read once per integration and
kind, and forgotten when a resolve is refused (a data policy may refuse a stale code). Facts: the resolve fields of
`servicenow.kinds.INCIDENT`, and servicenow-table-api.md, corrections (field ACLs on sys_choice).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from servicenow import ServiceNowClient
from servicenow.errors import PermissionDeniedError
from servicenow.kinds import INCIDENT, TicketKind

log = logging.getLogger("bot.sync.engine")  # the name the sync's log lines have always carried

PREFERRED_CLOSE_CODES = ("Solution provided", "Solved (Permanently)")
"""The resolution code, by value or label: Utah and later, then the legacy list; else the instance's first
active choice."""
FALLBACK_CLOSE_CODE = "Solution provided"
"""Used when sys_choice cannot be read (403 or no rows: field ACLs hide it from itil accounts; reference,
corrections section) and SNOWBOT_CLOSE_CODE is not set: in every release's list since Utah. A wrong code
meets the instance's data policy (403 "... mandatory: Resolution code"), which the failure reports."""
STATUS_CLOSE_CODES = {"Duplicate": "Duplicate"}
"""An archive status with a resolution code of its own, used when the instance lists that code."""


@dataclass(frozen=True)
class _Codes:
    """An instance's resolution codes: value and label -> value, and the one used by default."""

    known: dict[str, str]
    default: str


class CloseCodes:
    """The resolution codes of each integration's instance and kind, read once (kept from pass to pass)."""

    def __init__(self) -> None:
        self._codes: dict[tuple[int, str], _Codes] = {}
        self._lock = asyncio.Lock()  # concurrent resolves do not each read the list

    async def code_for(
        self,
        client: ServiceNowClient,
        *,
        integration_id: int,
        status: str,
        configured: str | None,
        kind: TicketKind = INCIDENT,
    ) -> str:
        """The code to resolve with when an anomaly is archived as `status` (see the module docstring);
        SNOWBOT_CLOSE_CODE (`configured`) is an incident's code, so only incidents use it."""
        if kind.close_code_field is None:
            return ""
        if configured and kind is INCIDENT:
            return configured
        async with self._lock:
            codes = self._codes.get((integration_id, kind.name))
            if codes is None:
                codes = self._codes[(integration_id, kind.name)] = await _read(client, kind)
        own = STATUS_CLOSE_CODES.get(status)
        return codes.known[own] if own in codes.known else codes.default

    def forget(self, integration_id: int) -> None:
        """Read the instance's codes again next time (a resolve was refused: the list may have changed)."""
        for key in [key for key in self._codes if key[0] == integration_id]:
            del self._codes[key]


async def _read(client: ServiceNowClient, kind: TicketKind) -> _Codes:
    assert kind.close_code_field is not None
    fallback = FALLBACK_CLOSE_CODE if kind is INCIDENT else kind.default_close_code
    try:
        choices = await client.list_choices(kind.table, kind.close_code_field)
    except PermissionDeniedError as err:  # field ACLs on sys_choice: see FALLBACK_CLOSE_CODE
        log.info("sync: %s resolution codes unreadable, using %r: %s", kind.label, fallback, err)
        choices = []
    known = {choice.value: choice.value for choice in choices}
    known.update({choice.label: choice.value for choice in choices if choice.label not in known})
    wanted = PREFERRED_CLOSE_CODES if kind is INCIDENT else (kind.default_close_code,)
    preferred = (known[name] for name in wanted if name in known)
    first = choices[0].value if choices else fallback
    return _Codes(known, next(preferred, first))


def resolve_refusal(err: PermissionDeniedError, code: str, *, configured: bool) -> PermissionDeniedError:
    """The refusal of a resolve, saying which resolution code was sent when a data policy names it."""
    said = f"{err.detail or ''} {err.message}".lower()
    if "resolution code" not in said and "close_code" not in said and "resolution_code" not in said:
        return err
    source = "SNOWBOT_CLOSE_CODE" if configured else "snowbot's default"
    message = (
        f"{err.message} The resolution code {code!r} ({source}) is not one this instance accepts: set "
        "SNOWBOT_CLOSE_CODE to one of its resolution codes (Incident → Resolution code), then run "
        "`snowbot sync --requeue`."
    )
    return PermissionDeniedError(message, status_code=err.status_code, detail=err.detail)
