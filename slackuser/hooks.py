"""Slack's `response_url` webhooks (hooks.slack.com) on loopback: what the bot answers to a slash command or
a button goes there, and is kept to be read back. Serves nothing itself; `with_hooks` mounts the
recorder beside a Slack Web API app (e.g. the emulator's) in one Starlette app."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp


class ResponseUrls:
    """Receives `response_url` posts, by hook name (`/hooks/{name}`)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        self.posts.append((request.path_params["name"], json.loads(await request.body())))
        return JSONResponse({"ok": True})

    def to(self, name: str) -> list[dict[str, Any]]:
        return [body for hook, body in self.posts if hook == name]


def with_hooks(web_api: ASGIApp, hooks: ResponseUrls) -> Starlette:
    """The Web API under `/` (slack_sdk calls `/api/...`), the response_url webhooks under `/hooks/`."""
    return Starlette(
        routes=[Route("/hooks/{name}", hooks.endpoint, methods=["POST"]), Mount("/", app=web_api)]
    )
