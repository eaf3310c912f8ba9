"""Logging set-up for every `snowbot` command: the level, text or JSON lines, and quiet HTTP libraries.

`configure_logging(level=..., fmt=...)` (from SNOWBOT_LOG_LEVEL / SNOWBOT_LOG_FORMAT) installs one
handler on the root logger; uvicorn's loggers propagate to it (`bot.app.serve` passes `log_config=None`).
httpx logs each request's method and URL at INFO and httpcore traces every connection at DEBUG: both are
held at WARNING unless the level is DEBUG, so a busy process logs its own lines, not every request.
In JSON each line is one object: `time` (UTC, ISO 8601), `level`, `logger`, `message`, the fields given
as `extra=` (e.g. a sync pass's figures), and `exception` when there is one. Never logs a body or secret
itself; it formats what the caller logs.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler")
"""Libraries whose INFO/DEBUG lines name every request or job run; WARNING and up still show."""

_HANDLER_NAME = "snowbot"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_STANDARD.add("color_message")  # uvicorn's copy of the message with terminal colours


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(*, level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route every logger to one handler on `stream` (stderr) in `fmt` ("text" or "json") at `level`.

    Calling it again replaces snowbot's handler (no duplicate lines)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
