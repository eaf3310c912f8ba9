"""The Slack emulator through the real slack_sdk AsyncWebClient over a loopback port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from emulators.serve import serve_in_thread
from emulators.slack import DEFAULT_SCOPES, SlackEmulator

TOKEN = "xoxb-test-token"


def modal(title: str = "Create incident", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "create_incident_modal",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Create"},
        "blocks": [
            {
                "type": "input",
                "block_id": "short_description",
                "label": {"type": "plain_text", "text": "Short description"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "short_description_input",
                    "max_length": 160,
                },
            }
        ],
        **extra,
    }


def section(text: str = "hi") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def served() -> Iterator[tuple[SlackEmulator, str]]:
    emulator = SlackEmulator()
    with serve_in_thread(emulator.app) as base_url:
        yield emulator, base_url


@pytest.fixture
def emulator(served: tuple[SlackEmulator, str]) -> SlackEmulator:
    return served[0]


@pytest.fixture
async def client(served: tuple[SlackEmulator, str]) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=TOKEN, base_url=f"{served[1]}/api/")


async def slack_error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# --- auth -----------------------------------------------------------------------------------------


async def test_auth_test(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["ok"] is True
    assert (response["team_id"], response["user_id"]) == ("T0001", "U_SNOWBOT")


async def test_invalid_and_missing_token(served: tuple[SlackEmulator, str]) -> None:
    emulator, base_url = served
    bad = AsyncWebClient(token="xoxb-wrong", base_url=f"{base_url}/api/")
    assert (await slack_error(bad.auth_test())).response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=f"{base_url}/api/")
    assert (await slack_error(anonymous.auth_test())).response["error"] == "not_authed"
    assert [c.error for c in emulator.calls_to("auth.test")] == ["invalid_auth", "not_authed"]


async def test_form_encoded_call_with_token_field_in_process() -> None:
    emulator = SlackEmulator()
    async with httpx.AsyncClient(transport=emulator.transport(), base_url="https://slack.test") as http:
        response = await http.post(
            "/api/chat.postMessage",
            data={"token": TOKEN, "channel": "C_ALERTS", "text": "hi", "blocks": json.dumps([section()])},
        )
    body = response.json()
    assert body["ok"] is True
    assert emulator.messages[0]["blocks"] == [section()]
    assert "token" not in emulator.calls[0].args
    assert emulator.requests[0].path == "/api/chat.postMessage" and emulator.requests[0].status == 200


async def test_unknown_method(client: AsyncWebClient) -> None:
    err = await slack_error(client.api_call("files.nonexistent"))
    assert err.response["error"] == "unknown_method"


# --- views ----------------------------------------------------------------------------------------


async def test_views_open_update_and_trigger_reuse(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    trigger = emulator.issue_trigger_id()
    opened = (await client.views_open(trigger_id=trigger, view=modal(private_metadata='{"anomaly_id":824}')))[
        "view"
    ]
    assert opened["id"].startswith("V0") and opened["hash"]
    assert emulator.views[opened["id"]]["private_metadata"] == '{"anomaly_id":824}'

    err = await slack_error(client.views_open(trigger_id=trigger, view=modal()))
    assert err.response["error"] == "exchanged_trigger_id"

    updated = (
        await client.views_update(
            view_id=opened["id"], hash=opened["hash"], view=modal(title="Incident created")
        )
    )["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert emulator.views[opened["id"]]["title"]["text"] == "Incident created"
    assert emulator.views[opened["id"]]["private_metadata"] == ""  # views.update replaces the whole view

    stale = await slack_error(client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal()))
    assert stale.response["error"] == "hash_conflict"
    missing = await slack_error(client.views_update(view_id="V_NOPE", view=modal()))
    assert missing.response["error"] == "not_found"


async def test_refuse_next_answers_a_methods_error_once(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.refuse_next("views.open", "exchanged_trigger_id")
    err = await slack_error(client.views_open(trigger_id=emulator.issue_trigger_id(), view=modal()))
    assert (err.response.status_code, err.response["error"]) == (200, "exchanged_trigger_id")
    assert (await client.views_open(trigger_id=emulator.issue_trigger_id(), view=modal()))["ok"] is True


async def test_expired_trigger_and_external_id(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    emulator.expire_trigger("old.trigger")
    err = await slack_error(client.views_open(trigger_id="old.trigger", view=modal()))
    assert err.response["error"] == "expired_trigger_id"
    await client.views_open(trigger_id="t1", view=modal(external_id="create-824"))
    updated = await client.views_update(external_id="create-824", view=modal(title="Done"))
    assert updated["view"]["external_id"] == "create-824"
    dup = await slack_error(client.views_open(trigger_id="t2", view=modal(external_id="create-824")))
    assert dup.response["error"] == "duplicate_external_id"
    assert (await client.views_push(trigger_id="t3", view=modal()))["ok"]


async def test_views_publish_home(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    home = {"type": "home", "blocks": [section("Connected")]}
    first = (await client.views_publish(user_id="U_JANE", view=home))["view"]
    again = (await client.views_publish(user_id="U_JANE", view=home, hash=first["hash"]))["view"]
    assert again["id"] == first["id"] == emulator.home_views["U_JANE"]
    assert (
        await slack_error(client.views_publish(user_id="U_JANE", view=home, hash=first["hash"]))
    ).response["error"] == "hash_conflict"
    assert (await slack_error(client.views_publish(user_id="U_NOBODY", view=home))).response[
        "error"
    ] == "user_not_found"
    assert (await slack_error(client.views_publish(user_id="U_JANE", view=modal()))).response[
        "error"
    ] == "invalid_arguments"


def _too_long_option() -> dict[str, Any]:
    view = modal()
    view["blocks"].append(
        {
            "type": "input",
            "block_id": "urgency",
            "label": {"type": "plain_text", "text": "Urgency"},
            "element": {
                "type": "static_select",
                "action_id": "urgency_select",
                "options": [{"text": {"type": "plain_text", "text": "o" * 76}, "value": "1"}],
            },
        }
    )
    return view


def _too_long_value() -> dict[str, Any]:
    view = _too_long_option()
    option = view["blocks"][1]["element"]["options"][0]
    option["text"]["text"], option["value"] = "ok", "v" * 151
    return view


def _initial_too_long() -> dict[str, Any]:
    view = modal()
    view["blocks"][0]["element"]["initial_value"] = "s" * 161
    return view


def _initial_over_3000() -> dict[str, Any]:
    view = modal()
    element = view["blocks"][0]["element"]
    del element["max_length"]
    element["initial_value"] = "d" * 3001
    return view


def _no_title() -> dict[str, Any]:
    view = modal()
    del view["title"]
    return view


def _no_type() -> dict[str, Any]:
    view = modal()
    del view["type"]
    return view


def _no_submit() -> dict[str, Any]:
    view = modal()
    del view["submit"]
    return view


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal(title="t" * 25), "/view/title/text"),
        (modal(blocks=[section()] * 101), "/view/blocks"),
        (_too_long_option(), "/view/blocks/1/element/options/0/text/text"),
        (_too_long_value(), "/view/blocks/1/element/options/0/value"),
        (modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (_initial_too_long(), "/view/blocks/0/element/initial_value"),
        (_initial_over_3000(), "/view/blocks/0/element/initial_value"),
        (_no_title(), "/view/title"),
        (_no_type(), "/view/type"),
        (_no_submit(), "/view]"),
    ],
    ids=[
        "title>24",
        "blocks>100",
        "option-text>75",
        "option-value>150",
        "metadata>3000",
        "initial>max_length",
        "initial>3000",
        "no-title",
        "no-type",
        "inputs-without-submit",
    ],
)
async def test_views_breaking_block_kit_limits_are_rejected(
    client: AsyncWebClient, emulator: SlackEmulator, view: dict[str, Any], pointer: str
) -> None:
    err = await slack_error(client.views_open(trigger_id=emulator.issue_trigger_id(), view=view))
    assert err.response["error"] == "invalid_arguments"
    messages = err.response["response_metadata"]["messages"]
    assert any(pointer in message for message in messages), messages
    assert emulator.views == {}


# --- messages -------------------------------------------------------------------------------------


async def test_post_reply_in_thread_update_and_permalink(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    alert = emulator.add_message("C_ALERTS", "Anomaly Detected in orders", user=None, bot_id="B0QUALYTICS")
    reply = await client.chat_postMessage(
        channel="C_ALERTS", thread_ts=alert["ts"], text="INC0010006 created", blocks=[section()]
    )
    assert reply["channel"] == "C_ALERTS" and reply["message"]["thread_ts"] == alert["ts"]
    assert emulator.messages_in("C_ALERTS", thread_ts=alert["ts"])[0]["text"] == "INC0010006 created"

    await client.chat_update(channel="C_ALERTS", ts=reply["ts"], text="INC0010006 resolved")
    stored = emulator.messages[-1]
    assert stored["text"] == "INC0010006 resolved" and stored["blocks"] == [section()] and "edited" in stored
    not_ours = await slack_error(client.chat_update(channel="C_ALERTS", ts=alert["ts"], text="x"))
    assert not_ours.response["error"] == "cant_update_message"
    gone = await slack_error(client.chat_update(channel="C_ALERTS", ts="1.000000", text="x"))
    assert gone.response["error"] == "message_not_found"

    link = await client.chat_getPermalink(channel="C_ALERTS", message_ts=alert["ts"])
    assert link["permalink"] == f"https://acme.slack.com/archives/C_ALERTS/p{alert['ts'].replace('.', '')}"
    threaded = await client.chat_getPermalink(channel="C_ALERTS", message_ts=reply["ts"])
    assert f"thread_ts={alert['ts']}" in threaded["permalink"]


async def test_channels_membership_and_scopes(
    served: tuple[SlackEmulator, str], client: AsyncWebClient
) -> None:
    assert (await client.chat_postMessage(channel="C_GENERAL", text="public, not a member"))["ok"]
    for channel in ("C_NOPE", "G_PRIVATE"):
        err = await slack_error(client.chat_postMessage(channel=channel, text="x"))
        assert err.response["error"] == "channel_not_found"
    dm = await client.chat_postMessage(channel="U_JANE", text="direct")
    assert dm["channel"].startswith("D")
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        assert (await slack_error(client.chat_postMessage(channel="C_ALERTS"))).response["error"] == "no_text"

    strict = SlackEmulator(scopes=[s for s in DEFAULT_SCOPES if s != "chat:write.public"])
    with serve_in_thread(strict.app) as base_url:
        strict_client = AsyncWebClient(token=TOKEN, base_url=f"{base_url}/api/")
        err = await slack_error(strict_client.chat_postMessage(channel="C_GENERAL", text="x"))
    assert err.response["error"] == "not_in_channel"


async def test_message_with_more_than_50_blocks_is_rejected(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    err = await slack_error(client.chat_postMessage(channel="C_ALERTS", text="x", blocks=[section()] * 51))
    assert err.response["error"] == "invalid_blocks"
    assert any("/blocks" in m for m in err.response["response_metadata"]["messages"])
    long_button = {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}],
    }
    err = await slack_error(client.chat_postMessage(channel="C_ALERTS", text="x", blocks=[long_button]))
    assert err.response["error"] == "invalid_blocks"
    assert emulator.messages == []


async def test_post_ephemeral(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    response = await client.chat_postEphemeral(
        channel="C_ALERTS", user="U_JANE", text="Only you", thread_ts="1.2"
    )
    assert response["message_ts"]
    assert emulator.ephemeral[0]["user"] == "U_JANE" and emulator.ephemeral[0]["thread_ts"] == "1.2"
    assert emulator.messages == []
    err = await slack_error(client.chat_postEphemeral(channel="C_ALERTS", user="U_NOBODY", text="x"))
    assert err.response["error"] == "user_not_found"
    emulator.add_channel("C_SMALL", "small", members=["U_ADMIN"])
    err = await slack_error(client.chat_postEphemeral(channel="C_SMALL", user="U_JANE", text="x"))
    assert err.response["error"] == "user_not_in_channel"


# --- users, conversations, team ---------------------------------------------------------------------


async def test_users(client: AsyncWebClient) -> None:
    admin = (await client.users_info(user="U_ADMIN"))["user"]
    jane = (await client.users_info(user="U_JANE"))["user"]
    assert (admin["is_admin"], admin["profile"]["email"]) == (True, "admin@example.com")
    assert (jane["is_admin"], jane["profile"]["email"]) == (False, "jane.doe@example.com")
    found = await client.users_lookupByEmail(email="Jane.Doe@example.com")
    assert found["user"]["id"] == "U_JANE"
    assert (await slack_error(client.users_lookupByEmail(email="nobody@example.com"))).response[
        "error"
    ] == "users_not_found"
    assert (await slack_error(client.users_info(user="U_NOBODY"))).response["error"] == "user_not_found"


async def test_scopes_are_enforced() -> None:
    emulator = SlackEmulator(scopes=["commands", "chat:write", "users:read"])
    with serve_in_thread(emulator.app) as base_url:
        client = AsyncWebClient(token=TOKEN, base_url=f"{base_url}/api/")
        user = (await client.users_info(user="U_JANE"))["user"]
        lookup = await slack_error(client.users_lookupByEmail(email="jane.doe@example.com"))
        conversation = await slack_error(client.conversations_info(channel="C_ALERTS"))
        team = await slack_error(client.team_info())
    assert "email" not in user["profile"]
    assert (lookup.response["error"], lookup.response["needed"]) == ("missing_scope", "users:read.email")
    assert conversation.response["needed"] == "channels:read"
    assert team.response["needed"] == "team:read"


async def test_conversations_and_team_info_with_scopes() -> None:
    emulator = SlackEmulator(scopes=[*DEFAULT_SCOPES, "channels:read", "groups:read", "team:read"])
    with serve_in_thread(emulator.app) as base_url:
        client = AsyncWebClient(token=TOKEN, base_url=f"{base_url}/api/")
        channel = (await client.conversations_info(channel="C_ALERTS"))["channel"]
        hidden = await slack_error(client.conversations_info(channel="G_PRIVATE"))
        team = (await client.team_info())["team"]
    assert (channel["name"], channel["is_member"]) == ("dq-alerts", True)
    assert hidden.response["error"] == "channel_not_found"
    assert (team["id"], team["domain"]) == ("T0001", "acme")


# --- rate limits and faults -----------------------------------------------------------------------


async def test_rate_limited_call_raises_with_retry_after(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.rate_limit_next("chat.postMessage", retry_after=7)
    err = await slack_error(client.chat_postMessage(channel="C_ALERTS", text="x"))
    assert err.response.status_code == 429
    assert err.response["error"] == "ratelimited"
    assert err.response.headers["Retry-After"] in ("7", ["7"])
    assert (await client.chat_postMessage(channel="C_ALERTS", text="x"))["ok"]  # only the next call


async def test_client_with_rate_limit_retry_handler_recovers(
    served: tuple[SlackEmulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, base_url = served
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:  # the handler's wait, recorded instead of slept
        waits.append(seconds)

    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=fake_sleep))
    client = AsyncWebClient(
        token=TOKEN,
        base_url=f"{base_url}/api/",
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    emulator.rate_limit_next("chat.postMessage", retry_after=2, count=2)
    response = await client.chat_postMessage(channel="C_ALERTS", text="finally")
    assert response["ok"]
    assert [c.status for c in emulator.calls_to("chat.postMessage")] == [429, 429, 200]
    assert len(waits) == 2 and all(2 <= w < 3 for w in waits)
    assert len(emulator.messages) == 1


async def test_scripted_server_error(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    emulator.faults.fail_next(503)
    err = await slack_error(client.auth_test())
    assert err.response.status_code == 503
    assert (await client.auth_test())["ok"]


async def test_dropped_response_is_applied_then_lost_in_process() -> None:
    emulator = SlackEmulator()
    emulator.faults.drop_next()
    async with httpx.AsyncClient(transport=emulator.transport(), base_url="https://slack.test") as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                "/api/chat.postMessage",
                json={"channel": "C_ALERTS", "text": "sent"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
    assert [m["text"] for m in emulator.messages] == ["sent"]


async def test_calls_are_recorded_and_reset(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    await client.chat_postMessage(channel="C_ALERTS", text="one")
    await client.users_info(user="U_JANE")
    assert [c.method for c in emulator.calls] == ["chat.postMessage", "users.info"]
    assert emulator.calls_to("chat.postMessage")[0].args == {"channel": "C_ALERTS", "text": "one"}
    assert emulator.calls_to("users.info")[0].args == {"user": "U_JANE"}
    emulator.reset_log()
    assert emulator.calls == [] and emulator.requests == []
    assert len(emulator.messages) == 1  # state stays


async def test_only_messages_the_app_posted_can_be_updated(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    """Slack's chat.update errors table: cant_update_message for a message the app did not post, even
    one another bot posted; and a test cannot seed a message as if the app had posted it."""
    with pytest.raises(ValueError, match="chat.postMessage"):
        emulator.add_message("C_ALERTS", "Anomaly ID: 824", user=None, bot_id=emulator.bot_id)
    with pytest.raises(ValueError, match="chat.postMessage"):
        emulator.add_message("C_ALERTS", "Anomaly ID: 824", user=emulator.bot_user_id)
    other_bot = emulator.add_message("C_ALERTS", "Anomaly Detected", user=None, bot_id="B0QUALYTICS")
    refused = await slack_error(client.chat_update(channel="C_ALERTS", ts=other_bot["ts"], text="x"))
    assert refused.response["error"] == "cant_update_message"

    ours = await client.chat_postMessage(channel="C_ALERTS", thread_ts=other_bot["ts"], text="card")
    assert emulator.posted_by_app({"channel": "C_ALERTS", "ts": ours["ts"]})
    assert not emulator.posted_by_app(other_bot)
    assert [m["ts"] for m in emulator.app_messages("C_ALERTS", other_bot["ts"])] == [ours["ts"]]
    assert (await client.chat_update(channel="C_ALERTS", ts=ours["ts"], text="card, updated"))["ok"]


# --- Socket Mode ----------------------------------------------------------------------------------


async def test_apps_connections_open_takes_only_the_app_level_token(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    """Slack's errors table for apps.connections.open: a bot token is the wrong type, others unknown."""
    for token, error in ((TOKEN, "not_allowed_token_type"), ("xapp-1-A_X-1-nope", "invalid_auth")):
        err = await slack_error(client.apps_connections_open(app_token=token))
        assert err.response["error"] == error
    err = await slack_error(client.chat_postMessage(channel="C_ALERTS", text="hi", token=emulator.app_token))
    assert err.response["error"] == "not_allowed_token_type"  # an app-level token calls nothing else
    emulator.refuse_next("apps.connections.open", "internal_error")
    err = await slack_error(client.apps_connections_open(app_token=emulator.app_token))
    assert err.response["error"] == "internal_error"

    opened = await client.apps_connections_open(app_token=emulator.app_token)
    assert opened["url"].startswith("ws://127.0.0.1:") and "/link/?ticket=" in opened["url"]


