"""`snowbot db copy`: a SQLite database moved into an empty PostgreSQL one, as it is.

Both are migrated first (the same list, so the same tables and columns). Then every table but
`_migrations` (the target records its own) is copied in dependency order (a table after those its foreign
keys name), rows and ids as they are, in one transaction on the target: it lands whole or not at all.
Each identity sequence is then moved past the largest id copied, so the next row gets a new id. Values
are copied as stored: the secrets stay `SecretBox` tokens, readable with the same SNOWBOT_SECRET_KEY.
A target that already holds rows is refused (nothing is merged or overwritten). Never deletes anything.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from storage.db import Database, atomic, dialect
from storage.migrations import migrate

BATCH = 1000
"""Rows per INSERT batch."""


class CopyRefusedError(ValueError):
    """The copy cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def tables_in_order(source: sqlite_utils.Database) -> list[str]:
    """The SQLite database's tables, each after the tables its foreign keys reference."""
    names = [
        row[0]
        for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    graph = graphlib.TopologicalSorter[str]()
    for name in names:
        graph.add(name, *{row[2] for row in source.execute(f'PRAGMA foreign_key_list("{name}")')} - {name})
    return [name for name in graph.static_order() if name in names]


def copy(
    source: sqlite_utils.Database, target: Database, *, progress: Callable[[Copied], None] | None = None
) -> list[Copied]:
    """Copy every row of `source` (SQLite) into `target` (PostgreSQL, empty); see the module docstring."""
    if dialect(target) != "postgresql":
        raise CopyRefusedError("the target must be a PostgreSQL database (postgresql://...)")
    migrate(source)
    migrate(target)
    tables = [name for name in tables_in_order(source) if name != "_migrations"]
    missing = [name for name in tables if not target[name].exists()]
    if missing:
        raise CopyRefusedError(f"the target has no table {', '.join(missing)}: is it another application's?")
    filled = [name for name in tables if target[name].count > 0]
    if filled:
        raise CopyRefusedError(
            f"the target already holds rows (in {', '.join(filled)}): copy into an empty database"
        )
    done: list[Copied] = []
    with atomic(target):
        for name in tables:
            done.append(Copied(name, _copy_table(source, target, name)))
            if progress is not None:
                progress(done[-1])
        _advance_sequences(target)
    return done


def _copy_table(source: sqlite_utils.Database, target: Database, name: str) -> int:
    cursor = source.execute(f'SELECT * FROM "{name}"')  # noqa: S608 (a table name from sqlite_master)
    columns = [column[0] for column in cursor.description]
    sql = (
        f'INSERT INTO "{name}" ({", ".join(columns)}) '  # noqa: S608 (names from the source's own schema)
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    count = 0
    while batch := cursor.fetchmany(BATCH):
        target.conn.executemany(sql, batch)
        count += len(batch)
    return count


def _advance_sequences(target: Database) -> None:
    """Every identity column's sequence past its largest value (the next INSERT gets a new id)."""
    identities = list(
        target.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'"
        )
    )
    for found in identities:
        table, column = found["table_name"], found["column_name"]
        target.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), max({column})) "  # noqa: S608 (catalog names)
            f'FROM "{table}" HAVING max({column}) IS NOT NULL',
            [f'"{table}"', column],
        ).fetchall()
