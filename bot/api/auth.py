"""Bearer-token protection of every `/api` operation.

The check runs in the route class, before FastAPI reads or validates the body, so a caller without the
token learns nothing (not even whether its body would have been valid). With no `SNOWBOT_API_TOKEN`
configured the API refuses every call with 503: it is never open by default.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import SecretStr

from bot.api.body import check_body

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="SnowbotToken",
    description="The value of SNOWBOT_API_TOKEN, sent as `Authorization: Bearer <token>`.",
)
"""Declares the security scheme in the OpenAPI document; `check_bearer` does the checking."""

UNSET_MESSAGE = (
    "The REST API is disabled because SNOWBOT_API_TOKEN is not set; set it to a long random string and send "
    "it as 'Authorization: Bearer <token>'."
)
UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="Send the API token as 'Authorization: Bearer <SNOWBOT_API_TOKEN>'.",
    headers={"WWW-Authenticate": "Bearer"},
)


def check_bearer(request: Request, expected: SecretStr | None) -> None:
    """Raise 503 when no token is configured, 401 unless the request carries exactly that token."""
    if expected is None or not expected.get_secret_value():
        raise HTTPException(status_code=503, detail=UNSET_MESSAGE)
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise UNAUTHORIZED
    if not hmac.compare_digest(presented.strip().encode(), expected.get_secret_value().encode()):
        raise UNAUTHORIZED


def protected_route(token: SecretStr | None) -> type[APIRoute]:
    """A route class whose handler checks the bearer token first, then that the body is readable."""

    class ProtectedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                check_bearer(request, token)
                await check_body(request)
                return await handler(request)

            return guarded

    return ProtectedRoute
