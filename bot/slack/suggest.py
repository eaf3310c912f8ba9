"""Search-as-you-type answers (block_suggestion) inside Slack's hard 3-second limit.

Slack shows only the options of the first acknowledgement, and nothing at all after 3 seconds. So a
lookup gets `budget` seconds (2 by default); when ServiceNow is slower the person gets what an earlier,
identical search found (or an empty list), and the lookup finishes in the background so the next
keystroke with the same text is answered from the cache. Results live `ttl` seconds; failures are not
cached. One lookup per (kind, text) runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from bot.slack.tasks import TaskTracker
from bot.usecases import UseCaseError

log = logging.getLogger(__name__)

Options = list[dict[str, Any]]
Key = tuple[str, str]


class Suggestions:
    def __init__(
        self,
        tasks: TaskTracker,
        *,
        budget: float = 2.0,
        ttl: float = 60.0,
        size: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tasks = tasks
        self.budget = budget
        self.ttl = ttl
        self.size = size
        self.monotonic = monotonic
        self._cache: OrderedDict[Key, tuple[float, Options]] = OrderedDict()
        self._running: dict[Key, asyncio.Task[Options | None]] = {}

    async def options(self, kind: str, text: str, load: Callable[[], Awaitable[Options]]) -> Options:
        """The options for `text`: fresh from the cache, else from `load()` within the budget, else what
        the cache last held for it (even expired), else []."""
        key = (kind, " ".join(text.split()).lower())
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.monotonic():
            return cached[1]
        task = self._running.get(key)
        if task is None:
            task = self.tasks.spawn(self._load(key, load), name=f"suggest-{kind}")
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        try:
            found = await asyncio.wait_for(asyncio.shield(task), self.budget)
        except TimeoutError:
            log.info("%s suggestions for a %d-character text took over %.1fs", kind, len(key[1]), self.budget)
            found = None
        if found is not None:
            return found
        return cached[1] if cached is not None else []

    async def _load(self, key: Key, load: Callable[[], Awaitable[Options]]) -> Options | None:
        """The options, cached; None when the lookup failed (logged: the person just sees no options)."""
        try:
            options = await load()
        except UseCaseError as err:
            log.info("%s suggestions failed: %s", key[0], err.message)
            return None
        except Exception:
            log.exception("%s suggestions failed", key[0])
            return None
        self._cache[key] = (self.monotonic() + self.ttl, options)
        self._cache.move_to_end(key)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return options
