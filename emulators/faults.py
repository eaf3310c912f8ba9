"""Seeded, deterministic fault injection shared by the emulators.

A `Faults` object decides, request by request, whether the emulator answers normally, answers with an
error (500/503), answers 429 with Retry-After, or applies the request and then *drops* the response (the
client sees a timeout although the server did the work). Scripted faults (`fail_next`) come first, then
the random shares drawn from a seeded `random.Random`, so a test or a benchmark replays exactly.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["ok", "error", "rate_limit", "drop"]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int = 200
    retry_after: int | None = None


OK = Fault("ok")


@dataclass
class Faults:
    """Shares are probabilities in [0, 1]; `methods` limits random faults to some HTTP methods."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    latency: float = 0.0
    seed: int = 0
    methods: frozenset[str] | None = None
    paths: tuple[str, ...] = ()
    _rng: random.Random = field(init=False, repr=False)
    _script: deque[Fault] = field(init=False, repr=False, default_factory=deque)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `count` requests with `status` (429 carries Retry-After)."""
        kind: FaultKind = "rate_limit" if status == 429 else "error"
        for _ in range(count):
            self._script.append(
                Fault(kind, status, retry_after if retry_after is not None else self.retry_after)
            )

    def drop_next(self, count: int = 1) -> None:
        """Apply the next `count` requests but lose their responses."""
        for _ in range(count):
            self._script.append(Fault("drop"))

    def clear(self) -> None:
        self._script.clear()
        self.error_rate = self.rate_limit_rate = self.drop_rate = 0.0

    def decide(self, method: str, path: str) -> Fault:
        if self._script:
            return self._script.popleft()
        if self.methods is not None and method.upper() not in self.methods:
            return OK
        if self.paths and not any(path.startswith(p) for p in self.paths):
            return OK
        roll = self._rng.random()
        if roll < self.error_rate:
            return Fault("error", self._rng.choice(self.error_statuses))
        roll -= self.error_rate
        if roll < self.rate_limit_rate:
            return Fault("rate_limit", 429, self.retry_after)
        roll -= self.rate_limit_rate
        if roll < self.drop_rate:
            return Fault("drop")
        return OK


DROPPED_HEADER = "x-emulator-dropped"
"""An emulator that drops a response in-process answers with this header; `DroppingTransport` turns it
into the `httpx.ReadTimeout` a real network would give. On a real port the emulator hangs instead."""
