"""The listeners one by one: each handler called as Bolt would call it, with a mocked `ack` and Web API
client and the use cases mocked (`Deps` over mocks), so a handler is tested without Slack or HTTP. And
the registration: Bolt itself injects what a handler names (`bot.slack.handlers.routes`)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock, call

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, handlers
from bot.slack.blocks import ModalMetadata
from bot.slack.handlers import chatops, commands, connect, create, home, link, tickets, watch
from bot.slack.handlers.common import Deps, SlackUsers
from bot.slack.handlers.errors import UNEXPECTED
from bot.slack.handlers.routes import Route, guarded
from bot.slack.ids import ActionId, BlockId, Command, ViewId
from bot.slack.tasks import TaskTracker
from bot.usecases import AnomalyTickets, InvalidInput

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
JANE = {"id": "U_JANE", "username": "jane.doe", "name": "jane.doe"}


def make_deps(**settings: Any) -> Deps:
    snowbot = AsyncMock()
    snowbot.clock = MagicMock(return_value=NOW)
    values = {
        "qualytics_url": None,
        "admin_ids": frozenset(),
        "allow_insecure_instance": False,
        "allow_private_instance": False,
        **settings,
    }
    return Deps(
        snowbot=snowbot,
        settings=SimpleNamespace(**values),  # type: ignore[arg-type]
        tasks=TaskTracker(),
        suggestions=AsyncMock(),
        cards=AsyncMock(),
        users=SlackUsers(),
    )


def modal(
    callback_id: str, values: dict[str, Any], metadata: ModalMetadata, blocks_: list[Any]
) -> dict[str, Any]:
    """A view as a view_submission carries it (Slack's view payload: id, hash, state.values)."""
    return {
        "id": "V1",
        "hash": "h1",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata.encode(),
        "blocks": blocks_,
        "state": {"values": values},
    }


def calls_in_order(*mocks: tuple[str, Any]) -> MagicMock:
    """One recorder for several mocks, so a test can check that `ack` came first."""
    recorder = MagicMock()
    for name, mock in mocks:
        recorder.attach_mock(mock, name)
    return recorder


# ------------------------------------------------------------------------------------------- chat-ops


async def test_acknowledge_acks_first_then_calls_the_use_case_and_refreshes_the_cards() -> None:
    deps, ack = make_deps(), AsyncMock()
    changed = SimpleNamespace(anomaly=SimpleNamespace(id=824))
    deps.snowbot.acknowledge_anomaly.return_value = changed
    order = calls_in_order(("ack", ack), ("use_case", deps.snowbot.acknowledge_anomaly))

    await chatops.on_acknowledge(deps, ack=ack, body={"user": JANE}, action={"value": "824"})

    assert order.mock_calls[:2] == [call.ack(), call.use_case(824, "jane.doe via Slack")]
    deps.cards.refresh.assert_awaited_once_with(824, changed.anomaly)


async def test_a_button_without_an_anomaly_is_refused_after_the_ack() -> None:
    deps, ack = make_deps(), AsyncMock()
    with pytest.raises(InvalidInput, match="does not name an anomaly"):
        await chatops.on_acknowledge(deps, ack=ack, body={"user": JANE}, action={"value": "x"})
    ack.assert_awaited_once_with()
    deps.snowbot.acknowledge_anomaly.assert_not_called()


async def test_an_empty_comment_is_answered_on_its_field_without_any_call() -> None:
    deps, ack, client = make_deps(), AsyncMock(), AsyncMock()
    view = modal(
        ViewId.COMMENT,
        {BlockId.COMMENT: {ActionId.COMMENT_TEXT: {"type": "plain_text_input", "value": "   "}}},
        ModalMetadata(anomaly_id=824),
        blocks.comment_modal(824, ModalMetadata())["blocks"],
    )

    await chatops.on_comment_submit(
        deps, ack=ack, body={"user": JANE}, view=view, client=client, context=AsyncBoltContext()
    )

    ack.assert_awaited_once_with(response_action="errors", errors={"comment": "A comment needs some text."})
    deps.snowbot.comment_on_anomaly.assert_not_called()
    client.views_update.assert_not_called()


async def test_archive_submission_reads_its_modal_once_and_shows_the_outcome_in_it() -> None:
    deps, ack, client, context = make_deps(), AsyncMock(), AsyncMock(), AsyncBoltContext()
    deps.snowbot.archive_anomaly.return_value = SimpleNamespace(
        anomaly=SimpleNamespace(id=824), message="Anomaly 824 archived as Invalid."
    )
    chosen = {"type": "static_select", "selected_option": {"value": "Invalid"}}
    view = modal(
        ViewId.ARCHIVE,
        {BlockId.ARCHIVE_STATUS: {ActionId.ARCHIVE_STATUS: chosen}},
        ModalMetadata(anomaly_id=824, channel="C1"),
        [],
    )

    await chatops.on_archive_submit(
        deps, ack=ack, body={"user": JANE}, view=view, client=client, context=context
    )

    assert ack.await_args.kwargs["response_action"] == "update"
    deps.snowbot.archive_anomaly.assert_awaited_once_with(824, "Invalid", "jane.doe via Slack")
    updated = client.views_update.await_args.kwargs
    assert updated["view_id"] == "V1"
    assert "Anomaly 824 archived as Invalid." in json.dumps(updated["view"])


# ------------------------------------------------------------------------------------------- create


async def test_changing_the_urgency_shows_the_priority_servicenow_will_compute() -> None:
    deps, ack, client = make_deps(), AsyncMock(), AsyncMock()
    picked = {
        BlockId.URGENCY: {ActionId.URGENCY: {"type": "static_select", "selected_option": {"value": "1"}}},
        BlockId.IMPACT: {ActionId.IMPACT: {"type": "static_select", "selected_option": {"value": "2"}}},
    }
    view = modal(
        ViewId.CREATE_INCIDENT, picked, ModalMetadata(anomaly_id=824), [blocks.priority_hint("3", "3")]
    )

    await create.on_levels_changed(deps, ack=ack, body={"view": view}, client=client)

    ack.assert_awaited_once_with()
    updated = client.views_update.await_args.kwargs
    assert (updated["view_id"], updated["hash"]) == ("V1", "h1")
    assert "*2 - High*" in updated["view"]["blocks"][0]["elements"][0]["text"]


async def test_a_create_form_without_a_short_description_is_answered_on_that_field() -> None:
    deps, ack, client = make_deps(), AsyncMock(), AsyncMock()
    empty = {
        BlockId.SHORT_DESCRIPTION: {ActionId.SHORT_DESCRIPTION: {"type": "plain_text_input", "value": ""}}
    }
    form = blocks.create_incident_modal(blocks.AnomalySummary(id=824), ModalMetadata(), description="")
    view = modal(ViewId.CREATE_INCIDENT, empty, ModalMetadata(anomaly_id=824), form["blocks"])

    await create.on_create_submit(
        deps, ack=ack, body={"user": JANE}, view=view, client=client, context=AsyncBoltContext()
    )

    assert ack.await_args.kwargs["response_action"] == "errors"
    assert list(ack.await_args.kwargs["errors"]) == [BlockId.SHORT_DESCRIPTION]
    deps.snowbot.create_ticket_for_anomaly.assert_not_called()


async def test_the_create_shortcut_on_a_message_without_an_anomaly_asks_which() -> None:
    deps, ack, client = make_deps(), AsyncMock(), AsyncMock()
    shortcut = {
        "trigger_id": "t1",
        "user": JANE,
        "channel": {"id": "C1"},
        "message": {"ts": "1.2", "text": "lunch?"},
    }

    await create.on_create_shortcut(
        deps, ack=ack, shortcut=shortcut, client=client, context=AsyncBoltContext()
    )

    ack.assert_awaited_once_with()
    opened = client.views_open.await_args.kwargs
    assert opened["trigger_id"] == "t1"
    assert opened["view"]["callback_id"] == ViewId.ANOMALY_ID
    assert ModalMetadata.decode(opened["view"]["private_metadata"]) == ModalMetadata(
        channel="C1", thread_ts="1.2", message_ts="1.2", then="create"
    )


# ------------------------------------------------------------------------------------------- link


async def test_linking_without_an_incident_chosen_is_answered_on_the_incidents_field() -> None:
    deps, ack = make_deps(), AsyncMock()
    form = blocks.link_incident_modal(824, ModalMetadata())
    view = modal(ViewId.LINK_INCIDENT, {}, ModalMetadata(anomaly_id=824), form["blocks"])

    await link.on_link_submit(
        deps, ack=ack, body={"user": JANE}, view=view, client=AsyncMock(), context=AsyncBoltContext()
    )

    ack.assert_awaited_once_with(
        response_action="errors", errors={"incidents": "Choose at least one incident."}
    )
    deps.snowbot.link_existing_ticket.assert_not_called()


async def test_incident_suggestions_are_answered_in_the_ack() -> None:
    deps, ack = make_deps(), AsyncMock()
    found = [blocks.incident_option("INC0010006", "Nightly load failed", "abc")]
    deps.suggestions.options.return_value = found

    await link.on_incidents(deps, ack=ack, payload={"value": "nightly"})

    assert deps.suggestions.options.await_args.args[:2] == ("incidents", "nightly")
    ack.assert_awaited_once_with(options=found)


# ------------------------------------------------------------------------------------------- connect


async def test_connect_for_someone_not_an_admin_says_who_can() -> None:
    deps, client = make_deps(), AsyncMock()
    client.users_info.return_value = {"user": {"id": "U_JANE", "is_admin": False}}

    refused = await connect.open_connect(deps, client, AsyncBoltContext(), trigger_id="t1", user_id="U_JANE")

    assert refused is not None and "Only workspace admins" in refused
    client.views_open.assert_not_called()


async def test_a_connect_form_with_a_bad_instance_url_is_answered_on_that_field() -> None:
    deps, ack = make_deps(), AsyncMock()
    entered = {
        BlockId.INSTANCE_URL: {ActionId.INSTANCE_URL: {"type": "url_text_input", "value": "ftp://x"}},
        BlockId.USERNAME: {ActionId.USERNAME: {"type": "plain_text_input", "value": "svc"}},
        BlockId.PASSWORD: {ActionId.PASSWORD: {"type": "plain_text_input", "value": "pw"}},
    }
    view = modal(ViewId.CONNECT, entered, ModalMetadata(), blocks.connect_modal()["blocks"])

    await connect.on_connect_submit(
        deps, ack=ack, body={"user": JANE}, view=view, client=AsyncMock(), context=AsyncBoltContext()
    )

    assert list(ack.await_args.kwargs["errors"]) == [BlockId.INSTANCE_URL]
    deps.snowbot.connect.assert_not_called()


# ------------------------------------------------------------------------------------------- tickets, home, watch, /snow


async def test_unlink_replaces_the_list_and_refreshes_the_cards() -> None:
    deps, ack, respond = make_deps(), AsyncMock(), AsyncMock()
    deps.snowbot.anomaly_tickets.return_value = AnomalyTickets([], {})

    await tickets.on_unlink(deps, ack=ack, body={"user": JANE}, action={"value": "824:7"}, respond=respond)

    deps.snowbot.unlink.assert_awaited_once_with(824, 7, "jane.doe via Slack")
    assert respond.await_args.kwargs["replace_original"] is True
    assert "No tickets are linked to anomaly 824" in respond.await_args.kwargs["text"]
    deps.cards.refresh.assert_awaited_once_with(824)


async def test_home_opened_on_another_tab_publishes_nothing() -> None:
    deps, client = make_deps(), AsyncMock()
    await home.on_home_opened(deps, event={"tab": "messages", "user": "U_JANE"}, client=client)
    client.views_publish.assert_not_called()
    deps.snowbot.overview.assert_not_called()


async def test_watch_from_the_home_picker_watches_and_republishes() -> None:
    deps, ack, client = make_deps(admin_ids=frozenset({"U_JANE"})), AsyncMock(), AsyncMock()
    deps.cards.watched.return_value = ["C_ALERTS"]
    deps.snowbot.overview.return_value = MagicMock()
    deps.snowbot.list_rules.return_value = []
    published = []
    client.views_publish.side_effect = lambda **kwargs: published.append(kwargs)
    home_view = MagicMock(return_value={"type": "home", "blocks": []})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bot.slack.render.home_view", home_view)
        await watch.on_watch_channel(
            deps, ack=ack, body={"user": JANE}, action={"selected_conversation": "C_ALERTS"}, client=client
        )

    deps.cards.watch.assert_awaited_once_with("C_ALERTS", "jane.doe via Slack")
    assert home_view.call_args.kwargs == {"is_admin": True, "watched_channels": ["C_ALERTS"], "rules": []}
    assert published == [{"user_id": "U_JANE", "view": {"type": "home", "blocks": []}}]


@pytest.mark.parametrize(
    ("args", "here", "expected"),
    [
        ([], "C123", "C123"),
        (["<#C0456|alerts>"], None, "C0456"),
        (["#alerts"], "C123", None),
        ([], "D123", None),
    ],
)
def test_the_channel_of_watch(args: list[str], here: str | None, expected: str | None) -> None:
    assert watch.channel_arg(args, here) == expected


async def test_an_unknown_subcommand_gets_the_help_ephemerally() -> None:
    deps, ack, respond = make_deps(), AsyncMock(), AsyncMock()
    command = {"text": "frobnicate 1", "channel_id": "C1", "user_id": "U_JANE"}

    await commands.on_snow(
        deps, ack=ack, command=command, respond=respond, client=AsyncMock(), context=AsyncBoltContext()
    )

    ack.assert_awaited_once_with()
    sent = respond.await_args.kwargs
    assert (sent["response_type"], sent["replace_original"]) == ("ephemeral", False)
    assert "I don't know `frobnicate`" in sent["text"]


async def test_every_subcommand_has_a_handler() -> None:
    assert set(commands.SUBCOMMANDS) == set(blocks.SUBCOMMAND_USAGE) - {"help"}


# ------------------------------------------------------------------------------------------- registration


async def test_a_failure_after_the_ack_is_shown_to_the_person_not_raised() -> None:
    async def fails(ack: AsyncAck) -> None:
        await ack()
        raise RuntimeError("boom")

    ack, client, respond = AsyncAck(), AsyncMock(), AsyncMock()
    body = {"response_url": "https://hooks.slack.com/x", "user": {"id": "U1"}}
    listener = guarded(fails, TaskTracker())

    await listener(ack=ack, body=body, context=AsyncBoltContext(), client=client, respond=respond)

    assert UNEXPECTED in respond.await_args.kwargs["text"]


async def test_a_failure_before_the_ack_goes_back_to_bolt() -> None:
    async def fails(body: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    listener = guarded(fails, TaskTracker())
    with pytest.raises(RuntimeError):
        await listener(ack=AsyncAck(), body={}, context=AsyncBoltContext(), client=AsyncMock(), respond=None)


async def test_bolt_injects_any_argument_a_listener_names() -> None:
    """The old hand-written injection knew 12 names: a listener asking for `say` or `logger` failed when
    called. Bolt's own injection knows them all."""
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_hello(deps: Deps, ack: AsyncAck, say: Any, logger: Any, command: dict[str, Any]) -> None:
        await ack()
        await seen.put({"deps": deps, "say": say, "logger": logger, "text": command["text"]})

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id="T111", bot_token="xoxb-x", bot_id="B1", bot_user_id="U1"
        )

    app = AsyncApp(
        client=AsyncWebClient(base_url="http://127.0.0.1:9/"),
        signing_secret="unused",
        request_verification_enabled=False,
        authorize=authorize,
    )
    deps = make_deps()
    Route("command", Command.SNOW, on_hello).add(app, deps)
    # a slash command as Slack posts it (bolt-python tests/scenario_tests_async/test_slash_command.py)
    body = (
        "token=verification_token&team_id=T111&team_domain=test-domain&channel_id=C111&channel_name=random"
        "&user_id=W111&user_name=primary-owner&command=%2Fsnow&text=Hi&response_url="
        "https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxxxx&trigger_id=111.111.xxx"
    )
    request = AsyncBoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]})

    response = await app.async_dispatch(request)

    assert response.status == 200
    got = await asyncio.wait_for(seen.get(), timeout=5)
    assert got["deps"] is deps and got["text"] == "Hi"
    assert callable(got["say"]) and got["logger"] is not None
    assert await deps.tasks.idle(5)


def test_every_feature_registers_a_table_of_module_level_listeners() -> None:
    for feature in handlers.FEATURES:
        assert feature.ROUTES, feature.__name__
        for route in feature.ROUTES:
            assert route.handler.__qualname__ == route.handler.__name__  # module level, not a closure
            assert route.handler.__module__ == feature.__name__ or route.handler.__module__.endswith(
                ".common"
            )
