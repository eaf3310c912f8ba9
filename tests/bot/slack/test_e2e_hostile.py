"""`POST /slack/events` under hostile input: refused bodies never reach a log line, oversized bodies are
refused before they are read, and signed but malformed payloads get 400 (200 for an event) with one
log line and no traceback."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest

from bot.slack.ids import BlockId, ViewId
from emulators.servicenow import ServiceNowEmulator
from storage import integrations
from tests.bot.slack.conftest import SIGNING_SECRET, TEAM, USERS, Harness
from tests.conftest import API_TOKEN

PASSWORD = "Pa55-typed-in-the-modal!"  # noqa: S105 - the value whose absence the tests check
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def signed(body: bytes, content_type: str, *, timestamp: int | None = None) -> dict[str, Any]:
    """Slack's v0 signature over the raw bytes (slack_sdk's helper takes text only; these may not be)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "content": body,
        "headers": {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        },
    }


def log_lines(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as written (message, arguments, traceback), from every logger."""
    return caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)


def leaked(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The forms of the password found in the log: as typed, URL-encoded (a raw form body), JSON-escaped."""
    forms = {PASSWORD, quote_plus(PASSWORD), quote(PASSWORD), json.dumps(PASSWORD)[1:-1], "Pa55-typed"}
    text = log_lines(caplog)
    return [form for form in forms if form in text]


# ------------------------------------------------------------------ refused requests log no body


async def connect_submission(h: Harness) -> dict[str, Any]:
    await h.command("connect", user="U_ADMIN")
    view = h.last_view()
    assert view["callback_id"] == ViewId.CONNECT
    entered = {
        BlockId.INSTANCE_URL: "https://dev-snowbot.service-now.com",
        BlockId.USERNAME: "admin",
        BlockId.PASSWORD: PASSWORD,
    }
    return h.view_submission(view["id"], entered, user="U_ADMIN")


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"timestamp": int(time.time()) - 5 * 60 - 30}, id="late"),
        pytest.param({"signature": "v0=" + "a" * 64}, id="wrong-signature"),
        pytest.param({"signed": False}, id="unsigned"),
    ],
)
async def test_a_refused_connect_submission_leaves_its_password_out_of_every_log_line(
    h: Harness, sn_emulator: ServiceNowEmulator, caplog: pytest.LogCaptureFixture, how: dict[str, Any]
) -> None:
    submission = await connect_submission(h)
    caplog.clear()

    with caplog.at_level(logging.DEBUG):  # the root logger: every logger, every level
        response = await h.interact(submission, **how)

    assert response.status_code == 401
    assert leaked(caplog) == []
    [line] = [r for r in caplog.records if r.name == "bot.slack.extension"]
    assert "refused (401)" in line.getMessage()
    assert [i for i in integrations.list_all(h.snowbot.db) if i.source == "user"] == []


async def test_an_accepted_connect_submission_leaves_its_password_out_of_every_log_line(
    h: Harness, sn_emulator: ServiceNowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    submission = await connect_submission(h)  # ServiceNow refuses the password: the modal says so
    caplog.clear()

    with caplog.at_level(logging.DEBUG):
        response = await h.interact(submission)

    assert response.status_code == 200
    assert caplog.records and leaked(caplog) == []


async def test_a_late_request_says_the_clock_may_be_wrong(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.slack"):
        await h.http.post("/slack/events", **signed(b"{}", JSON, timestamp=int(time.time()) - 600))

    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.slack.extension"]
    assert "s old (more than 5 minutes)" in line and "clock" in line


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no X-Slack-Signature"),
        ({"x-slack-request-timestamp": "abc", "x-slack-signature": "v0=1"}, "not a number"),
        ({"x-slack-request-timestamp": "9" * 5000, "x-slack-signature": "v0=1"}, "not a number"),
        ({"x-slack-request-timestamp": "1000400", "x-slack-signature": "v0=1"}, "400 s in the future"),
        ({"x-slack-request-timestamp": "1000000", "x-slack-signature": "v0=\u00e9"}, "does not match"),
    ],
)
def test_each_unverified_request_says_why(headers: dict[str, str], why: str) -> None:
    from bot.slack.inbound import check_signature

    refused = check_signature(b"{}", headers, SIGNING_SECRET, now=lambda: 1_000_000.0)

    assert refused is not None and why in refused


