"""snowbot's SQLite storage: functions over a `sqlite_utils.Database`, schema in `storage.migrations`."""

from __future__ import annotations

from storage import cards, integrations, links, sync
from storage.crypto import SecretBox, SecretKeyMismatchError
from storage.db import atomic, connect
from storage.migrations import migrate

__all__ = [
    "SecretBox",
    "SecretKeyMismatchError",
    "atomic",
    "cards",
    "connect",
    "integrations",
    "links",
    "migrate",
    "sync",
]
