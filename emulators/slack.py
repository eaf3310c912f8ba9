"""A lean Slack Web API emulator: the methods snowbot calls, answering as Slack does.

`POST|GET /api/<method>` takes form-encoded, JSON or query arguments and the bot token as
`Authorization: Bearer` or a `token` argument. It answers `{"ok": true, ...}` or `{"ok": false, "error":
...}` with Slack's error names (`invalid_auth`, `channel_not_found`, `users_not_found`,
`expired_trigger_id`, `hash_conflict`, `missing_scope`, ...), 429 + `Retry-After` when told to
(`rate_limit_next`) or by `faults`, and rejects views and messages that break Block Kit limits with
`invalid_arguments` / `invalid_blocks` and a `response_metadata.messages` explanation in Slack's style
(`[ERROR] must be less than 25 characters [json-pointer:/view/title/text]`).

Socket Mode: `apps.connections.open` takes only the app-level token (`app_token`, in the Authorization
header as Slack requires) and answers as Slack's errors table for the method says: `not_authed` without
a token, `not_allowed_token_type` for a bot or user token (xoxb-/xoxp-), `invalid_auth` for any other;
otherwise a one-use `ws://.../link/?ticket=...` URL whose WebSocket greets with Slack's `hello` message
(Socket Mode docs) and records the envelope acks it receives (`socket_acks`). `refuse_next`
("internal_error", "ratelimited", ...) and `rate_limit_next` fault it like any method. The app token
calls nothing else (`not_allowed_token_type`). Serving the WebSocket needs the `websockets` package.

Link unfurls: `share_links(channel, text)` is a person posting `text` (or writing it, `composer=True`);
it returns the `link_shared` event Slack sends for the links on the app's `unfurl_domains` (the shape of
Slack's link_shared docs), for a test to deliver; `chat.unfurl` (links:write) attaches cards to those
URLs only (`unfurls`), with the errors of its docs' table (cannot_find_service, missing_unfurls,
invalid_unfurls_format, cannot_unfurl_url, cannot_find_message, cannot_find_channel).

`GET /api/` (and `/`) lists the methods served. Every call is recorded (`calls`, `requests`); views
(`views`, view_id → view with `hash`), posted messages (`messages`, with `ts`/`thread_ts`) and ephemeral messages (`ephemeral`) are kept for tests to
inspect. What the app posts carries its `app_id` (`app_messages`, `posted_by_app`); chat.update of any
other message answers `cant_update_message`, as Slack does. slack_sdk speaks aiohttp, so tests serve the
app on a port with `emulators.serve.serve_in_thread` and point `AsyncWebClient(token, base_url=f"{base_url}/api/")` at it; `transport()` serves httpx clients
in-process like the other emulators.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from emulators.faults import Faults
from emulators.transport import DroppingTransport, RecordedRequest, lose_response

DEFAULT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "channels:history",
    "groups:history",
    "links:read",
    "links:write",
)
"""The bot scopes snowbot's manifest.yml asks for (tests/bot/slack/test_manifest.py keeps them equal)."""

DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {
        "id": "U_ADMIN",
        "name": "admin",
        "real_name": "Ada Admin",
        "email": "admin@example.com",
        "is_admin": True,
    },
    {"id": "U_JANE", "name": "jane.doe", "real_name": "Jane Doe", "email": "jane.doe@example.com"},
    {"id": "U_BOB", "name": "bob", "real_name": "Bob Stone", "email": "bob@example.com"},
)

DEFAULT_CHANNELS: tuple[dict[str, Any], ...] = (
    {"id": "C_ALERTS", "name": "dq-alerts", "is_member": True},
    {"id": "C_GENERAL", "name": "general", "is_member": False},
    {"id": "G_PRIVATE", "name": "secret-project", "is_private": True, "is_member": False},
)

_SCOPES_NEEDED: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.unfurl": ("links:write",),  # chat.unfurl's docs: bot token scope links:write
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read", "users:read.email"),
    "team.info": ("team:read",),
}

