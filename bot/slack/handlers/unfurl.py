"""Link unfurls: a Qualytics anomaly or ServiceNow ticket link pasted in Slack gets a compact card
(`link_shared`, then `chat.unfurl`; Slack's link-unfurling docs).

Slack sends `link_shared` for the links of the app's registered domains (manifest.yml
`features.unfurl_domains`, `snowbot manifest`): the event carries `channel`, `message_ts`, `unfurl_id`,
`source` (`conversations_history`, or `composer` while the message is being written) and `links[]` (`url`,
`domain`). Bolt acknowledges the event by itself before the listener runs; the listener asks the one use
case for the previews (`Snowbot.link_previews`) and answers with chat.unfurl, by `unfurl_id` and `source`
when Slack gave them (they work in the composer too), else by `channel` and `ts`. Links with no preview
(an anomaly snowbot cannot read, another table) get nothing, and nothing is said in the channel; a
refused chat.unfurl is only logged.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import render
from bot.slack.handlers.common import Deps
from bot.slack.handlers.routes import Route

log = logging.getLogger(__name__)


def shared_urls(event: dict[str, Any]) -> list[str]:
    links = event.get("links")
    if not isinstance(links, list):
        return []
    return [link["url"] for link in links if isinstance(link, dict) and isinstance(link.get("url"), str)]


def unfurl_target(event: dict[str, Any]) -> dict[str, str] | None:
    """chat.unfurl's target: `unfurl_id` + `source`, else `channel` + `ts` (None when neither is whole)."""
    unfurl_id, source = event.get("unfurl_id"), event.get("source")
    if isinstance(unfurl_id, str) and unfurl_id and isinstance(source, str) and source:
        return {"unfurl_id": unfurl_id, "source": source}
    channel, ts = event.get("channel"), event.get("message_ts")
    if isinstance(channel, str) and channel and isinstance(ts, str) and ts:
        return {"channel": channel, "ts": ts}
    return None


async def on_link_shared(deps: Deps, event: dict[str, Any], client: AsyncWebClient) -> None:
    target = unfurl_target(event)
    urls = shared_urls(event)
    if target is None or not urls:
        return
    previews = await deps.snowbot.link_previews(urls)
    if not previews:
        return
    try:
        await client.chat_unfurl(
            unfurls=render.unfurls(previews),
            unfurl_id=target.get("unfurl_id"),
            source=target.get("source"),
            channel=target.get("channel"),
            ts=target.get("ts"),
        )
    except SlackApiError as err:
        log.info("chat.unfurl refused: %s", err.response.get("error"))


ROUTES = (Route("event", "link_shared", on_link_shared),)
