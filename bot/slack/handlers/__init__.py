"""snowbot's Bolt listeners, one module per feature: `create`, `link`, `chatops` (the anomaly card's
buttons), `connect`, `tickets`, `home`, `watch` (anomaly cards in watched channels), `rules` (creation rules), `commands` (`/snow`,
dispatched to the features' subcommands) and `unfurl` (link previews). Each module lists its listeners in one table, `ROUTES`;
`register` adds them all (`bot.slack.handlers.routes`)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.handlers import (
    chatops,
    commands,
    connect,
    create,
    home,
    link,
    routes,
    rules,
    tickets,
    unfurl,
    watch,
)
from bot.slack.handlers.common import Deps

FEATURES = (commands, create, link, chatops, connect, tickets, home, watch, rules, unfurl)


def register(app: AsyncApp, deps: Deps) -> None:
    for feature in FEATURES:
        routes.register(app, deps, feature.ROUTES)