_BLOCK_TYPES = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
}
_URL_IN_TEXT = re.compile(r"https?://[^\s<>|]+")
"""A URL in a message's text (Slack's `<url|label>` syntax ends it at `|` or `>`)."""
_TEXT_INPUTS = {"plain_text_input", "url_text_input", "email_text_input", "number_input", "rich_text_input"}


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as the emulator saw it (the token is not in `args`)."""

    method: str
    args: dict[str, Any]
    status: int = 200
    error: str | None = None


class SlackError(Exception):
    """An `ok: false` answer."""

    def __init__(self, error: str, messages: Iterable[str] = (), **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


class SlackEmulator:
    def __init__(
        self,
        bot_token: str = "xoxb-test-token",  # noqa: S107 - a test double's fixed token
        team_id: str = "T0001",
        *,
        app_token: str = "xapp-1-A_SNOWBOT-1-test",  # noqa: S107 - the app-level token (Socket Mode)
        team_name: str = "Acme",
        team_domain: str = "acme",
        bot_user_id: str = "U_SNOWBOT",
        bot_id: str = "B_SNOWBOT",
        app_id: str = "A_SNOWBOT",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        users: Iterable[Mapping[str, Any]] = DEFAULT_USERS,
        channels: Iterable[Mapping[str, Any]] = DEFAULT_CHANNELS,
        faults: Faults | None = None,
        drop_hang: float = 30.0,
        unfurl_domains: Iterable[str] = (),
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.scopes = set(scopes)
        self.unfurl_domains = [domain.lower() for domain in unfurl_domains]
        """The app's registered unfurl domains (manifest.yml `features.unfurl_domains`)."""
        self.unfurls: dict[str, dict[str, Any]] = {}
        """url -> the unfurl chat.unfurl attached to it (the newest), for tests to read."""
        self._shared: dict[str, dict[str, Any]] = {}  # unfurl_id -> {"channel", "ts", "urls"}
        self.faults = faults or Faults()
        self.drop_hang = drop_hang
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        for user in users:
            self.add_user(**user)
        for channel in channels:
            self.add_channel(**channel)
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, str] = {}  # user id → view id
        self.messages: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.calls: list[SlackCall] = []
        self.requests: list[RecordedRequest] = []
        self._counter = itertools.count(1)
        self._external_ids: dict[str, str] = {}
        self._used_triggers: set[str] = set()
        self._expired_triggers: set[str] = set()
        self._rate_limits: dict[str, deque[int]] = {}
        self._refusals: dict[str, deque[str]] = {}
        self._tickets: set[str] = set()
        self._base_url = "http://localhost/"
        self.socket_connections = 0
        """WebSockets opened so far (a reconnect adds one)."""
        self.socket_acks: list[dict[str, Any]] = []
        self._sockets: list[tuple[WebSocket, asyncio.AbstractEventLoop]] = []
        self._handlers = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.unfurl": self._chat_unfurl,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.info": self._conversations_info,
            "team.info": self._team_info,
        }
        self.app = Starlette(
            routes=[
                Route("/", self._index, methods=["GET"]),
                Route("/api/", self._index, methods=["GET"]),
                Route("/api/{method}", self._handle, methods=["GET", "POST"]),
                WebSocketRoute("/link/", self._socket_mode),
            ]
        )

    async def _index(self, request: Request) -> JSONResponse:
        """`/` and `/api/`: Slack's Web API has methods only, no index (an unknown method answers
        `unknown_method`); the emulator names the methods it serves, for a person following the URL
        `snowbot demo` prints."""
        return JSONResponse(
            {
                "ok": True,
                "emulator": "Slack Web API",
                "team": self.team_domain,
                "methods": sorted(self._handlers),
            }
        )

    # ------------------------------------------------------------------------------------------------
    # Test surface

    def transport(self) -> DroppingTransport:
        """An httpx transport into the app in-process (a dropped answer becomes `httpx.ReadTimeout`)."""
        return DroppingTransport(self.app)

    def add_user(
        self,
        id: str,
        name: str,
        *,
        real_name: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "Europe/Berlin",
    ) -> dict[str, Any]:
        real_name = real_name or name
        profile: dict[str, Any] = {"real_name": real_name, "display_name": name}
        if email:
            profile["email"] = email
        user = {
            "id": id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name,
            "deleted": deleted,
            "tz": tz,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_bot": is_bot,
            "profile": profile,
        }
        self.users[id] = user
        return user

    def add_channel(
        self,
        id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = True,
        members: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        channel = {
            "id": id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_private": is_private,
            "is_member": is_member,
            "is_archived": False,
        }
        if members is not None:
            channel["members"] = list(members)
        self.channels[id] = channel
        return channel

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        blocks: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        user: str | None = "U_JANE",
        bot_id: str | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """Seed a message someone else posted (e.g. a Qualytics alert) and return it with its `ts`.

        Not the app's own: what the app posts goes through chat.postMessage, so that only those messages
        carry its `app_id` (and can be updated or clicked, as in Slack)."""
        if bot_id == self.bot_id or user == self.bot_user_id:
            raise ValueError("the app's own messages are posted with chat.postMessage, not seeded")
        return self._store_message(channel, text, blocks, attachments, thread_ts, user=user, bot_id=bot_id)

    def issue_trigger_id(self) -> str:
        """A fresh trigger_id, as Slack puts in an interaction payload (any unused id works too)."""
        n = next(self._counter)
        return f"{n}.{self.team_id}.{n:08x}"

    def expire_trigger(self, trigger_id: str) -> None:
        """Make `trigger_id` fail as Slack does once its 3 seconds have passed."""
        self._expired_triggers.add(trigger_id)

    def rate_limit_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next `count` calls to `method` with 429 and `Retry-After: retry_after`."""
        self._rate_limits.setdefault(method, deque()).extend([retry_after] * count)

    def refuse_next(self, method: str, error: str, count: int = 1) -> None:
        """Answer the next `count` calls to `method` with `{"ok": false, "error": error}` (HTTP 200, as
        Slack answers its errors-table errors), before looking at the call: e.g. `exchanged_trigger_id`
        for views.open, `internal_error` for apps.connections.open."""
        self._refusals.setdefault(method, deque()).extend([error] * count)

    def send_envelope(
        self, kind: str, payload: Mapping[str, Any], *, accepts_response_payload: bool = False
    ) -> str:
        """Push a Socket Mode envelope (`slash_commands`, `interactive`, `events_api`) to the newest open
        WebSocket, as Slack does, from any thread; returns its envelope_id (the app's ack carries it)."""
        if not self._sockets:
            raise RuntimeError("no Socket Mode connection is open")
        envelope_id = f"env-{next(self._counter):08x}"
        envelope = {
            "envelope_id": envelope_id,
            "payload": dict(payload),
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        websocket, loop = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(websocket.send_json(envelope), loop).result(timeout=5)
        return envelope_id

    def share_links(
        self, channel: str, text: str, *, user: str = "U_JANE", composer: bool = False
    ) -> dict[str, Any] | None:
        """A person posts `text` in `channel` (or, with `composer`, is still writing it): the `link_shared`
        event Slack sends for its links on the app's registered domains (a domain or any subdomain), or
        None when it has none. Shape of Slack's `link_shared` docs (`channel`, `is_bot_user_member`,
        `user`, `message_ts`, `unfurl_id`, `thread_ts`, `source`, `links[].domain/url`); in the composer
        `channel` is "COMPOSER" and there is no message yet."""
        links = []
        for url in _URL_IN_TEXT.findall(text):
            host = (urlsplit(url).hostname or "").lower()
            domain = next((d for d in self.unfurl_domains if host == d or host.endswith("." + d)), None)
            if domain is not None:
                links.append({"domain": domain, "url": url})
        if not links:
            return None
        if composer:
            where, ts, source = "COMPOSER", f"{user}-{next(self._counter):08x}", "composer"
        else:
            where, source = channel, "conversations_history"
            ts = self._store_message(channel, text, None, None, None, user=user, bot_id=None)["ts"]
        unfurl_id = f"{where}.{ts}.{next(self._counter):016x}"
        self._shared[unfurl_id] = {"channel": where, "ts": ts, "urls": [link["url"] for link in links]}
        return {
            "type": "link_shared",
            "channel": where,
            "is_bot_user_member": bool(self.channels.get(channel, {}).get("is_member")),
            "user": user,
            "message_ts": ts,
            "unfurl_id": unfurl_id,
            "source": source,
            "links": links,
            "event_ts": self._ts(),
        }

    def close_sockets(self) -> None:
        """Close every open Socket Mode WebSocket from the server side (as Slack does when it refreshes
        connections, Socket Mode docs: "disconnect" then close); the app is expected to reconnect."""
        for websocket, loop in list(self._sockets):
            asyncio.run_coroutine_threadsafe(websocket.close(code=1001), loop).result(timeout=5)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    def posted_by_app(self, message: Mapping[str, Any]) -> bool:
        """The stored message was posted by the app (chat.postMessage with the bot token)."""
        channel, ts = message.get("channel"), message.get("ts")
        return any(
            m["channel"] == channel and m["ts"] == ts and m.get("app_id") == self.app_id
            for m in self.messages
        )

    def app_messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """What the app posted in a channel (or one thread of it)."""
        return [m for m in self.messages_in(channel, thread_ts) if m.get("app_id") == self.app_id]

    def messages_in(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if m["channel"] == channel and (thread_ts is None or m.get("thread_ts") == thread_ts)
        ]

    def reset_log(self) -> None:
        self.calls.clear()
        self.requests.clear()

    # ------------------------------------------------------------------------------------------------
    # HTTP plumbing

    async def _handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        query = dict(request.query_params)
        body: dict[str, Any] | None = None
        try:
            body = await _read_body(request)
        except ValueError:
            return self._finish(request, method, query, None, SlackError("invalid_json").body(), 200)
        args: dict[str, Any] = {**query, **(body or {})}
        token = _bearer(request.headers.get("authorization")) or args.pop("token", None)
        args.pop("token", None)
        self._base_url = str(request.base_url)

        limited = self._rate_limits.get(method)
        if limited:
            retry_after = limited.popleft()
            return self._finish(
                request, method, query, body, {"ok": False, "error": "ratelimited"}, 429, args, retry_after
            )
        fault = self.faults.decide(request.method, request.url.path)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if fault.kind == "rate_limit":
            return self._finish(
                request,
                method,
                query,
                body,
                {"ok": False, "error": "ratelimited"},
                429,
                args,
                fault.retry_after or 1,
            )
        if fault.kind == "error":
            return self._finish(
                request, method, query, body, {"ok": False, "error": "fatal_error"}, fault.status, args
            )
        refused = self._refusals.get(method)
        if refused:
            return self._finish(request, method, query, body, SlackError(refused.popleft()).body(), 200, args)

        try:
            self._authenticate(token, method)
            handler = self._handlers.get(method)
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            result = {"ok": True, **handler(args)}
        except SlackError as err:
            result = err.body()
        response = self._finish(request, method, query, body, result, 200, args)
        if fault.kind == "drop":
            await lose_response(request, response, self.drop_hang)
        return response

    def _finish(
        self,
        request: Request,
        method: str,
        query: dict[str, str],
        body: dict[str, Any] | None,
        result: dict[str, Any],
        status: int,
        args: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> JSONResponse:
        error = None if result.get("ok") else result.get("error")
        self.calls.append(SlackCall(method, dict(args or {}), status, error))
        self.requests.append(RecordedRequest(request.method, request.url.path, query, body, status))
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        # Slack's "Scopes" docs: every Web API answer names the token's scopes in `x-oauth-scopes`
        # (what `snowbot doctor` compares with the manifest)
        headers["x-oauth-scopes"] = ",".join(sorted(self.scopes))
        return JSONResponse(result, status_code=status, headers=headers)

    def _authenticate(self, token: str | None, method: str) -> None:
        if not token:
            raise SlackError("not_authed")
        if method == "apps.connections.open":
            if token == self.app_token:
                return
            # a bot (xoxb-) or user (xoxp-) token is the wrong kind here; anything else is unknown
            raise SlackError(
                "not_allowed_token_type" if token.startswith(("xoxb-", "xoxp-")) else "invalid_auth"
            )
        if token == self.app_token:
            raise SlackError("not_allowed_token_type")
        if token != self.bot_token:
            raise SlackError("invalid_auth")
        missing = [scope for scope in _SCOPES_NEEDED.get(method, ()) if scope not in self.scopes]
        if missing:
            raise SlackError(
                "missing_scope", needed=",".join(missing), provided=",".join(sorted(self.scopes))
            )

    # ------------------------------------------------------------------------------------------------
    # Lookups

    def _ts(self) -> str:
        n = next(self._counter)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _channel_for_post(self, channel_id: Any) -> str:
        """The channel a message goes to, or the error Slack gives."""
        if not isinstance(channel_id, str) or not channel_id:
            raise SlackError("channel_not_found")
        if channel_id in self.users:  # posting to a user id goes to the app's DM with them
            return "D" + channel_id.removeprefix("U")
        if channel_id.startswith("D") and "U" + channel_id[1:] in self.users:
            return channel_id
        channel = self.channels.get(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        if not channel["is_member"]:
            if channel["is_private"]:
                raise SlackError("channel_not_found")
            if "chat:write.public" not in self.scopes:
                raise SlackError("not_in_channel")
        return channel_id

    def _visible_channel(self, channel_id: Any) -> dict[str, Any]:
        channel = self.channels.get(channel_id) if isinstance(channel_id, str) else None
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            raise SlackError("channel_not_found")
        return channel

    def _user(self, user_id: Any) -> dict[str, Any]:
        user = self.users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _public_user(self, user: dict[str, Any]) -> dict[str, Any]:
        shown = json.loads(json.dumps(user))
        if "users:read.email" not in self.scopes:
            shown["profile"].pop("email", None)
        return shown

    def _find_message(self, channel: str, ts: Any) -> dict[str, Any]:
        for entry in self.messages:
            if entry["channel"] == channel and entry["ts"] == ts:
                return entry
        raise SlackError("message_not_found")

    def _use_trigger(self, args: dict[str, Any]) -> None:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        # views.open's errors table: a trigger_id used before is `exchanged_trigger_id`, one presented
        # after its 3 seconds `expired_trigger_id`.
        if trigger_id in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        if trigger_id in self._expired_triggers:
            raise SlackError("expired_trigger_id")
        self._used_triggers.add(trigger_id)

    # ------------------------------------------------------------------------------------------------
    # Methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": "snowbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = f"{next(self._counter):08x}"
        self._tickets.add(ticket)
        ws_base = "ws" + self._base_url.removeprefix("http")
        return {"url": f"{ws_base}link/?ticket={ticket}&app_id={self.app_id}"}

    async def _socket_mode(self, websocket: WebSocket) -> None:
        """The Socket Mode WebSocket: a ticket opens it once; `hello` first, then acks are recorded."""
        ticket = websocket.query_params.get("ticket", "")
        if ticket not in self._tickets:
            await websocket.close(code=1008)
            return
        self._tickets.discard(ticket)
        await websocket.accept()
        self.socket_connections += 1
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {
                "host": "applink-emulator",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await websocket.send_json(hello)
        here = (websocket, asyncio.get_running_loop())
        self._sockets.append(here)
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    self.socket_acks.append(json.loads(text))
                except ValueError:
                    self.socket_acks.append({"invalid": text})
        except WebSocketDisconnect:
            return
        finally:
            self._sockets.remove(here)

    def _team_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "team": {
                "id": self.team_id,
                "name": self.team_name,
                "domain": self.team_domain,
                "email_domain": "example.com",
                "icon": {"image_default": True},
            }
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self._public_user(self._user(args.get("user")))}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").strip().lower()
        for user in self.users.values():
            if email and str(user["profile"].get("email", "")).lower() == email and not user["deleted"]:
                return {"user": self._public_user(user)}
        raise SlackError("users_not_found")

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        needed = "groups:read" if channel["is_private"] else "channels:read"
        if needed not in self.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))
        return {"channel": {k: v for k, v in channel.items() if k != "members"}}

    # views ------------------------------------------------------------------------------------------

    def _new_view(self, view: dict[str, Any], *, root_view_id: str | None = None) -> dict[str, Any]:
        n = next(self._counter)
        view_id = f"V{n:010d}"
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "callback_id": "",
            "private_metadata": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
            "state": {"values": {}},
            "hash": f"{1_700_000_000 + n}.{n:08x}",
            "root_view_id": root_view_id or view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        external_id = stored.get("external_id")
        if external_id:
            if external_id in self._external_ids:
                raise SlackError("duplicate_external_id")
            self._external_ids[external_id] = view_id
        self.views[view_id] = stored
        return stored

    def _replace_view(self, current: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
        """views.update / publish replace the whole view; id, stack, external_id and state stay."""
        n = next(self._counter)
        kept = (
            "id",
            "team_id",
            "root_view_id",
            "previous_view_id",
            "app_id",
            "bot_id",
            "external_id",
            "state",
        )
        updated = {
            "callback_id": "",
            "private_metadata": "",
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
            **{key: current[key] for key in kept},
            "hash": f"{1_700_000_000 + n}.{n:08x}",
        }
        self.views[current["id"]] = updated
        return updated

    def _view_arg(self, args: dict[str, Any], surface: str) -> dict[str, Any]:
        view = _json_arg(args.get("view"))
        if view is None:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
        problems = validate_view(view, surface=surface)
        if problems:
            raise SlackError("invalid_arguments", problems)
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        self._use_trigger(args)
        return {"view": self._new_view(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        self._use_trigger(args)
        return {"view": self._new_view(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", ["[ERROR] either view_id or external_id is required"])
        if not view_id:
            view_id = self._external_ids.get(external_id)
        current = self.views.get(view_id) if isinstance(view_id, str) else None
        if current is None:
            raise SlackError("not_found")
        expected = args.get("hash")
        if expected and expected != current["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._replace_view(current, view)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args, "home")
        user = self._user(args.get("user_id"))
        current_id = self.home_views.get(user["id"])
        if current_id is None:
            stored = self._new_view(view)
            self.home_views[user["id"]] = stored["id"]
            return {"view": stored}
        current = self.views[current_id]
        expected = args.get("hash")
        if expected and expected != current["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._replace_view(current, view)}

    # messages ---------------------------------------------------------------------------------------

    def _message_content(
        self, args: dict[str, Any], *, required: bool = True
    ) -> tuple[str | None, list[Any] | None, list[Any] | None]:
        text = args.get("text")
        blocks = _json_arg(args.get("blocks"))
        attachments = _json_arg(args.get("attachments"))
        if text is not None and not isinstance(text, str):
            text = str(text)
        if required and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text and len(text) > 40_000:
            raise SlackError("msg_too_long")
        problems = validate_message_blocks(blocks, attachments)
        if problems:
            raise SlackError("invalid_blocks", problems)
        return text, blocks, attachments

    def _store_message(
        self,
        channel: str,
        text: str | None,
        blocks: list[Any] | None,
        attachments: list[Any] | None,
        thread_ts: Any,
        *,
        user: str | None,
        bot_id: str | None,
        app_id: str | None = None,
        reply_broadcast: bool = False,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "message", "channel": channel, "ts": self._ts(), "text": text or ""}
        if user:
            entry["user"] = user
        if bot_id:
            entry["bot_id"] = bot_id
        if app_id:  # an app's messages carry its id (bot_profile.app_id in bolt-python's test_message_bot.py)
            entry["app_id"] = app_id
        if blocks is not None:
            entry["blocks"] = blocks
        if attachments is not None:
            entry["attachments"] = attachments
        if thread_ts:
            entry["thread_ts"] = str(thread_ts)
            if reply_broadcast:
                entry["reply_broadcast"] = True
        self.messages.append(entry)
        return entry

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_for_post(args.get("channel"))
        text, blocks, attachments = self._message_content(args)
        entry = self._store_message(
            channel,
            text,
            blocks,
            attachments,
            args.get("thread_ts"),
            user=self.bot_user_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            reply_broadcast=_truthy(args.get("reply_broadcast")),
        )
        return {
            "channel": channel,
            "ts": entry["ts"],
            "message": {k: v for k, v in entry.items() if k != "channel"},
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user"))
        channel = self._channel_for_post(args.get("channel"))
        members = self.channels.get(channel, {}).get("members")
        if members is not None and user["id"] not in members:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._message_content(args)
        ts = self._ts()
        entry: dict[str, Any] = {"channel": channel, "user": user["id"], "ts": ts, "text": text or ""}
        if blocks is not None:
            entry["blocks"] = blocks
        if attachments is not None:
            entry["attachments"] = attachments
        if args.get("thread_ts"):
            entry["thread_ts"] = str(args["thread_ts"])
        self.ephemeral.append(entry)
        return {"message_ts": ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not isinstance(channel, str) or (channel not in self.channels and not channel.startswith("D")):
            raise SlackError("channel_not_found")
        entry = self._find_message(channel, args.get("ts"))
        # Slack's chat.update errors table: cant_update_message, "Authenticated user does not have
        # permission to update this message": an app edits only the messages it posted itself.
        if entry.get("app_id") != self.app_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._message_content(args, required=False)
        if text is not None:
            entry["text"] = text
        if blocks is not None:  # omitted blocks are kept, an empty list removes them (as Slack does)
            entry["blocks"] = blocks
        if attachments is not None:
            entry["attachments"] = attachments
        entry["edited"] = {"user": self.bot_user_id, "ts": self._ts()}
        return {"channel": channel, "ts": entry["ts"], "text": entry["text"], "message": dict(entry)}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not isinstance(channel, str) or (channel not in self.channels and not channel.startswith("D")):
            raise SlackError("channel_not_found")
        entry = self._find_message(channel, args.get("message_ts"))
        permalink = f"https://{self.team_domain}.slack.com/archives/{channel}/p{entry['ts'].replace('.', '')}"
        if entry.get("thread_ts") and entry["thread_ts"] != entry["ts"]:
            permalink += f"?thread_ts={entry['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _chat_unfurl(self, args: dict[str, Any]) -> dict[str, Any]:
        """chat.unfurl as its docs and errors table say: the target is `unfurl_id` + `source` or `channel` +
        `ts`; `unfurls` maps URLs of the shared message to `{"blocks": [...]}` (or an attachment).
        `cannot_find_service` when the app has no unfurl domains, `missing_unfurls`,
        `invalid_unfurls_format` (not a map), `cannot_unfurl_url` (a URL no link_shared event named for
        this message), `cannot_find_message` / `cannot_find_channel` for a wrong `ts` / `channel`."""
        if not self.unfurl_domains:
            raise SlackError("cannot_find_service")
        unfurls = _json_arg(args.get("unfurls"))
        if unfurls is None or unfurls == "":
            raise SlackError("missing_unfurls")
        if not isinstance(unfurls, dict) or not all(isinstance(v, dict) for v in unfurls.values()):
            raise SlackError("invalid_unfurls_format")
        shared = self._shared_for(args)
        for url, unfurl in unfurls.items():
            if url not in shared["urls"]:
                raise SlackError("cannot_unfurl_url")
            problems = validate_message_blocks(unfurl.get("blocks"))
            if problems:
                raise SlackError("invalid_blocks", problems)
        for url, unfurl in unfurls.items():
            self.unfurls[url] = {**unfurl, "channel": shared["channel"], "ts": shared["ts"]}
        return {}

    def _shared_for(self, args: dict[str, Any]) -> dict[str, Any]:
        unfurl_id, source = args.get("unfurl_id"), args.get("source")
        if unfurl_id or source:
            if source not in ("composer", "conversations_history") or unfurl_id not in self._shared:
                raise SlackError("cannot_unfurl_url")
            return self._shared[unfurl_id]
        channel, ts = args.get("channel"), args.get("ts")
        if not channel:
            raise SlackError("missing_channel")
        if not ts:
            raise SlackError("missing_ts")
        if channel not in self.channels:
            raise SlackError("cannot_find_channel")
        for shared in self._shared.values():
            if shared["channel"] == channel and shared["ts"] == ts:
                return shared
        if any(m["channel"] == channel and m["ts"] == ts for m in self.messages):
            raise SlackError("cannot_unfurl_url")  # a message with no link_shared event of the app
        raise SlackError("cannot_find_message")


# ---------------------------------------------------------------------------------------------------
# Request parsing


async def _read_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw:
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a JSON body must be an object")
        return data
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _json_arg(value: Any) -> Any:
    """Form-encoded calls send views/blocks/attachments as JSON strings, JSON calls as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


# ---------------------------------------------------------------------------------------------------
# Block Kit validation (what Slack rejects; messages modelled on Slack's own)


def validate_view(view: Any, *, surface: str = "modal") -> list[str]:
    """Problems Slack would report for a view (empty when it is acceptable)."""
    if not isinstance(view, dict):
        return ["[ERROR] must provide an object [json-pointer:/view]"]
    v = _Validator()
    kind = view.get("type")
    if kind not in ("modal", "home"):
        v.add("/view/type", "must be one of: modal, home" if kind else "missing required field: type")
    elif surface == "home" and kind != "home":
        v.add("/view/type", "views.publish only accepts home views")
    if kind == "modal":
        if "title" not in view:
            v.add("/view/title", "missing required field: title")
        for key in ("title", "submit", "close"):
            if key in view and view[key] is not None:
                v.text(view[key], f"/view/{key}", 24, plain_only=True)
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        v.add("/view/blocks", "missing required field: blocks")
        blocks = []
    elif len(blocks) > 100:
        v.add("/view/blocks", "no more than 100 items allowed")
    v.string(view.get("private_metadata"), "/view/private_metadata", 3000)
    v.string(view.get("callback_id"), "/view/callback_id", 255)
    v.string(view.get("external_id"), "/view/external_id", 255)
    v.blocks(blocks, "/view/blocks")
    if kind == "modal" and not view.get("submit") and any(_is_input(b) for b in blocks):
        v.add("/view", "a modal with input blocks needs a submit button")
    return v.problems


def validate_message_blocks(blocks: Any, attachments: Any = None) -> list[str]:
    """Problems Slack would report for a message's blocks (50 at most) and attachment blocks."""
    v = _Validator()
    if blocks is not None:
        if not isinstance(blocks, list):
            v.add("/blocks", "must provide an array")
        else:
            if len(blocks) > 50:
                v.add("/blocks", "no more than 50 items allowed")
            v.blocks(blocks, "/blocks")
    if isinstance(attachments, list):
        for index, attachment in enumerate(attachments):
            if isinstance(attachment, dict) and isinstance(attachment.get("blocks"), list):
                if len(attachment["blocks"]) > 50:
                    v.add(f"/attachments/{index}/blocks", "no more than 50 items allowed")
                v.blocks(attachment["blocks"], f"/attachments/{index}/blocks")
    return v.problems


def _is_input(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "input"


class _Validator:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, pointer: str, problem: str) -> None:
        self.problems.append(f"[ERROR] {problem} [json-pointer:{pointer}]")

    def string(self, value: Any, pointer: str, limit: int) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.add(pointer, "must provide a string")
        elif len(value) > limit:
            self.add(pointer, f"must be less than {limit + 1} characters")

    def text(self, obj: Any, pointer: str, limit: int, *, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.add(pointer, "must provide an object")
            return
        kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in kinds:
            self.add(f"{pointer}/type", f"must be one of: {', '.join(kinds)}")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add(f"{pointer}/text", "must provide a string")
        elif not text:
            self.add(f"{pointer}/text", "must be more than 0 characters")
        elif len(text) > limit:
            self.add(f"{pointer}/text", f"must be less than {limit + 1} characters")

    def blocks(self, blocks: list[Any], pointer: str) -> None:
        seen_ids: set[str] = set()
        for index, block in enumerate(blocks):
            here = f"{pointer}/{index}"
            if not isinstance(block, dict):
                self.add(here, "must provide an object")
                continue
            kind = block.get("type")
            if kind not in _BLOCK_TYPES:
                self.add(
                    f"{here}/type", f"unsupported type: {kind}" if kind else "missing required field: type"
                )
                continue
            block_id = block.get("block_id")
            if block_id is not None:
                self.string(block_id, f"{here}/block_id", 255)
                if block_id in seen_ids:
                    self.add(f"{here}/block_id", f"duplicate block_id: {block_id}")
                seen_ids.add(block_id)
            getattr(self, f"_block_{kind}", lambda b, p: None)(block, here)

    def _block_section(self, block: dict[str, Any], here: str) -> None:
        if "text" not in block and "fields" not in block:
            self.add(here, "must provide text or fields")
        if "text" in block:
            self.text(block["text"], f"{here}/text", 3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                self.add(f"{here}/fields", "no more than 10 items allowed")
            else:
                for i, field in enumerate(fields):
                    self.text(field, f"{here}/fields/{i}", 2000)
        if "accessory" in block:
            self.element(block["accessory"], f"{here}/accessory")

    def _block_header(self, block: dict[str, Any], here: str) -> None:
        self.text(block.get("text"), f"{here}/text", 150, plain_only=True)

    def _block_context(self, block: dict[str, Any], here: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add(f"{here}/elements", "must provide at least 1 item")
        elif len(elements) > 10:
            self.add(f"{here}/elements", "no more than 10 items allowed")
        else:
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                    self.text(element, f"{here}/elements/{i}", 3000)

    def _block_actions(self, block: dict[str, Any], here: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add(f"{here}/elements", "must provide at least 1 item")
            return
        if len(elements) > 25:
            self.add(f"{here}/elements", "no more than 25 items allowed")
        seen: set[str] = set()
        for i, element in enumerate(elements):
            self.element(element, f"{here}/elements/{i}")
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is not None:
                if action_id in seen:
                    self.add(f"{here}/elements/{i}/action_id", f"duplicate action_id: {action_id}")
                seen.add(action_id)

    def _block_input(self, block: dict[str, Any], here: str) -> None:
        self.text(block.get("label"), f"{here}/label", 2000, plain_only=True)
        if "hint" in block:
            self.text(block["hint"], f"{here}/hint", 2000, plain_only=True)
        if "element" not in block:
            self.add(f"{here}/element", "missing required field: element")
        else:
            self.element(block["element"], f"{here}/element")

    def element(self, element: Any, here: str) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.add(here, "must provide an object with a type")
            return
        kind = element["type"]
        self.string(element.get("action_id"), f"{here}/action_id", 255)
        if "placeholder" in element:
            self.text(element["placeholder"], f"{here}/placeholder", 150, plain_only=True)
        if "confirm" in element:
            self._confirm(element["confirm"], f"{here}/confirm")
        if kind == "button":
            self.text(element.get("text"), f"{here}/text", 75, plain_only=True)
            self.string(element.get("value"), f"{here}/value", 2000)
            self.string(element.get("url"), f"{here}/url", 3000)
        elif kind in ("static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes"):
            self._options_element(element, here, kind)
        elif kind in ("external_select", "multi_external_select"):
            minimum = element.get("min_query_length")
            if minimum is not None and (not isinstance(minimum, int) or minimum < 0):
                self.add(f"{here}/min_query_length", "must be a non-negative integer")
            self._initial_options(element, here)
        elif kind in _TEXT_INPUTS:
            self._text_input(element, here)

    def _options_element(self, element: dict[str, Any], here: str, kind: str) -> None:
        limit = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}.get(kind, 100)
        options = element.get("options")
        groups = element.get("option_groups")
        values: list[str] = []
        if isinstance(options, list):
            if len(options) > limit:
                self.add(f"{here}/options", f"no more than {limit} items allowed")
            for i, opt in enumerate(options):
                values.append(self._option(opt, f"{here}/options/{i}"))
        elif isinstance(groups, list) and kind in ("static_select", "multi_static_select"):
            if len(groups) > 100:
                self.add(f"{here}/option_groups", "no more than 100 items allowed")
            for g, group in enumerate(groups):
                opts = group.get("options") if isinstance(group, dict) else None
                if not isinstance(opts, list) or len(opts) > 100:
                    self.add(f"{here}/option_groups/{g}/options", "must provide 1 to 100 items")
                    continue
                for i, opt in enumerate(opts):
                    values.append(self._option(opt, f"{here}/option_groups/{g}/options/{i}"))
        else:
            self.add(f"{here}/options", "must provide options or option_groups")
        for pointer, initial in self._initial_options(element, here):
            if isinstance(initial, dict) and initial.get("value") not in values:
                self.add(pointer, "must match one of the options")

    def _initial_options(self, element: dict[str, Any], here: str) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        if "initial_option" in element:
            found.append((f"{here}/initial_option", element["initial_option"]))
        if isinstance(element.get("initial_options"), list):
            found += [(f"{here}/initial_options/{i}", o) for i, o in enumerate(element["initial_options"])]
        for pointer, opt in found:
            self._option(opt, pointer)
        return found

    def _option(self, opt: Any, here: str) -> str:
        if not isinstance(opt, dict):
            self.add(here, "must provide an object")
            return ""
        self.text(opt.get("text"), f"{here}/text", 75)
        value = opt.get("value")
        if not isinstance(value, str):
            self.add(f"{here}/value", "must provide a string")
            return ""
        if len(value) > 150:
            self.add(f"{here}/value", "must be less than 151 characters")
        if "description" in opt:
            self.text(opt["description"], f"{here}/description", 75)
        return value

    def _text_input(self, element: dict[str, Any], here: str) -> None:
        max_length = element.get("max_length")
        min_length = element.get("min_length")
        for key, value in (("max_length", max_length), ("min_length", min_length)):
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
                self.add(f"{here}/{key}", "must be an integer from 0 to 3000")
        initial = element.get("initial_value")
        if initial is None or element["type"] == "rich_text_input":
            return
        if not isinstance(initial, str):
            self.add(f"{here}/initial_value", "must provide a string")
            return
        limit = max_length if isinstance(max_length, int) and max_length <= 3000 else 3000
        if len(initial) > limit:
            self.add(
                f"{here}/initial_value",
                f"must be at most max_length ({limit}) characters, got {len(initial)}",
            )

    def _confirm(self, confirm: Any, here: str) -> None:
        if not isinstance(confirm, dict):
            self.add(here, "must provide an object")
            return
        self.text(confirm.get("title"), f"{here}/title", 100, plain_only=True)
        self.text(confirm.get("text"), f"{here}/text", 300)
        self.text(confirm.get("confirm"), f"{here}/confirm", 30, plain_only=True)
        self.text(confirm.get("deny"), f"{here}/deny", 30, plain_only=True)