async def test_the_socket_mode_url_greets_once_with_hello(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    import aiohttp

    url = (await client.apps_connections_open(app_token=emulator.app_token))["url"]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as socket:
            hello = await socket.receive_json(timeout=5)
            await socket.send_json({"envelope_id": "e1"})
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url)  # a ticket opens one connection
    assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": emulator.app_id}
    assert emulator.socket_connections == 1


# --- link unfurls (Slack's link_shared event docs, chat.unfurl's errors table) ----------------------


async def test_link_shared_names_only_registered_domains_and_chat_unfurl_attaches_the_card(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.unfurl_domains = ["qualytics.io"]
    text = "see <https://acme.qualytics.io/anomalies/824> and <https://example.com/x|this>"
    event = emulator.share_links("C_ALERTS", text)
    assert event is not None
    assert event["type"] == "link_shared" and event["source"] == "conversations_history"
    assert event["links"] == [{"domain": "qualytics.io", "url": "https://acme.qualytics.io/anomalies/824"}]
    assert event["channel"] == "C_ALERTS" and event["is_bot_user_member"] is True
    assert emulator.share_links("C_ALERTS", "nothing of ours: https://example.com/") is None

    card = {"blocks": [section("Anomaly 824")]}
    url = "https://acme.qualytics.io/anomalies/824"
    by_message = await client.chat_unfurl(channel="C_ALERTS", ts=event["message_ts"], unfurls={url: card})
    assert by_message["ok"] is True
    by_id = await client.chat_unfurl(
        unfurl_id=event["unfurl_id"], source="conversations_history", unfurls={url: card}
    )
    assert by_id["ok"] is True
    assert emulator.unfurls[url]["blocks"] == card["blocks"]


async def test_chat_unfurl_answers_its_documented_errors(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    card = {"blocks": [section()]}
    url = "https://acme.qualytics.io/anomalies/824"
    posted = emulator.add_message("C_ALERTS", "no links")
    emulator.unfurl_domains = []
    unregistered = await slack_error(
        client.chat_unfurl(channel="C_ALERTS", ts=posted["ts"], unfurls={url: card})
    )
    assert unregistered.response["error"] == "cannot_find_service"

    emulator.unfurl_domains = ["qualytics.io"]
    event = emulator.share_links("C_ALERTS", f"<{url}>")
    assert event is not None
    ts = event["message_ts"]
    cases = [
        (dict(channel="C_ALERTS", ts=ts), "missing_unfurls"),
        (
            dict(channel="C_ALERTS", ts=ts, unfurls={"https://acme.qualytics.io/anomalies/9": card}),
            "cannot_unfurl_url",
        ),
        (dict(channel="C_ALERTS", ts=posted["ts"], unfurls={url: card}), "cannot_unfurl_url"),
        (dict(channel="C_ALERTS", ts="1.000000", unfurls={url: card}), "cannot_find_message"),
        (dict(channel="C_NOWHERE", ts=ts, unfurls={url: card}), "cannot_find_channel"),
        (dict(unfurl_id="nope", source="composer", unfurls={url: card}), "cannot_unfurl_url"),
        (dict(channel="C_ALERTS", ts=ts, unfurls="[1, 2]"), "invalid_unfurls_format"),
    ]
    for args, error in cases:
        assert (await slack_error(client.chat_unfurl(**args))).response["error"] == error, args
    too_long = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}
    refused = await slack_error(client.chat_unfurl(channel="C_ALERTS", ts=ts, unfurls={url: too_long}))
    assert refused.response["error"] == "invalid_blocks"


async def test_chat_unfurl_needs_links_write(served: tuple[SlackEmulator, str]) -> None:
    _, base_url = served
    emulator = SlackEmulator(
        scopes=[s for s in DEFAULT_SCOPES if s != "links:write"], unfurl_domains=["x.io"]
    )
    with serve_in_thread(emulator.app) as url:
        client = AsyncWebClient(token=TOKEN, base_url=f"{url}/api/")
        event = emulator.share_links("C_ALERTS", "<https://a.x.io/1>")
        assert event is not None
        error = await slack_error(
            client.chat_unfurl(unfurl_id=event["unfurl_id"], source="conversations_history", unfurls={})
        )
    assert error.response["error"] == "missing_scope" and error.response["needed"] == "links:write"


def test_a_link_in_the_composer_has_no_message_yet() -> None:
    emulator = SlackEmulator(unfurl_domains=["service-now.com"])
    event = emulator.share_links(
        "C_ALERTS", "https://dev1.service-now.com/incident.do?sys_id=1", composer=True
    )
    assert event is not None
    assert (event["channel"], event["source"]) == ("COMPOSER", "composer")
    assert emulator.messages == []
