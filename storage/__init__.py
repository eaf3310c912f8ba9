"""snowbot's storage: functions over a `storage.db.Database` (SQLite through sqlite-utils, or PostgreSQL
through psycopg 3: `storage.postgres`), schema in `storage.migrations`; the SQL both take: `storage.db`."""

from __future__ import annotations

from storage import cards, integrations, intents, links, sync
from storage.crypto import SecretBox, SecretKeyMismatchError
from storage.db import Database, DatabaseFileGoneError, atomic, connect, dialect
from storage.migrations import migrate
from storage.store import DatabaseBusyError, Store, store_for
from storage.urls import DatabaseUnreachableError

__all__ = [
    "Database",
    "DatabaseBusyError",
    "DatabaseFileGoneError",
    "DatabaseUnreachableError",
    "SecretBox",
    "SecretKeyMismatchError",
    "Store",
    "atomic",
    "cards",
    "connect",
    "dialect",
    "integrations",
    "intents",
    "links",
    "migrate",
    "store_for",
    "sync",
]
