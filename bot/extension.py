"""What a surface adds to the app (`bot.app.build_app`): its routes and its background work.

Types only: the composition root (`bot.composition`) builds the extensions, `bot.app` serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from bot.settings import Settings
from bot.usecases import Snowbot

Lifespan = Callable[[FastAPI, Snowbot], AbstractAsyncContextManager[None]]
"""Runs for the life of the server, e.g. a scheduler started on enter and stopped on exit."""


@dataclass(frozen=True)
class Extension:
    """A surface added to the app: its routes (e.g. `POST /slack/events`) and its background work."""

    routers: Sequence[APIRouter] = ()
    lifespans: Sequence[Lifespan] = ()


ExtensionFactory = Callable[[Settings, Snowbot], Extension]
"""Builds an extension over a `Snowbot` built already (tests add routes and lifespans this way)."""
