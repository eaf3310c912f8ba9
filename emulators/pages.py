"""Tiny HTML pages the emulators answer to a person's browser (their index and their stand-ins for the
vendors' UI pages): no styling, no scripts, every value escaped by the caller."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse


def wants_json(request: Request) -> bool:
    """True when the client asks for JSON first (`Accept: application/json`), as API clients do."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """`title` and `body` are HTML already escaped."""
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)
