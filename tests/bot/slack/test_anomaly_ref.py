"""Finding the anomaly in realistic Slack message payloads (message shortcut `message` objects)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.anomaly_ref import find_anomaly_id, normalize_host, parse_anomaly_arg

HOST = "https://acme.qualytics.io"

# Qualytics' own "Anomaly Detected" Flow alert (qualytics-api.md §6): Block Kit inside a coloured
# attachment; the anomaly is only in the View Anomaly button's url.
QUALYTICS_ALERT: dict[str, Any] = {
    "type": "message",
    "subtype": "bot_message",
    "text": "",
    "ts": "1710849540.000200",
    "bot_id": "B0QUALYTICS",
    "username": "Qualytics",
    "attachments": [
        {
            "id": 1,
            "color": "#E53935",
            "fallback": "Anomaly Detected in orders",
            "blocks": [
                {
                    "type": "section",
                    "block_id": "x1Y",
                    "text": {
                        "type": "mrkdwn",
                        "text": "*Anomaly Detected* in *orders*\nFlow: Quality Monitor · Datastore: "
                        "<https://acme.qualytics.io/datastores/1|Production DB>\n"
                        "17 records failed: total_amount is not between 0 and 100000",
                    },
                },
                {
                    "type": "actions",
                    "block_id": "a9Z",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "view_anomaly",
                            "text": {"type": "plain_text", "text": "View Anomaly"},
                            "url": "https://acme.qualytics.io/anomalies/12345",
                        },
                        {
                            "type": "button",
                            "action_id": "ack",
                            "text": {"type": "plain_text", "text": "Acknowledge"},
                            "value": "opaque-token",
                        },
                        {
                            "type": "overflow",
                            "action_id": "more",
                            "options": [
                                {"text": {"type": "plain_text", "text": "Comment"}, "value": "c"},
                                {"text": {"type": "plain_text", "text": "Archive"}, "value": "a"},
                            ],
                        },
                    ],
                },
            ],
        }
    ],
}

# A customised Flow message using {{ target_link }} in mrkdwn text, as Slack delivers it (escaped &).
FLOW_TEXT_ALERT = {
    "type": "message",
    "text": "Shape anomaly in <https://acme.qualytics.io/datastores/23/tables/7|customers>: "
    "<https://acme.qualytics.io/datastores/23/anomalies?status=Active&amp;id=824|open in Qualytics>",
    "blocks": [
        {
            "type": "rich_text",
            "block_id": "Zx",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "Shape anomaly in "},
                        {
                            "type": "link",
                            "url": "https://acme.qualytics.io/datastores/23/tables/7",
                            "text": "customers",
                        },
                    ],
                }
            ],
        }
    ],
}

# A legacy-attachment integration (e.g. a webhook relay) with fields and action urls.
LEGACY_ATTACHMENT = {
    "type": "message",
    "text": "Data quality alert",
    "attachments": [
        {
            "fallback": "DQ alert for orders",
            "title": "orders failed checks",
            "title_link": "https://acme.qualytics.io/datastores/1/tables/10",
            "fields": [{"title": "Datastore", "value": "Production DB", "short": True}],
            "actions": [{"type": "button", "text": "Open", "url": "https://acme.qualytics.io/anomalies/77"}],
        }
    ],
}

# The incident description format from the spec ("**Anomaly ID:** 824"), pasted into Slack.
SPEC_DESCRIPTION = {
    "type": "message",
    "text": "## Qualytics Anomaly Linked [2026-01-23 19:51:23 UTC]\n\n**Anomaly ID:** 824\n**Status:** Acknowledged",
}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (QUALYTICS_ALERT, 12345),
        (FLOW_TEXT_ALERT, 824),
        (LEGACY_ATTACHMENT, 77),
        (SPEC_DESCRIPTION, 824),
        ({"text": "see <https://acme.qualytics.io/anomalies/824|anomaly 824>"}, 824),
        ({"text": "https://acme.qualytics.io/anomalies?id=824"}, 824),
        ({"text": "https://acme.qualytics.io/datastores/23/anomalies?id=824"}, 824),
        ({"text": "https://ACME.qualytics.io/anomalies/824/"}, 824),
        ({"text": "https://acme.qualytics.io/#/anomalies/824"}, 824),
        ({"text": "(https://acme.qualytics.io/anomalies/824)."}, 824),
        ({"text": "Anomaly ID: 824"}, 824),
        ({"text": "*Anomaly ID:* 824"}, 824),
        ({"text": "Anomaly ID:* 824"}, 824),
        ({"text": "anomaly id: `824`"}, 824),
        ({"text": "payload anomaly_id=824"}, 824),
        (
            {
                "blocks": [
                    {
                        "type": "section",
                        "fields": [
                            {"type": "mrkdwn", "text": "*Anomaly ID:*"},
                            {"type": "mrkdwn", "text": "824"},
                        ],
                    }
                ]
            },
            824,
        ),
        ({"attachments": [{"fields": [{"title": "Anomaly ID", "value": "9", "short": True}]}]}, 9),
        (
            {
                "blocks": [
                    {
                        "type": "context",
                        "elements": [
                            {"type": "mrkdwn", "text": "<https://acme.qualytics.io/anomalies/31|#31>"}
                        ],
                    }
                ]
            },
            31,
        ),
    ],
)
def test_finds_the_anomaly(message: dict[str, Any], expected: int) -> None:
    assert find_anomaly_id(message, HOST) == expected


def test_url_encoded_link_inside_a_redirector() -> None:
    wrapped = (
        "https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Facme.qualytics.io%2F"
        "datastores%2F23%2Fanomalies%3Fid%3D824&data=05"
    )
    assert find_anomaly_id({"text": f"<{wrapped}|link>"}, HOST) == 824
    double = "https%253A%252F%252Facme.qualytics.io%252Fanomalies%252F55"
    assert find_anomaly_id({"text": f"https://redirect.example.com/?u={double}"}, HOST) == 55


@pytest.mark.parametrize(
    "message",
    [
        {"text": "https://evil.example.com/anomalies/824"},
        {"text": "https://acme.qualytics.io.evil.example.com/anomalies/824"},
        {"text": "https://other.qualytics.io/anomalies/824"},
        {"text": "https://acme.qualytics.io/datastores/1"},
        {"text": "https://acme.qualytics.io/anomalies/0"},
        {"text": "https://acme.qualytics.io/anomalies?id=abc"},
        {"text": "Anomaly ID: unknown"},
        {"text": "an anomaly identifier: 5"},
        {"text": "Ticket INC0010006 was opened 824 minutes ago"},
        {},
    ],
)
def test_ignores_other_hosts_and_non_anomalies(message: dict[str, Any]) -> None:
    assert find_anomaly_id(message, HOST) is None


def test_our_host_wins_over_an_earlier_foreign_link() -> None:
    message = {
        "text": "<https://evil.example.com/anomalies/1|x> and <https://acme.qualytics.io/anomalies/2|y>"
    }
    assert find_anomaly_id(message, HOST) == 2


def test_without_a_configured_host_only_labels_count() -> None:
    assert find_anomaly_id(QUALYTICS_ALERT, None) is None
    assert find_anomaly_id(SPEC_DESCRIPTION, None) == 824
    assert find_anomaly_id(SPEC_DESCRIPTION, "") == 824


@pytest.mark.parametrize(
    ("configured", "host"),
    [
        ("https://acme.qualytics.io", "acme.qualytics.io"),
        ("https://acme.qualytics.io/api/", "acme.qualytics.io"),
        ("ACME.qualytics.io", "acme.qualytics.io"),
        ("http://127.0.0.1:8001", "127.0.0.1"),
        ("  ", None),
        (None, None),
        ("http://[::1", None),
    ],
)
def test_normalize_host(configured: str | None, host: str | None) -> None:
    assert normalize_host(configured) == host


def test_local_emulator_host_with_port() -> None:
    assert find_anomaly_id({"text": "http://127.0.0.1:8001/anomalies/5"}, "http://127.0.0.1:8001") == 5


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("824", 824),
        ("  #824 ", 824),
        ("824 INC0010001 INC0010002", 824),
        ("<https://acme.qualytics.io/anomalies/824>", 824),
        ("<https://acme.qualytics.io/anomalies/824|acme.qualytics.io/anomalies/824>", 824),
        ("https://acme.qualytics.io/datastores/23/anomalies?id=824", 824),
        ("https://evil.example.com/anomalies/824", None),
        ("0", None),
        ("", None),
        ("tickets", None),
        ("1234567890123", None),
        (None, None),
    ],
)
def test_parse_anomaly_arg(arg: str | None, expected: int | None) -> None:
    assert parse_anomaly_arg(arg, HOST) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)
slackish_text = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzID0123456789 :/?=&%#<>|*_`.-"))
    | st.characters(),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([HOST, None, "", "acme.qualytics.io", "http://[bad"]))
def test_never_crashes_on_arbitrary_payloads(payload: Any, host: str | None) -> None:
    found = find_anomaly_id(payload, host)
    assert found is None or found > 0


@settings(max_examples=300, deadline=None)
@given(slackish_text)
def test_never_crashes_on_arbitrary_text(text: str) -> None:
    for found in (find_anomaly_id({"text": text}, HOST), parse_anomaly_arg(text, HOST)):
        assert found is None or found > 0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=999_999_999_999),
    st.text(alphabet="abcdefghij klmnop", max_size=30),
    st.sampled_from(["/anomalies/{n}", "/anomalies?id={n}", "/datastores/3/anomalies?id={n}"]),
)
def test_any_anomaly_link_is_found(n: int, label: str, path: str) -> None:
    url = "https://acme.qualytics.io" + path.format(n=n)
    message = {
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{label} <{url}|{label or 'x'}>"}}]
    }
    assert find_anomaly_id(message, HOST) == n
