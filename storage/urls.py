"""What names a PostgreSQL database: its URL, shown without the password, and the error when it does not
answer. Apart from `storage.db` and `storage.postgres` so that neither imports the other at import time
(and SQLite users never import psycopg)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class DatabaseUnreachableError(sqlite3.OperationalError):
    """PostgreSQL refused or did not answer the connection; the message names the URL (no password)."""


def is_url(target: str | Path) -> bool:
    """Whether `target` names a PostgreSQL database (`postgresql://...`) rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """A database URL with its password replaced by `***`, to show in messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=user.split(":", 1)[0] + ":***@" + host))
