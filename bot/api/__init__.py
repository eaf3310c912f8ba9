"""snowbot's REST API: the ticketing operations of the product spec, protected by a bearer token.

`create_api(snowbot, settings)` builds the FastAPI app; `bot.app.build_app` adds the other surfaces.
The OpenAPI document is at `/api/openapi.json` and the interactive docs at `/api/docs` (both public:
they describe the API but hold no data); `GET /healthz` needs no token, and adds what the extensions
report in `app.state.health` (e.g. `"slack": "reconnecting (Slack answered internal_error)"`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request

from bot.api import errors
from bot.api.routes import build_router
from bot.api.rules import build_rules_router
from bot.models import ErrorResponse
from bot.settings import Settings
from bot.usecases import Snowbot

__all__ = ["create_api"]


def create_api(
    snowbot: Snowbot,
    settings: Settings,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="snowbot",
        summary="Qualytics anomalies to ServiceNow incidents",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.snowbot = snowbot
    app.include_router(build_router(settings.api_token))
    app.include_router(build_rules_router(settings.api_token))

    @app.get(
        "/healthz",
        tags=["health"],
        responses={
            503: {"model": ErrorResponse, "description": "The database file was deleted or replaced."}
        },
    )
    async def healthz(request: Request) -> dict[str, str]:
        """Answers without waiting for the database; 503 when its file (SNOWBOT_DB) is gone or replaced.
        The surfaces add their own lines (`app.state.health`: Slack's connection)."""
        snowbot.check_database()
        checks = getattr(request.app.state, "health", None) or {}
        return {"status": "ok", **{name: check() for name, check in checks.items()}}

    errors.install(app)
    return app
