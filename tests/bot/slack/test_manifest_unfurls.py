"""`snowbot manifest`: manifest.yml with the unfurl domains of the settings, judged by Slack's own schema
(`../shared/reference/slack/`), and the limits it keeps (1 to 5 domains)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.slack.manifest import ManifestError, with_unfurl_domains
from snowbot.cli import main
from tests.bot.slack.test_manifest import MANIFEST_PATH, schema_errors, slack_schema
from tests.bot.test_cli import clean  # noqa: F401 - the fixture

RAW = MANIFEST_PATH.read_text(encoding="utf-8")


def test_the_written_manifest_subscribes_to_link_shared_with_the_link_scopes() -> None:
    manifest = yaml.safe_load(RAW)
    assert manifest["features"]["unfurl_domains"] == ["qualytics.io", "service-now.com"]
    assert "link_shared" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"links:read", "links:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_domains_of_the_settings_replace_the_list_and_pass_slacks_schema() -> None:
    text = with_unfurl_domains(RAW, ["acme.qualytics.io", "Dev1.Service-Now.com", "acme.qualytics.io"])

    manifest = yaml.safe_load(text)
    assert manifest["features"]["unfurl_domains"] == ["acme.qualytics.io", "dev1.service-now.com"]
    assert schema_errors(slack_schema("1.0.0"), manifest) == []
    assert (
        text.replace("acme.qualytics.io", "qualytics.io").replace("dev1.service-now.com", "service-now.com")
        == RAW
    )


def test_more_than_five_domains_or_a_bad_one_are_refused_with_what_to_do() -> None:
    with pytest.raises(ManifestError, match="at most 5: list a parent domain once"):
        with_unfurl_domains(RAW, [f"i{n}.service-now.com" for n in range(6)])
    with pytest.raises(ManifestError, match="cannot be an unfurl domain"):
        with_unfurl_domains(RAW, ["https://acme.qualytics.io/"])
    broken = yaml.safe_load(with_unfurl_domains(RAW, ["a.example.com"]))
    broken["features"]["unfurl_domains"] = [f"d{n}.example.com" for n in range(6)]
    assert schema_errors(slack_schema("1.0.0"), broken) == [
        f"features/unfurl_domains: {broken['features']['unfurl_domains']!r} is too long"
    ]


def test_snowbot_manifest_prints_the_hosts_of_the_settings(
    clean: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QUALYTICS_URL", "https://acme.qualytics.io/api")
    monkeypatch.setenv("SERVICENOW_INSTANCE_URL", "https://acme.service-now.com")
    monkeypatch.setenv("SNOWBOT_UNFURL_DOMAINS", "itsm.acme.example")
    monkeypatch.setenv("SNOWBOT_DB", str(clean / "absent.db"))

    assert main(["manifest"]) == 0

    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["features"]["unfurl_domains"] == [
        "acme.qualytics.io",
        "acme.service-now.com",
        "itsm.acme.example",
    ]


def test_snowbot_manifest_refuses_six_domains_in_one_line(
    clean: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SNOWBOT_UNFURL_DOMAINS", ",".join(f"i{n}.example.com" for n in range(6)))
    monkeypatch.setenv("SNOWBOT_DB", str(clean / "absent.db"))

    assert main(["manifest"]) == 2

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("snowbot manifest: 6 unfurl domains")
