"""Qualytics' own "Anomaly Detected" Flow alert as it lands in a Slack channel: Block Kit inside a coloured
attachment, the anomaly named only by the View Anomaly button's URL. Pure data; no I/O."""

from __future__ import annotations

from typing import Any


def qualytics_alert(
    *, anomaly_url: str, datastore_url: str, datastore: str, container: str, checks: str
) -> dict[str, Any]:
    """The attachment Qualytics posts for one anomaly (`checks`: the failed checks' messages, one a line)."""
    return {
        "color": "#E53935",
        "fallback": f"Anomaly Detected in {container}",
        "blocks": [
            {
                "type": "section",
                "block_id": "x1Y",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Anomaly Detected* in *{container}*\nDatastore: <{datastore_url}|{datastore}>"
                    f"\n{checks}",
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
                        "url": anomaly_url,
                    }
                ],
            },
        ],
    }
