"""manifest.yml parses, agrees with bot/slack/ids.py and the emulator's scopes, and keeps Slack's limits.

Slack's own manifest JSON schema (`../shared/reference/slack/`, beside the project, when present) judges
the manifest as written (Socket Mode) and the HTTP-mode variant its comments tell an admin to make; the
limits test repeats the schema's caps that matter here, so it holds without that folder too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack.ids import SHORTCUT_NAMES, Command, Shortcut
from emulators.slack import DEFAULT_SCOPES

ROOT = Path(__file__).resolve().parents[3]
MANIFEST_PATH = ROOT / "manifest.yml"
SCHEMA_DIR = ROOT.parent / "shared" / "reference" / "slack"
PUBLIC_HOST = "snowbot.example.com"


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
    assert names == SHORTCUT_NAMES  # the help texts name the shortcuts as the ⋮ menu shows them


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
        "link_shared",
    ]
    # each message event comes with its history scope (Slack's Events API: message.channels needs
    # channels:history, message.groups groups:history)
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert {"channels:history", "groups:history"} <= set(scopes)
    assert {"links:read", "links:write"} <= set(
        scopes
    )  # link_shared needs links:read, chat.unfurl links:write
    assert features["app_home"]["home_tab_enabled"] is True
    # the HTTP-mode URLs are documented for the admin, but no placeholder URL is live
    for key in (
        "request_url: https://<your-host>/slack/events",
        "message_menu_options_url: https://<your-host>",
    ):
        assert key in raw
    assert "<your-host>" not in repr(manifest)


def test_values_keep_slacks_manifest_limits(manifest: dict[str, Any]) -> None:
    """The caps of Slack's manifest schema 1.0.0 (`definitions` of manifest.schema.1.0.0.json)."""
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert 1 <= len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#(?:[\da-fA-F]{3}){1,2}", info["background_color"])
    assert re.fullmatch(r"[\w\-.]+", manifest["features"]["bot_user"]["display_name"])
    assert 1 <= len(manifest["features"]["bot_user"]["display_name"]) <= 80
    for command in manifest["features"]["slash_commands"]:
        assert command["command"].startswith("/") and 2 <= len(command["command"]) <= 32
        assert 1 <= len(command["description"]) <= 2000
        assert 1 <= len(command["usage_hint"]) <= 1000
    shortcuts = manifest["features"]["shortcuts"]
    assert 1 <= len(shortcuts) <= 10
    for shortcut in shortcuts:
        assert 1 <= len(shortcut["name"]) <= 24, shortcut["name"]
        assert 1 <= len(shortcut["description"]) <= 150
        assert 1 <= len(shortcut["callback_id"]) <= 255
    for name in SHORTCUT_NAMES.values():
        assert 1 <= len(name) <= 24, name


# ------------------------------------------------------------------------------------ Slack's own schema

HTTP_MODE_LINE = re.compile(
    r"^(?P<indent>\s*)#\s*(?:HTTP mode:\s*)?(?P<key>\w+): https://<your-host>/slack/events\s*$", re.M
)


def http_mode(raw: str) -> str:
    """The manifest as its header comment says to make it for HTTP mode: `socket_mode_enabled: false` and
    every `https://<your-host>/slack/events` line uncommented, <your-host> replaced by the public host."""
    text, count = HTTP_MODE_LINE.subn(rf"\g<indent>\g<key>: https://{PUBLIC_HOST}/slack/events", raw)
    assert count == 4, "the HTTP-mode lines the header comment describes"
    text, switched = re.subn(
        r"^(\s*)socket_mode_enabled: true", r"\1socket_mode_enabled: false", text, flags=re.M
    )
    assert switched == 1
    return text


def slack_schema(version: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"manifest.schema.{version}.json"
    if not path.is_file():
        pytest.skip(
            f"Slack's manifest schema is not at {path} (../shared/reference/slack/ beside the project)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def schema_errors(schema: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_http_mode_variant_puts_every_url_where_slack_expects_it(raw: str) -> None:
    variant = yaml.safe_load(http_mode(raw))
    url = f"https://{PUBLIC_HOST}/slack/events"
    settings = variant["settings"]
    assert settings["socket_mode_enabled"] is False
    assert [c["url"] for c in variant["features"]["slash_commands"]] == [url]
    assert settings["event_subscriptions"]["request_url"] == url
    assert settings["interactivity"]["request_url"] == url
    assert settings["interactivity"]["message_menu_options_url"] == url


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_manifest_passes_slacks_own_schema(raw: str, manifest: dict[str, Any], mode: str) -> None:
    assert manifest["_metadata"]["major_version"] == 1  # so schema 1.0.0 is the one Slack applies
    schema = slack_schema("1.0.0")
    candidate = manifest if mode == "socket" else yaml.safe_load(http_mode(raw))
    assert schema_errors(schema, candidate) == []


def test_the_schema_check_would_refuse_what_slack_refuses(manifest: dict[str, Any]) -> None:
    schema = slack_schema("1.0.0")
    broken = json.loads(json.dumps(manifest))
    broken["features"]["shortcuts"][0]["name"] = "Create ServiceNow incident"  # 26 characters
    assert schema_errors(schema, broken) == [
        "features/shortcuts/0/name: 'Create ServiceNow incident' is too long"
    ]


def test_the_command_usage_hint_names_every_subcommand() -> None:
    from bot.slack.ids import Subcommand

    [command] = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))["features"]["slash_commands"]
    named = set(command["usage_hint"].split(" ", 1)[0].split("|"))
    assert named == {str(sub) for sub in Subcommand}
