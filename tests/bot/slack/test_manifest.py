"""manifest.yml parses, agrees with bot/slack/ids.py and the emulator's scopes, and keeps Slack's limits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.slack.ids import Command, Shortcut
from emulators.slack import DEFAULT_SCOPES

MANIFEST_PATH = Path(__file__).resolve().parents[3] / "manifest.yml"


@pytest.fixture(scope="module")
def raw() -> str:
    return MANIFEST_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def manifest(raw: str) -> dict[str, Any]:
    data = yaml.safe_load(raw)
    assert isinstance(data, dict)
    return data


def test_commands_match_ids(manifest: dict[str, Any]) -> None:
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {str(c) for c in Command}


def test_shortcut_callback_ids_match_ids_both_ways(manifest: dict[str, Any]) -> None:
    shortcuts = manifest["features"]["shortcuts"]
    in_manifest = {s["callback_id"] for s in shortcuts}
    in_code = {str(s) for s in Shortcut}
    assert in_code - in_manifest == set(), "shortcuts in ids.py missing from manifest.yml"
    assert in_manifest - in_code == set(), "shortcuts in manifest.yml unknown to ids.py"
    assert all(s["type"] == "message" for s in shortcuts)
    names = {s["callback_id"]: s["name"] for s in shortcuts}
    assert names == {
        Shortcut.CREATE_INCIDENT: "Create ServiceNow incident",
        Shortcut.LINK_INCIDENT: "Link ServiceNow incident",
    }


def test_scopes_are_the_ones_the_emulator_grants(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert set(scopes) == set(DEFAULT_SCOPES)
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_socket_mode_home_tab_and_interactivity(manifest: dict[str, Any], raw: str) -> None:
    settings, features = manifest["settings"], manifest["features"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "message.channels",
        "message.groups",
    ]
    # each message event comes with its history scope (Slack's Events API: message.channels needs
    # channels:history, message.groups groups:history)
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert {"channels:history", "groups:history"} <= set(scopes)
    assert features["app_home"]["home_tab_enabled"] is True
    # the HTTP-mode URLs are documented for the admin, but no placeholder URL is live
    for key in (
        "request_url: https://<your-host>/slack/events",
        "message_menu_options_url: https://<your-host>",
    ):
        assert key in raw
    assert "<your-host>" not in repr(manifest)


def test_values_keep_slacks_manifest_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#(?:[\da-fA-F]{3}){1,2}", info["background_color"])
    assert re.fullmatch(r"[\w\-.]+", manifest["features"]["bot_user"]["display_name"])
    for command in manifest["features"]["slash_commands"]:
        assert command["command"].startswith("/") and len(command["command"]) <= 32
        assert command["usage_hint"] and len(command["usage_hint"]) <= 1000
    for shortcut in manifest["features"]["shortcuts"]:
        assert len(shortcut["description"]) <= 150 and len(shortcut["callback_id"]) <= 255
