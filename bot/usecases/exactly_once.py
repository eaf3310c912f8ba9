"""The exactly-once create: POST an incident, never two for one correlation id.

A POST that provably never left (connect error or timeout, no free connection) is sent again, up to
`Runtime.create_attempts` in all. One that may have been applied (a read or write timeout, a lost answer,
a 502/504 from a proxy) is never sent again: it is looked up by correlation id, at once and after each
`Runtime.create_settle` wait. Storage is the caller's (`bot.usecases.intents` records the intent first).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.usecases.base import Runtime
from bot.usecases.errors import Upstream, servicenow_failure
from servicenow import Incident, RetryPolicy, ServiceNowClient
from servicenow.errors import ServiceNowConnectionError, ServiceNowError
from servicenow.kinds import INCIDENT, TicketKind

log = logging.getLogger(__name__)


async def create_exactly_once(
    client: ServiceNowClient,
    *,
    fields: dict[str, str],
    runtime: Runtime,
    refused: Callable[[], Awaitable[None]] | None = None,
    kind: TicketKind = INCIDENT,
) -> Incident:
    """POST the ticket of `kind` (`fields` hold its `correlation_id`). `refused` is awaited when
    ServiceNow provably made nothing (the intent is retired)."""
    correlation_id = fields["correlation_id"]
    attempt = 0
    while True:
        attempt += 1
        try:
            return await client.create_incident(fields, kind=kind)
        except ServiceNowError as err:
            if err.may_be_applied:
                log.warning(
                    "create incident %s: attempt %s may have been applied (%s); looking it up",
                    correlation_id,
                    attempt,
                    type(err).__name__,
                )
                return await confirm_created(
                    client, correlation_id=correlation_id, lost=err, runtime=runtime, kind=kind
                )
            if not isinstance(err, ServiceNowConnectionError) or attempt >= runtime.create_attempts:
                if refused is not None:
                    await refused()
                raise servicenow_failure(err, "creating the incident") from err
            log.warning(
                "create incident %s: attempt %s never left (%s); sending it again",
                correlation_id,
                attempt,
                type(err).__name__,
            )


async def confirm_created(
    client: ServiceNowClient,
    *,
    correlation_id: str,
    lost: ServiceNowError,
    runtime: Runtime,
    kind: TicketKind = INCIDENT,
) -> Incident:
    """The incident made by a create that may have been applied: looked up by correlation id at once,
    then after each `create_settle` wait (ServiceNow may still be processing the POST). Still not found:
    `Upstream` saying so, and the create is not sent again (nothing is stored)."""
    unanswered: ServiceNowError | None = None
    for wait in (0.0, *runtime.create_settle):
        if wait:
            await runtime.sleep(wait)
        try:
            found = await client.find_incident_by_correlation_id(correlation_id, kind=kind)
        except ServiceNowError as err:
            if not RetryPolicy.is_transient(err):
                failure = servicenow_failure(err, "looking the incident up")
                raise Upstream(
                    f"ServiceNow did not confirm whether the incident was created and could not be asked "
                    f"({err.message}). Search ServiceNow for correlation id {correlation_id} before trying "
                    "again.",
                    system="servicenow",
                    kind=failure.kind if isinstance(failure, Upstream) else "bad_gateway",
                    status_code=err.status_code,
                ) from err
            unanswered = err
            continue
        if found is not None:
            return found
        unanswered = None
    reason = f" (the last look-up failed: {unanswered.message})" if unanswered is not None else ""
    raise Upstream(
        f"ServiceNow did not confirm the incident in time; it may still appear: search for correlation id "
        f"{correlation_id} in a minute, and try again only if it is not there{reason}.",
        system="servicenow",
        kind="timeout",
    ) from lost