async def test_bolt_log_messages_that_carry_a_payload_lose_it() -> None:
    from slack_bolt.logger.messages import warning_unhandled_request
    from slack_bolt.request.async_request import AsyncBoltRequest

    from bot.slack.boltlog import NoBodies

    body = {"type": "block_suggestion", "action_id": "a", "block_id": "b", "value": PASSWORD}
    bolt_says = warning_unhandled_request(AsyncBoltRequest(body=json.dumps(body)))
    record = logging.LogRecord("bot.slack.bolt", logging.WARNING, __file__, 1, bolt_says, None, None)
    assert PASSWORD in bolt_says  # Bolt's filtered body keeps what was typed

    assert NoBodies().filter(record) and PASSWORD not in record.getMessage()


async def test_bolts_own_verification_would_not_log_the_body_either(caplog: pytest.LogCaptureFixture) -> None:
    """Bolt's check is off (the route verifies), but were it on, its INFO line keeps no body."""
    from slack_bolt.middleware.request_verification.async_request_verification import AsyncRequestVerification
    from slack_bolt.request.async_request import AsyncBoltRequest
    from slack_bolt.response import BoltResponse

    from bot.slack.boltlog import bolt_logger

    verification = AsyncRequestVerification(SIGNING_SECRET, base_logger=bolt_logger())
    body = urlencode({"payload": json.dumps({"type": "view_submission", "password": PASSWORD})})
    request = AsyncBoltRequest(
        body=body, headers={"x-slack-request-timestamp": "1", "x-slack-signature": "v0=0"}
    )

    async def never() -> BoltResponse:
        raise AssertionError("verified")

    with caplog.at_level(logging.DEBUG):
        response = await verification.async_process(req=request, resp=BoltResponse(status=200), next=never)

    assert response.status == 401
    assert "Invalid request signature detected" in caplog.text and leaked(caplog) == []


# ------------------------------------------------------------------ bodies are capped before they are read


