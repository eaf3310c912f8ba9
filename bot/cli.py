"""The bot's own commands behind the `snowbot` console script: `run`, `sync`, `doctor`, `db`, `secret-key`, and the
settings table `snowbot run --help` shows.

The console script (`snowbot/cli.py`, outside `bot/`) parses the command line and routes here; the dev
commands (`demo`, `emulate`) it routes to their own packages, so nothing here imports them. Each command
imports its modules lazily so `snowbot --help` stays fast. A setting the use cases refuse while starting
is raised as a `StartupError`, which the console script prints as one line (exit 2).
"""

from __future__ import annotations

import asyncio
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.doctor import Report
    from bot.settings import Settings
    from storage.db import Database


def settings_help() -> str:
    """The settings `snowbot run` reads, generated from `bot.settings.Settings` (name, default, meaning)."""
    from bot.settings import describe_settings

    rows = describe_settings()
    width = max(len(name) for name, _, _ in rows) + 2
    lines = ["settings (environment variables, or a .env file in the working directory):"]
    for name, default, description in rows:
        text = description + (f" (default: {default})" if default else "")
        wrapped = textwrap.wrap(text, width=100 - width - 2, break_on_hyphens=False) or [""]
        lines.append(f"  {name.ljust(width)}{wrapped[0]}")
        lines += [f"  {' ' * width}{more}" for more in wrapped[1:]]
    return "\n".join(lines)


def secret_key() -> int:
    """`snowbot secret-key`: print a new random SNOWBOT_SECRET_KEY."""
    from storage import SecretBox

    print(SecretBox.generate_key())
    return 0


def sync(*, once: bool, requeue: bool) -> int:
    """`snowbot sync`: one pass (`once`) and/or make every failed note pending again (`requeue`)."""
    from bot.logs import configure_logging
    from bot.settings import load_settings
    from bot.startup import StartupError, check_settings
    from bot.sync.cli import run_sync
    from bot.usecases import UseCaseError

    settings = load_settings()
    # it prints what the pass did: the log says only what went wrong, unless SNOWBOT_LOG_LEVEL asks for more
    level = settings.log_level if "log_level" in settings.model_fields_set else "WARNING"
    configure_logging(level=level, fmt=settings.log_format)
    check_settings(settings)
    from storage import DatabaseUnreachableError

    try:
        return asyncio.run(run_sync(settings, once=once, requeue=requeue))
    except UseCaseError as err:  # a setting the use cases refuse while starting (e.g. QUALYTICS_URL)
        raise StartupError(err.message) from None
    except DatabaseUnreachableError as err:
        raise _database_problem(err) from None


def _database_problem(err: Exception) -> Exception:
    """A database that cannot be opened, as the one line the console script prints."""
    from bot.startup import StartupError

    return StartupError(f"SNOWBOT_DATABASE_URL: {err}")


def db_migrate() -> int:
    """`snowbot db migrate`: apply the migrations not yet applied to the configured database; print them."""
    from bot.settings import load_settings
    from storage import DatabaseUnreachableError, connect, migrate
    from storage.urls import redact_url

    settings = load_settings()
    shown = redact_url(str(settings.database)) if settings.database_url else f"SNOWBOT_DB={settings.db_path}"
    try:
        db = connect(settings.database)
    except DatabaseUnreachableError as err:
        raise _database_problem(err) from None
    try:
        applied = migrate(db)
    finally:
        db.close()
    for name in applied:
        print(f"applied {name}")
    print(f"{shown}: {len(applied)} applied now" if applied else f"{shown}: up to date")
    return 0


def db_copy(*, to: str | None) -> int:
    """`snowbot db copy --to postgresql://...`: the SQLite database SNOWBOT_DB copied into an empty
    PostgreSQL database (`--to`, else SNOWBOT_DATABASE_URL); one line per table."""
    from bot.settings import load_settings
    from bot.startup import StartupError
    from storage import DatabaseUnreachableError, connect
    from storage.copy import CopyRefusedError, copy
    from storage.db import connect_sqlite
    from storage.urls import is_url, redact_url

    settings = load_settings()
    target_url = to or (settings.database_url.get_secret_value() if settings.database_url else None)
    if not target_url or not is_url(target_url):
        raise StartupError(
            "--to must be a PostgreSQL URL (postgresql://user:password@host:5432/dbname), or set "
            "SNOWBOT_DATABASE_URL and leave --to out"
        )
    if not settings.db_path.is_file():
        raise StartupError(
            f"SNOWBOT_DB={str(settings.db_path)!r} does not exist: point it at the SQLite file to copy"
        )
    source = connect_sqlite(settings.db_path)
    try:
        target = connect(target_url)
    except DatabaseUnreachableError as err:
        source.close()
        raise StartupError(f"--to: {err}") from None
    try:
        copied = copy(source, target, progress=lambda c: print(f"{c.table}: {c.rows} rows"))
    except CopyRefusedError as err:
        raise StartupError(f"{redact_url(target_url)}: {err}") from None
    finally:
        source.close()
        target.close()
    total = sum(c.rows for c in copied)
    print(f"copied {total} rows in {len(copied)} tables from {settings.db_path} to {redact_url(target_url)}")
    return 0


