"""snowbot's SQLite storage: functions over a `sqlite_utils.Database`, schema in `storage.migrations`."""

from __future__ import annotations

from storage import cards, integrations, intents, links, schedule, sync, syncback
from storage.crypto import SecretBox, SecretKeyMismatchError
from storage.db import DatabaseFileGoneError, atomic, connect
from storage.migrations import migrate
from storage.store import DatabaseBusyError, Store, store_for

__all__ = [
    "DatabaseBusyError",
    "DatabaseFileGoneError",
    "SecretBox",
    "SecretKeyMismatchError",
    "Store",
    "atomic",
    "cards",
    "connect",
    "integrations",
    "intents",
    "links",
    "migrate",
    "schedule",
    "store_for",
    "sync",
    "syncback",
]