class Stream:
    """An ASGI `receive` that hands out `total` bytes in chunks and counts what was taken."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.left, self.chunk, self.taken = total, chunk, 0

    async def __call__(self) -> dict[str, Any]:
        size = min(self.chunk, self.left)
        self.left -= size
        self.taken += size
        return {"type": "http.request", "body": b"x" * size, "more_body": self.left > 0}


async def call(app: Any, path: str, stream: Stream, headers: dict[str, str]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, stream, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


HUGE = 200 * 1024 * 1024


@pytest.mark.parametrize("path", ["/slack/events", "/api/integrations/ticketing"])
async def test_a_declared_oversized_body_is_refused_without_reading_a_byte(h: Harness, path: str) -> None:
    stream = Stream(HUGE)
    headers = {"content-type": JSON, "content-length": str(HUGE), "authorization": f"Bearer {API_TOKEN}"}

    status, body = await call(h.app, path, stream, headers)

    assert status == 413 and "larger than" in json.loads(body)["detail"]
    assert stream.taken == 0


@pytest.mark.parametrize(
    ("path", "limit"), [("/slack/events", 1024 * 1024), ("/api/integrations/ticketing", 65536)]
)
async def test_a_streamed_body_is_refused_once_it_passes_the_cap(h: Harness, path: str, limit: int) -> None:
    stream = Stream(HUGE)  # no Content-Length: chunked
    headers = {"content-type": JSON, "authorization": f"Bearer {API_TOKEN}"}

    status, _ = await call(h.app, path, stream, headers)

    assert status == 413
    assert limit < stream.taken <= limit + stream.chunk


async def test_a_body_under_the_cap_is_served(h: Harness) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c" * 500_000, "token": "t"}).encode()

    response = await h.http.post("/slack/events", **signed(body, JSON))

    assert response.status_code == 200 and len(response.json()["challenge"]) == 500_000


# ------------------------------------------------------------------ signed but malformed


def interaction(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


BLOCK_ACTIONS = {
    "type": "block_actions",
    "team": TEAM,
    "user": USERS["U_JANE"],
    "api_app_id": "A_SNOWBOT",
    "trigger_id": "1.2",
}
BUTTON = {"action_id": "open_create_modal", "value": "824"}
EVENT = {"type": "event_callback", "team_id": "T0001", "api_app_id": "A_SNOWBOT", "event_id": "Ev1"}


def submission(**view: object) -> dict[str, Any]:
    """A link-modal view_submission with `view` fields replaced."""
    shown = {"id": "V1", "type": "modal", "callback_id": ViewId.LINK_INCIDENT, "state": {"values": {}}}
    return {
        "type": "view_submission",
        "user": USERS["U_JANE"],
        "trigger_id": "1.2",
        "view": {**shown, **view},
    }


def event(fields: dict[str, Any]) -> bytes:
    return json.dumps({**EVENT, "event": fields}).encode()


def case(body: bytes, content_type: str, status: int, why: str, name: str) -> Any:
    return pytest.param(body, content_type, status, why, id=name)


WRONG_INPUT = {"values": {"incidents": {"incidents_select": {"selected_options": "x"}}}}
MALFORMED = [
    case(urlencode({"payload": "{not json"}).encode(), FORM, 400, "not JSON", "payload-not-json"),
    case(interaction([1, 2]), FORM, 400, "not a JSON object", "payload-list"),
    case(interaction("text"), FORM, 400, "not a JSON object", "payload-string"),
    case(interaction(None), FORM, 400, "not a JSON object", "payload-null"),
    case(b"{nope", JSON, 400, "not JSON", "json-not-json"),
    case(b"[1, 2]", JSON, 400, "not a JSON object", "json-list"),
    case(b'"text"', JSON, 400, "not a JSON object", "json-string"),
    case(b"null", JSON, 400, "not a JSON object", "json-null"),
    case(b"[" * 100_000 + b"]" * 100_000, JSON, 400, "nested too deeply", "json-nested-too-deep"),
    case(b"payload=\xff\xfe%7B%7D", FORM, 400, "not UTF-8", "form-not-utf8"),
    case(b'{"type": "event_callback", "x": "\xff"}', JSON, 400, "not UTF-8", "json-not-utf8"),
    case(interaction({**BLOCK_ACTIONS, "actions": []}), FORM, 400, "`actions`", "block-actions-empty"),
    case(interaction(BLOCK_ACTIONS), FORM, 400, "`actions`", "block-actions-without-actions"),
    case(
        interaction({**BLOCK_ACTIONS, "actions": ["x"]}), FORM, 400, "`action_id`", "block-actions-of-strings"
    ),
    case(
        interaction({k: v for k, v in {**BLOCK_ACTIONS, "actions": [BUTTON]}.items() if k != "trigger_id"}),
        FORM,
        400,
        "`trigger_id`",
        "block-actions-without-trigger-id",
    ),
    case(
        interaction({**BLOCK_ACTIONS, "user": "U_JANE", "actions": [BUTTON]}),
        FORM,
        400,
        "`user`",
        "user-a-string",
    ),
    case(interaction({**submission(), "view": "x"}), FORM, 400, "`view`", "view-a-string"),
    case(interaction(submission(type=None)), FORM, 400, "`view.type`", "view-without-type"),
    case(
        interaction(submission(state={"values": "x"})),
        FORM,
        400,
        "`view.state.values`",
        "view-state-a-string",
    ),
    case(interaction(submission(state=WRONG_INPUT)), FORM, 400, "wrong type", "view-input-of-the-wrong-type"),
    case(
        urlencode({"command": "/snow", "text": "help"}).encode(),
        FORM,
        400,
        "`user_id`",
        "command-without-ids",
    ),
    case(json.dumps({"type": 7}).encode(), JSON, 400, "`type`", "type-not-a-string"),
    case(json.dumps({**EVENT, "event": "garbage"}).encode(), JSON, 200, "`event`", "event-a-string"),
    case(json.dumps({**EVENT, "event": [1]}).encode(), JSON, 200, "`event`", "event-a-list"),
    case(json.dumps({**EVENT, "event": {"x": 1}}).encode(), JSON, 200, "`event`", "event-without-type"),
    case(json.dumps(EVENT).encode(), JSON, 200, "`event`", "event-missing"),
    case(
        event({"type": "app_home_opened", "tab": "home"}), JSON, 200, "`event.user`", "home-opened-by-nobody"
    ),
    case(event({"type": "app_home_opened", "user": 5}), JSON, 200, "could not read", "event-user-a-number"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "why"), MALFORMED)
async def test_a_signed_malformed_request_gets_one_log_line_and_no_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str, status: int, why: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await h.http.post("/slack/events", **signed(body, content_type))
        await h.settle()

    assert response.status_code == status
    lines = [
        r for r in caplog.records if r.levelno >= logging.INFO and r.name != "httpx"
    ]  # httpx: the test client
    assert [(r.name, r.exc_info) for r in lines] == [("bot.slack.extension", None)], caplog.text
    assert f"refused ({status})" in lines[0].getMessage() and why in lines[0].getMessage()
    assert h.world.methods() == []  # nothing was done in Slack


async def test_a_well_formed_event_without_a_listener_gets_200_so_slack_does_not_retry(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({**EVENT, "event": {"type": "reaction_added", "user": "U_JANE"}}).encode()

    with caplog.at_level(logging.INFO):
        response = await h.http.post("/slack/events", **signed(body, JSON))

    assert response.status_code == 200
    assert any("no listener: event_callback, event reaction_added" in r.getMessage() for r in caplog.records)
