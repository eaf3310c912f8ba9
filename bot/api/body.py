"""A request body FastAPI cannot read is a 422 like any other invalid body, never its bare 400.

FastAPI answers 422 for invalid JSON but "400 There was an error parsing the body" when decoding fails
otherwise: bytes that are not UTF-8 (RFC 8259 section 8.1: JSON between systems is UTF-8) or arrays
nested deeper than Python's recursion limit. `check_body` looks first and raises the 422 with the
body as the field at fault; the size is capped before this by `bot.bodylimit` (413).
"""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.exceptions import RequestValidationError


def _invalid(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message}])


async def check_body(request: Request) -> None:
    """Raise a 422 for a body that is not UTF-8 text or is nested too deeply (Starlette keeps the body,
    so FastAPI reads it again for free)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("utf8_invalid", "The body is not UTF-8 text: send JSON encoded as UTF-8.") from None
    try:
        json.loads(text)
    except RecursionError:
        raise _invalid(
            "json_too_deep", "The body is nested too deeply to be a request of this API."
        ) from None
    except ValueError:
        pass  # FastAPI answers invalid JSON with its own 422 (json_invalid)
