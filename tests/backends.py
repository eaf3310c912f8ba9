"""The storage backends the storage and sync suites run on: SQLite always, PostgreSQL when
SNOWBOT_TEST_DATABASE_URL names a server (`.ci/postgres start DIR` starts a throwaway one and prints its
URL; `.ci/run` always does, and with CI=true an unset URL fails the PostgreSQL tests instead of skipping).

Each PostgreSQL test gets a schema of its own (`fresh_schema`: CREATE SCHEMA, then every connection of the
URL it yields has it as its search_path), dropped afterwards: a fresh database in milliseconds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

BACKENDS = ["sqlite", "postgresql"]
URL_VARIABLE = "SNOWBOT_TEST_DATABASE_URL"
_SERVER = os.environ.get(URL_VARIABLE, "").strip()
"""Read once, at import: tests that clear snowbot's variables from the environment (SNOWBOT_*) keep it."""
_CI = os.environ.get("CI") == "true"


def report_header() -> str:
    """The line `pytest` ends with: which PostgreSQL the PostgreSQL half ran on, or why it was skipped."""
    if _SERVER:
        return f"PostgreSQL tests: ran on {_SERVER}"
    return (
        f"PostgreSQL tests: skipped ({URL_VARIABLE} is unset; `.ci/postgres start DIR` prints a URL for it)"
    )


def server_url() -> str:
    """The test server's URL; skips the test when there is none (fails it under CI=true)."""
    if _SERVER:
        return _SERVER
    if _CI:
        pytest.fail(f"CI=true but {URL_VARIABLE} is unset: .ci/run starts PostgreSQL and exports it")
    pytest.skip(f"PostgreSQL: {URL_VARIABLE} is unset (`.ci/postgres start DIR` prints a URL to set it to)")


def with_search_path(url: str, schema: str) -> str:
    """`url` whose connections use `schema` (libpq's `options=-c search_path=...`)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c search_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema on the server at `url`; yields the URL of it; dropped with what is in it after."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield with_search_path(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def database_target(backend: str, tmp_path: Path, filename: str) -> Iterator[str | Path]:
    """What `storage.connect` opens for `backend`: a SQLite file in `tmp_path`, or a fresh schema's URL."""
    if backend == "sqlite":
        yield tmp_path / filename
        return
    with fresh_schema(server_url()) as url:
        yield url
