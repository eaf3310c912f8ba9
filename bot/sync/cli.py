"""`snowbot sync --once`: one sync pass from the command line, printing what it did."""

from __future__ import annotations

import sys

from bot.services import build_snowbot
from bot.settings import Settings, load_settings
from bot.sync.wiring import NO_QUALYTICS, build_engine
from bot.usecases import Snowbot, UseCaseError
from storage import integrations, sync

NO_SERVICENOW = (
    "ServiceNow is not connected: set SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS, or connect it "
    "through Slack or POST /api/integrations/ticketing."
)


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
        print(f"outbox: {counts['pending']} pending, {counts['failed']} failed, {counts['done']} done")
        for item in sync.failures(bot.db, limit=5):
            print(f"  failed: {item.kind} note (link {item.link_id}): {item.last_error}")
        return 0
    finally:
        if snowbot is None:
            await bot.aclose()
            bot.db.close()


def _fail(message: str) -> int:
    print(f"snowbot sync: {message}", file=sys.stderr)
    return 1
