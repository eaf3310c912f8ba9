"""Bolt's logger, without request bodies: a body may hold what a person typed (a ServiceNow password in
the connect modal), and no log line may carry one.

slack_bolt 1.x writes parts of a payload in a few messages (slack_bolt/logger/messages.py and the
middleware): "Invalid request signature detected (... body: ...)" (AsyncRequestVerification, at INFO;
snowbot verifies in the route instead and turns Bolt's check off), "Unhandled request ({...})" (its
filtered body keeps e.g. a block_suggestion's typed `value`), "A global middleware ... for the request
({...})" and "Skipped self event: {...}". `NoBodies` rewrites those records to their first words; the
route logs which request it was (type and ids only).

Bolt gives each of its loggers the filters of the base logger when it creates it (`get_bolt_logger` ->
`_configure_from_base_logger`), so the filter goes on `bolt_logger()` before the `AsyncApp` is built.
"""

from __future__ import annotations

import logging

BOLT_LOGGER = "bot.slack.bolt"

REWRITES: tuple[tuple[str, str], ...] = (
    ("Invalid request signature detected", "Invalid request signature detected (body not logged)"),
    ("Unhandled request", "Unhandled Slack request (body not logged)"),
    ("A global middleware", "A Bolt middleware gave no response (body not logged)"),
    ("Skipped self event", "Skipped an event caused by snowbot itself"),
)


class NoBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for prefix, replacement in REWRITES:
            if message.startswith(prefix):
                record.msg, record.args = replacement, ()
                break
        return True


_FILTER = NoBodies()


def bolt_logger() -> logging.Logger:
    """The base logger of snowbot's Bolt app, with `NoBodies` on it (once)."""
    logger = logging.getLogger(BOLT_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