def run() -> int:
    """`snowbot run`: serve the REST API, the Slack endpoint and the sync scheduler."""
    from bot.app import serve
    from bot.settings import load_settings
    from bot.startup import StartupError
    from bot.usecases import UseCaseError
    from storage import DatabaseUnreachableError

    settings = load_settings()
    try:
        return serve(settings)
    except UseCaseError as err:  # raised while building the app, before it serves
        raise StartupError(err.message) from None
    except DatabaseUnreachableError as err:
        raise _database_problem(err) from None


def doctor(*, as_json: bool) -> int:
    """`snowbot doctor`: one line per check (or `--json`); 0 when every check holds, 1 otherwise."""
    import json

    from bot.logs import configure_logging
    from bot.settings import load_settings

    settings = load_settings()
    configure_logging(level="ERROR", fmt=settings.log_format)  # the report is the output, not the log
    report = asyncio.run(run_doctor(settings))
    print(json.dumps(report.as_dict(), indent=2) if as_json else report.text())
    return 0 if report.ok else 1


async def run_doctor(
    settings: Settings,
    *,
    servicenow_transport: Any = None,
    qualytics_transport: Any = None,
    integration_id: int | None = None,
) -> Report:
    """The report `snowbot doctor` prints: clients built from the settings and the stored integration
    (the default one, or `integration_id`), the database opened read-only (never migrated)."""
    from bot.composition import qualytics_client, servicenow_factory
    from bot.doctor import Subjects, diagnose, open_read_only
    from bot.slack.client import web_client
    from bot.usecases import UseCaseError
    from servicenow.errors import ServiceNowError

    db = open_read_only(settings.database)
    servicenow, integration, problem = None, None, None
    try:
        integration, creds, url = _servicenow_account(settings, db, integration_id)
        if url is not None and creds is not None:
            servicenow = servicenow_factory(settings, transport=servicenow_transport)(url, creds)
    except ServiceNowError as err:
        problem = err.message
    except ValueError as err:
        problem = str(err)
    qualytics, qualytics_problem = None, None
    try:
        qualytics = qualytics_client(settings, transport=qualytics_transport)
    except UseCaseError as err:  # NotConfigured: a QUALYTICS_URL that is not an instance's address
        qualytics_problem = err.message
    slack = web_client(settings) if settings.slack_bot_token else None
    try:
        return await diagnose(
            Subjects(
                settings=settings,
                db=db,
                servicenow=servicenow,
                integration=integration,
                qualytics=qualytics,
                slack=slack,
                servicenow_problem=problem,
                qualytics_problem=qualytics_problem,
            )
        )
    finally:
        for client in (servicenow, qualytics):
            if client is not None:
                await client.aclose()
        if db is not None:
            db.close()


def _servicenow_account(
    settings: Settings, db: Database | None, integration_id: int | None
) -> tuple[Any, Any, str | None]:
    """(integration, credentials, instance URL) of the integration to check; (None, None, None): none."""
    from servicenow import Credentials, parse_credentials
    from storage import SecretBox, integrations

    found = None
    if db is not None and db["integrations"].exists():
        found = integrations.default(db) if integration_id is None else integrations.get(db, integration_id)
        if found is None and integration_id is not None:
            raise ValueError(f"there is no integration {integration_id}")
    if found is None or found.source == "env":
        secret = settings.servicenow_credentials_value
        url = found.instance_url if found is not None else settings.servicenow_instance_url
        if not url or not secret:
            return found, None, None
        return found, parse_credentials(secret), url
    if db is None or settings.secret_key is None:
        raise ValueError(
            "SNOWBOT_SECRET_KEY is not set, so the stored ServiceNow password cannot be decrypted"
        )
    box = SecretBox(settings.secret_key.get_secret_value())
    try:
        password = integrations.password(db, box, found)
    except Exception as err:  # SecretKeyMismatchError: its message says which key to set
        raise ValueError(str(err)) from None
    return found, Credentials(username=found.username, password=password), found.instance_url
