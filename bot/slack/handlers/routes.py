"""How a feature module's listeners reach Bolt: each module lists them in one table, `ROUTES`, and
`register` adds every route to the app.

A listener is a module-level `async def` whose first parameter is `deps` (bound here with
`functools.partial`); Bolt injects the rest by name, as it does for any listener (`ack`, `body`, `client`,
`context`, `respond`, `say`, `action`, `view`, ...: slack_bolt/kwargs_injection/async_utils.py). Each runs
counted by the task tracker, and a failure after its ack goes to the error handler here (see
`bot.slack.handlers.errors`), not back to Bolt.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp

from bot.slack.handlers.common import Deps
from bot.slack.handlers.errors import on_error
from bot.slack.tasks import TaskTracker

Handler = Callable[..., Awaitable[Any]]
Kind = Literal["action", "command", "event", "options", "shortcut", "view"]

ERROR_HANDLER_ARGS = ("ack", "body", "context", "client", "respond")
"""What the error handler needs: Bolt injects these into every listener too."""


@dataclass(frozen=True)
class Route:
    """`app.<kind>(match)(handler)`: e.g. `Route("action", ActionId.ACKNOWLEDGE, on_acknowledge)`."""

    kind: Kind
    match: str | Mapping[str, str]
    handler: Handler

    def add(self, app: AsyncApp, deps: Deps) -> None:
        register_with = getattr(app, self.kind)
        register_with(self.match)(guarded(partial(self.handler, deps), deps.tasks))


def register(app: AsyncApp, deps: Deps, routes: Iterable[Route]) -> None:
    for route in routes:
        route.add(app, deps)


def guarded(handler: Handler, tasks: TaskTracker) -> Handler:
    """`handler` as a Bolt listener. Its signature is the handler's own parameters plus
    `ERROR_HANDLER_ARGS`, so Bolt injects both; the handler gets only what it asked for."""
    wanted = list(inspect.signature(handler).parameters)

    async def listener(**given: Any) -> Any:
        tasks.track_current()
        try:
            return await handler(**{name: given[name] for name in wanted})
        except Exception as error:
            if given["ack"].response is None:
                raise  # not acknowledged: Bolt answers 500 and calls the error handler
            await on_error(error, given["body"], given["context"], given["client"], given["respond"])

    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in dict.fromkeys([*wanted, *ERROR_HANDLER_ARGS])
    ]
    listener.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    func = handler.func if isinstance(handler, partial) else handler
    listener.__name__ = listener.__qualname__ = func.__name__
    listener.__doc__ = func.__doc__
    return listener
