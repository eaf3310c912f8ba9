"""`snowbot sync`: one sync pass from the command line (`--once`), printing what it did; `--requeue` makes
the notes ServiceNow refused for good (400/403/404) pending again once the cause is fixed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from bot.composition import build_snowbot
from bot.settings import Settings, load_settings
from bot.sync.wiring import NO_QUALYTICS, build_engine
from bot.usecases import Snowbot, UseCaseError
from storage import connect, integrations, migrate, sync

NO_SERVICENOW = (
    "ServiceNow is not connected: set SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS, or connect it "
    "through Slack or POST /api/integrations/ticketing."
)


async def run_sync(
    settings: Settings | None = None,
    *,
    once: bool = True,
    requeue: bool = False,
    snowbot: Snowbot | None = None,
) -> int:
    """`snowbot sync [--requeue] [--once]`: requeue the failed notes when asked, then run one pass unless
    only `--requeue` was given (the running bot sends them on its next pass). 0, or 1 when not configured."""
    settings = settings or load_settings()
    if requeue:
        requeue_failed(settings, snowbot=snowbot)
        if not once:
            return 0
    return await run_sync_once(settings, snowbot=snowbot)


def requeue_failed(settings: Settings | None = None, *, snowbot: Snowbot | None = None) -> int:
    """Make every failed note pending again, due now, and print how many; returns that number.

    Each keeps its marker and is looked up in the incident's journal before it is sent, so a note that
    did reach ServiceNow is not written twice. Needs only the database (no Qualytics or ServiceNow).
    """
    if snowbot is not None:
        count = sync.requeue_failed(snowbot.db, now=snowbot.clock())
    else:
        settings = settings or load_settings()
        db = connect(settings.database)
        try:
            migrate(db)
            count = sync.requeue_failed(db, now=datetime.now(UTC))
        finally:
            db.close()
    print(f"requeued {count} failed {'note' if count == 1 else 'notes'}; the next sync pass sends them")
    return count


async def run_sync_once(settings: Settings | None = None, *, snowbot: Snowbot | None = None) -> int:
    """Run one pass and print one line per kind of work and the summary; 0, or 1 when not configured.

    A `snowbot` passed in (tests) is used as is and not closed.
    """
    settings = settings or load_settings()
    if not settings.qualytics_url or settings.qualytics_token is None:
        return _fail(NO_QUALYTICS)
    bot = snowbot
    if bot is None:
        try:
            bot = build_snowbot(settings)
        except UseCaseError as err:
            return _fail(err.message)
    try:
        if not integrations.list_all(bot.db):
            return _fail(NO_SERVICENOW)
        try:
            engine = build_engine(settings, bot)
        except UseCaseError as err:
            return _fail(err.message)
        report = await engine.run_pass()
        for line in report.lines():
            print(line)
        counts = sync.counts(bot.db)
        print(
            f"outbox: {counts['pending']} pending ({counts['retrying']} retrying), {counts['failed']} failed, "
            f"{counts['done']} done"
        )
        for item in sync.retrying(bot.db, limit=5):
            print(
                f"  retrying: {item.kind} note (link {item.link_id}, {item.attempts} attempts): {item.last_error}"
            )
        for item in sync.failures(bot.db, limit=5):
            print(f"  failed: {item.kind} note (link {item.link_id}): {item.last_error}")
        if counts["failed"]:
            print("  once the cause is fixed, `snowbot sync --requeue` sends the failed notes again")
        return 0
    finally:
        if snowbot is None:
            await bot.aclose()
            bot.db.close()


def _fail(message: str) -> int:
    print(f"snowbot sync: {message}", file=sys.stderr)
    return 1
