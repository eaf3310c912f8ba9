"""Shared by the bot's tests: commands run in-process (`snowbot.cli.main`) configure logging as the real
process does; each test gets the logging set-up it started with back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import QUIET_LOGGERS


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
