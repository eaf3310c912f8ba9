"""`bot.logs.configure_logging`: JSON lines for log shippers, and outbound request URLs only at DEBUG."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from bot.logs import configure_logging


def test_json_format_is_one_object_per_line_with_the_extra_fields() -> None:
    out = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=out)
    log = logging.getLogger("bot.sync.engine")

    log.info("sync pass: %d anomalies read", 3, extra={"anomalies_read": 3, "seconds": 0.25})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("sync pass failed")
    log.debug("not at INFO")

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message", "anomalies_read", "seconds"}
    assert first["level"] == "INFO" and first["logger"] == "bot.sync.engine"
    assert first["message"] == "sync pass: 3 anomalies read"
    assert first["anomalies_read"] == 3 and first["seconds"] == 0.25
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]


def test_configuring_again_replaces_the_handler() -> None:
    out = io.StringIO()
    configure_logging(stream=io.StringIO())
    configure_logging(stream=out)
    logging.getLogger("bot").warning("once")
    assert out.getvalue().count("once") == 1


@pytest.mark.parametrize(("level", "logged"), [("INFO", False), ("DEBUG", True)])
def test_outbound_request_urls_are_logged_only_at_debug(level: str, logged: bool) -> None:
    out = io.StringIO()
    configure_logging(level=level, stream=out)
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=transport) as client:
        client.get("https://dev-snowbot.service-now.com/api/now/table/incident?sysparm_limit=1")
    assert ("/api/now/table/incident" in out.getvalue()) is logged
