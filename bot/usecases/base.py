"""What every use-case service shares: the database's thread (`Storage`) and the clocks and tunings
(`Runtime`), one instance of each per `Snowbot`, so a test that drives time sets it in one place.

Never calls ServiceNow or Qualytics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from bot.usecases.errors import DATABASE_BUSY, DatabaseBusy, database_gone
from storage.db import Database, DatabaseFileGoneError
from storage.store import DatabaseBusyError, Store, store_for

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The clocks, the sleep and the tunings of the use cases (tests drive time through them)."""

    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    choices_ttl: float = 300.0
    """Seconds the instance's category and subcategory lists are kept."""
    create_attempts: int = 3
    """POSTs of one incident while each provably never left (connect error or timeout, no free connection)."""
    create_settle: tuple[float, ...] = (0.5, 1.0, 2.0)
    """Waits between the look-ups of a create that may have been applied (a timeout, a lost answer, a
    502/504): ServiceNow may still be processing it. It is looked up once at once, then after each wait."""
    intent_settle: float = 300.0
    """Seconds after which an intent's write has surely ended (a POST held by the instance or a proxy
    included): found nothing by then, the write never happened and the intent is retired."""
    recovered_window: float = 3600.0
    """Seconds during which a create of the anomaly returns the incident an interrupted request made."""
    reconcile_interval: float = 60.0
    """Seconds between `keep_reconciled` rounds (sooner when a request leaves an intent behind)."""
    lease: float = 300.0
    """Seconds an open intent claimed by this replica (its request, or its reconciling) is its own; after
    that another replica may reconcile it (SNOWBOT_OUTBOX_LEASE)."""
    replica: str | None = None
    """This replica's name in the intents and outbox rows it claims (`bot.composition.replica_name`)."""


@dataclass
class Storage:
    """The database and its one thread (`storage.store`): every storage call of the use cases goes
    through `run`, which turns the store's failures into `StorageUnavailable`."""

    db: Database
    store: Store = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.store = store_for(self.db)

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(self.db, *args, **kwargs)` on the database's thread."""
        return await self.call(fn, self.db, *args, **kwargs)

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(*args, **kwargs)` on the database's thread (for a function not taking the database first)."""
        try:
            return await self.store.run(fn, *args, **kwargs)
        except DatabaseBusyError as err:
            raise DatabaseBusy(DATABASE_BUSY) from err
        except DatabaseFileGoneError as err:
            raise database_gone(err) from None

    def check(self) -> None:
        """`DatabaseGone` when the database file was deleted or replaced (one `stat`, no waiting)."""
        try:
            self.store.check()
        except DatabaseFileGoneError as err:
            raise database_gone(err) from None
