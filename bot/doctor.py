"""`snowbot doctor`: each dependency checked as a person would, one `Check` per line (ok, or what to do).

Owns the checks and the report (`Report.text()`, `Report.as_dict()` for `--json`, `/snow status` and
`GET /api/integrations/ticketing/{id}/diagnosis`). Every check only reads: nothing is written to
ServiceNow, Qualytics, Slack or the database (the CLI opens the database read-only). The checks take the
clients they probe, so the CLI, the REST API and Slack run the same code on their own clients.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.usecases import Overview, Snowbot
from qualytics_api import QualyticsClient
from qualytics_api.errors import QualyticsAuthError, QualyticsError, QualyticsNotFoundError
from servicenow import ServiceNowClient
from servicenow.errors import (
    AuthenticationError,
    PermissionDeniedError,
    ServiceNowConnectionError,
    ServiceNowError,
)
from storage import cards, links, sync
from storage.db import Database, connect
from storage.migrations import MIGRATIONS, applied
from storage.urls import DatabaseUnreachableError, is_url, redact_url

BOT_SCOPES = frozenset(
    ("commands", "chat:write", "chat:write.public", "users:read", "users:read.email")
    + ("channels:history", "groups:history")
)
"""The bot scopes manifest.yml asks for (tests/bot/test_doctor.py keeps them equal)."""
CREATE_ROLES = frozenset(("itil", "admin", "sn_incident_write"))
"""Roles that may create incidents and write their work notes (the integration spec's service-account
roles; the emulator's incident write rule is itil or admin)."""
TOKEN_WARNING = timedelta(days=7)
"""A Qualytics token expiring sooner than this fails its check: there is time to replace it."""
MAX_ANOMALIES = 50
"""Linked anomalies read to check the token's permission on their datastores."""
MAX_CHANNELS = 50
NOT_CONNECTED_FIX = (
    "connect ServiceNow with /snow connect or POST /api/integrations/ticketing, or set "
    "SERVICENOW_INSTANCE_URL and SERVICENOW_CREDENTIALS"
)
QUALYTICS_FIX = "set QUALYTICS_URL (https://<your-instance>.qualytics.io) and QUALYTICS_TOKEN"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.name}: {self.detail}" + (f" -> {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def text(self) -> str:
        return "\n".join(check.line() for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"checks": [asdict(check) for check in self.checks]}


def _ok(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


# ---- settings and database -------------------------------------------------------------------------------


def settings_check(settings: Settings) -> Check:
    """The start-up checks of `snowbot run` (`bot.startup.check_settings`), as one line."""
    from bot.startup import StartupError, check_settings

    try:
        check_settings(settings)
    except StartupError as err:
        return _fail("settings", str(err), "fix the setting named, then run `snowbot doctor` again")
    parts = [
        "ServiceNow from the environment"
        if settings.servicenow_instance_url
        else "ServiceNow not in the environment",
        "Qualytics set" if settings.qualytics_url and settings.qualytics_token else "Qualytics not set",
        "Slack set" if settings.slack_bot_token else "Slack not set",
    ]
    return _ok("settings", ", ".join(parts))


def open_read_only(path: Path | str) -> Database | None:
    """The database opened read-only (SQLite URI `mode=ro`), or None when the file does not exist yet; a
    PostgreSQL URL is opened as it is (the doctor only reads), None when it does not answer."""
    import sqlite3

    if is_url(path):
        try:
            return connect(path)
        except DatabaseUnreachableError:
            return None
    path = Path(path)
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    return sqlite_utils.Database(conn)


def database_checks(db: Database | None, path: Path | str) -> list[Check]:
    """The file writable by snowbot (or PostgreSQL answering), migrations current, outbox depth and its
    oldest failure."""
    if is_url(path):
        shown = redact_url(str(path))
        if db is None:
            return [_fail("database", f"PostgreSQL at {shown} does not answer", "check SNOWBOT_DATABASE_URL")]
        return [_ok("database", f"PostgreSQL at {shown} answers"), *_schema_checks(db)]
    path = Path(path)
    if db is None:
        return [
            _fail("database", f"{path} does not exist yet", "start snowbot once (`snowbot run`) to create it")
        ]
    folder = path.parent if str(path.parent) else Path(".")
    if not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
        checks = [
            _fail(
                "database", f"{path} is not writable by this user", f"let this user write {path} and {folder}"
            )
        ]
    else:
        checks = [_ok("database", f"{path} is writable")]
    return checks + _schema_checks(db)


def _schema_checks(db: Database) -> list[Check]:
    checks = []
    known = [name for name, _ in MIGRATIONS]
    missing = [name for name in known if name not in set(applied(db))]
    if missing:
        checks.append(
            _fail(
                "migrations",
                f"{len(missing)} not applied ({', '.join(missing)})",
                "start `snowbot run` once (or `snowbot db migrate`): it applies them",
            )
        )
        if not db["outbox"].exists():
            return checks  # a database never migrated (an empty PostgreSQL one): no outbox to read yet
    else:
        checks.append(_ok("migrations", f"current ({len(known)} applied)"))
    counts = sync.counts(db)
    depth = f"{counts['pending']} pending, {counts['failed']} failed"
    oldest = sync.oldest_failure(db)
    if oldest is None:
        checks.append(_ok("outbox", depth))
    else:
        checks.append(
            _fail(
                "outbox",
                f"{depth}; oldest failure: {oldest.kind} (link {oldest.link_id}): {oldest.last_error}",
                "fix its cause, then `snowbot sync --requeue --once`",
            )
        )
    return checks


# ---- ServiceNow ------------------------------------------------------------------------------------------


def auth_kind(integration: object | None) -> str:
    """The integration's auth kind: `auth_kind` when the integration has one (OAuth), else basic."""
    kind = getattr(integration, "auth_kind", None) or getattr(integration, "auth_type", None)
    return str(kind) if kind else "basic"


async def servicenow_checks(
    client: ServiceNowClient, *, user_name: str, kind: str = "basic", close_code: str | None = None
) -> list[Check]:
    """Reachable, TLS, the auth kind and its result, then what the account may do (reads only)."""
    url = client.instance_url
    try:
        await client.check_connection()
    except AuthenticationError as err:
        return [
            _ok("servicenow reachable", f"{url} answered"),
            _fail(
                "servicenow auth", f"{kind} as {user_name}: {err.message}", "check the user name and password"
            ),
        ]
    except PermissionDeniedError as err:
        return [
            _ok("servicenow reachable", f"{url} answered"),
            _ok("servicenow auth", f"{kind} as {user_name} signed in"),
            _fail("servicenow incidents", err.message, "give the account the itil role"),
        ]
    except ServiceNowConnectionError as err:
        cause = f"{err.message} {err.__cause__ or ''}"
        if "certificate" in cause.lower() or "ssl" in cause.lower():
            return [
                _fail("servicenow tls", err.message, "the instance's certificate must be valid for its name")
            ]
        return [
            _fail("servicenow reachable", err.message, "check SERVICENOW_INSTANCE_URL and the network path")
        ]
    except ServiceNowError as err:
        return [_fail("servicenow reachable", err.message, "check SERVICENOW_INSTANCE_URL")]
    tls = (
        _ok("servicenow tls", "https, certificate verified")
        if url.startswith("https://")
        else _ok("servicenow tls", "plain http (SNOWBOT_ALLOW_INSECURE_INSTANCE: emulators only)")
    )
    checks = [
        _ok("servicenow reachable", f"{url} answered"),
        tls,
        _ok("servicenow auth", f"{kind} as {user_name} signed in"),
    ]
    checks += await _roles_checks(client, user_name)
    checks.append(await _choices_check(client, close_code))
    checks.append(await _journal_check(client))
    checks.append(await _users_check(client))
    checks.append(await _groups_check(client))
    return checks


async def _roles_checks(client: ServiceNowClient, user_name: str) -> list[Check]:
    try:
        roles = await client.account_roles(user_name)
    except ServiceNowError as err:
        roles, why = None, err.message
    else:
        why = f"its sys_user row ({user_name}) is not visible"
    if roles is None:
        fix = "grant read on sys_user and sys_user_has_role, or check by hand that the account has itil"
        return [_fail("servicenow create incidents", f"roles unknown: {why}", fix)]
    shown = ", ".join(roles) or "no roles"
    if CREATE_ROLES & set(roles):
        return [
            _ok("servicenow create incidents", f"roles: {shown}"),
            _ok("servicenow work notes", f"roles: {shown}"),
        ]
    fix = "give the account the itil role"
    return [
        _fail(
            "servicenow create incidents", f"roles: {shown}; none of {', '.join(sorted(CREATE_ROLES))}", fix
        ),
        _fail("servicenow work notes", f"roles: {shown}", fix),
    ]


async def _choices_check(client: ServiceNowClient, close_code: str | None) -> Check:
    name = "servicenow sys_choice"
    try:
        choices = await client.list_choices("incident", "close_code")
    except PermissionDeniedError as err:
        fix = "grant read on sys_choice's name, element and value (field ACLs) to the account's role"
        fix += "" if close_code else ", or set SNOWBOT_CLOSE_CODE"
        return _fail(name, f"reading the choice lists was refused: {err.message}", fix)
    except ServiceNowError as err:
        return _fail(name, err.message, "check the account's read rights on sys_choice")
    return _ok(name, f"choice lists readable ({len(choices)} close codes)")


async def _journal_check(client: ServiceNowClient) -> Check:
    name = "servicenow sys_journal_field"
    fix = "grant read on sys_journal_field to the account's role (until then exactly-once falls back to work_notes)"
    try:
        seen = await client.sample_journal()
    except ServiceNowError as err:
        return _fail(name, f"reading work notes was refused: {err.message}", fix)
    if not seen:
        # a read ACL answers 200 with no rows (servicenow-table-api.md, corrections)
        return _fail(
            name, "no work-note rows visible: a read ACL hides them (or the instance has none yet)", fix
        )
    return _ok(name, "work-note rows readable")


async def _users_check(client: ServiceNowClient) -> Check:
    name = "servicenow sys_user by email"
    fix = "grant read on sys_user (with its email field) to the account's role; until then no caller is set"
    try:
        users = await client.search_users("", limit=1)
    except ServiceNowError as err:
        return _fail(name, err.message, fix)
    if not users or not users[0].email:
        return _fail(name, "no user with a readable email is visible", fix)
    return _ok(name, "users and their email readable (the caller is found)")


async def _groups_check(client: ServiceNowClient) -> Check:
    name = "servicenow sys_user_group"
    fix = "grant read on sys_user_group to the account's role; until then the form has no assignment groups"
    try:
        groups = await client.search_groups("", limit=1)
    except ServiceNowError as err:
        return _fail(name, err.message, fix)
    if not groups:
        return _fail(name, "no group visible", fix)
    return _ok(name, "assignment groups readable")


# ---- Qualytics -------------------------------------------------------------------------------------------


def token_expiry(token: str) -> datetime | None:
    """The JWT's `exp` (read, not verified: qualytics-cli's `is_token_valid` does the same), or None."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
        return datetime.fromtimestamp(float(exp), UTC) if exp is not None else None
    except (ValueError, TypeError, OverflowError):
        return None


async def qualytics_checks(
    client: QualyticsClient, *, token: SecretStr, anomaly_ids: Sequence[int], now: datetime
) -> list[Check]:
    try:
        user = await client.whoami()
    except QualyticsAuthError as err:
        return [
            _ok("qualytics reachable", f"{client.base_url} answered"),
            _fail("qualytics token", err.message, "create a new token"),
        ]
    except QualyticsError as err:
        return [_fail("qualytics reachable", err.message, "check QUALYTICS_URL and the network path")]
    checks = [
        _ok("qualytics reachable", f"{client.base_url} answered"),
        _ok("qualytics token", f"valid, acts as {user.name}"),
    ]
    checks.append(_expiry_check(token, now))
    checks.append(await _datastores_check(client, anomaly_ids))
    return checks


def _expiry_check(token: SecretStr, now: datetime) -> Check:
    name = "qualytics token expiry"
    expires = token_expiry(token.get_secret_value())
    if expires is None:
        return _ok(name, "no expiry (exp) in the token")
    fix = "create a new token under Settings -> Tokens and set QUALYTICS_TOKEN"
    when = expires.strftime("%Y-%m-%d %H:%M UTC")
    if expires <= now:
        return _fail(name, f"expired {when}", fix)
    if expires - now < TOKEN_WARNING:
        return _fail(name, f"expires {when}, in less than {TOKEN_WARNING.days} days", fix)
    return _ok(name, f"expires {when}")


async def _datastores_check(client: QualyticsClient, anomaly_ids: Sequence[int]) -> Check:
    name = "qualytics datastores"
    if not anomaly_ids:
        return _ok(name, "no linked anomalies yet")
    refused: list[str] = []
    stores: set[str] = set()
    for anomaly_id in anomaly_ids[:MAX_ANOMALIES]:
        try:
            anomaly = await client.get_anomaly(anomaly_id)
        except QualyticsNotFoundError:
            continue  # deleted in Qualytics: the sync marks its links, nothing to grant
        except QualyticsError as err:
            refused.append(f"anomaly {anomaly_id}: {err.message}")
            continue
        stores.add(str(getattr(anomaly.datastore, "name", None) or anomaly.datastore))
    if refused:
        fix = "give the token's user Viewer (Editor to acknowledge, Author to archive) on those datastores"
        return _fail(name, "; ".join(refused[:3]), fix)
    return _ok(name, f"linked anomalies readable ({len(stores)} datastores)")


# ---- Slack -----------------------------------------------------------------------------------------------


async def slack_checks(
    client: AsyncWebClient, *, app_token: SecretStr | None, signing_secret: bool, channels: Sequence[str]
) -> list[Check]:
    try:
        answer = await client.auth_test()
    except SlackApiError as err:
        error = err.response.get("error", "unknown")
        return [
            _fail(
                "slack token",
                f"auth.test answered {error}",
                "set SLACK_BOT_TOKEN to the app's bot token (xoxb-)",
            )
        ]
    checks = [_ok("slack token", f"valid, {answer.get('user')} in {answer.get('team')}")]
    header = next((v for k, v in answer.headers.items() if k.lower() == "x-oauth-scopes"), "")
    header = header[0] if isinstance(header, list) else header
    granted = {s.strip() for s in str(header).split(",") if s.strip()}
    missing = sorted(BOT_SCOPES - granted)
    if missing:
        fix = "add them to the app (manifest.yml), reinstall it and set the new SLACK_BOT_TOKEN"
        checks.append(_fail("slack scopes", f"missing {', '.join(missing)}", fix))
    else:
        checks.append(_ok("slack scopes", "every scope of the manifest granted"))
    checks.append(await _socket_check(client, app_token, signing_secret))
    checks.append(await _channels_check(client, channels))
    return checks


async def _socket_check(client: AsyncWebClient, app_token: SecretStr | None, signing_secret: bool) -> Check:
    name = "slack connection"
    if app_token is None:
        if signing_secret:
            return _ok(name, "HTTP mode (SLACK_SIGNING_SECRET set)")
        return _fail(
            name,
            "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
            "set SLACK_APP_TOKEN (Socket Mode)",
        )
    try:
        await client.apps_connections_open(app_token=app_token.get_secret_value())
    except SlackApiError as err:
        error = err.response.get("error", "unknown")
        fix = "set SLACK_APP_TOKEN to an app-level token (xapp-) with connections:write"
        return _fail(name, f"apps.connections.open answered {error}", fix)
    return _ok(name, "Socket Mode: apps.connections.open gave a WebSocket URL")


async def _channels_check(client: AsyncWebClient, channels: Sequence[str]) -> Check:
    name = "slack channels"
    if not channels:
        return _ok(name, "no channel watched or announced in yet")
    outside: list[str] = []
    for channel in channels[:MAX_CHANNELS]:
        try:
            info = await client.conversations_info(channel=channel)
        except SlackApiError as err:
            error = err.response.get("error", "unknown")
            if error == "missing_scope":
                return _ok(
                    name, f"membership not checked: the token has no {err.response.get('needed')} scope"
                )
            outside.append(f"{channel} ({error})")
            continue
        channel_info = info.get("channel")
        if not (isinstance(channel_info, dict) and channel_info.get("is_member")):
            outside.append(channel)
    if outside:
        return _fail(name, f"not a member of {', '.join(outside)}", "invite snowbot there (/invite @snowbot)")
    return _ok(name, f"member of the {len(channels)} channels it announces in")


def announce_channels(db: Database) -> list[str]:
    """The channels snowbot posts in: watched ones, then those of its newest links' threads."""
    found = [watched.channel_id for watched in cards.watched(db)]
    found += [link.channel_id for link in links.recent(db, MAX_CHANNELS) if link.channel_id]
    return list(dict.fromkeys(found))


# ---- the whole report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subjects:
    """What to check; None: not configured (its checks are left out, the settings line says so)."""

    settings: Settings
    db: Database | None
    servicenow: ServiceNowClient | None = None
    integration: object | None = None
    """The `storage.integrations.Integration` (its user name and auth kind); None: from the settings."""
    qualytics: QualyticsClient | None = None
    slack: AsyncWebClient | None = None
    servicenow_problem: str | None = None
    """Why there is no ServiceNow client (not connected, a secret that cannot be read)."""
    qualytics_problem: str | None = None
    """Why there is no Qualytics client (e.g. a QUALYTICS_URL that is not an instance's address)."""


DbCall = Callable[..., Awaitable[Any]]
"""Runs a database read `fn(*args)`: inline for the CLI, on the store's thread in a running process."""


async def _inline(fn: Callable[..., Any], *args: object) -> Any:
    return fn(*args)


async def diagnose(
    subjects: Subjects, *, now: Callable[[], datetime] = lambda: datetime.now(UTC), call: DbCall = _inline
) -> Report:
    """Every check, in the order a person would look: settings, database, ServiceNow, Qualytics, Slack."""
    settings, db = subjects.settings, subjects.db
    checks = [settings_check(settings), *await call(database_checks, db, settings.database)]
    if subjects.servicenow is not None:
        integration = subjects.integration
        user = getattr(integration, "username", None) or _env_user(settings)
        checks += await servicenow_checks(
            subjects.servicenow, user_name=user, kind=auth_kind(integration), close_code=settings.close_code
        )
    else:
        checks.append(_fail("servicenow", subjects.servicenow_problem or "not connected", NOT_CONNECTED_FIX))
    if subjects.qualytics is not None and settings.qualytics_token is not None:
        ids = await call(links.anomaly_ids, db) if db is not None else []
        checks += await qualytics_checks(
            subjects.qualytics, token=settings.qualytics_token, anomaly_ids=ids, now=now()
        )
    else:
        why = subjects.qualytics_problem or "QUALYTICS_URL or QUALYTICS_TOKEN is not set: nothing syncs"
        checks.append(_fail("qualytics", why, QUALYTICS_FIX))
    if subjects.slack is not None:
        channels = await call(announce_channels, db) if db is not None else []
        checks += await slack_checks(
            subjects.slack,
            app_token=settings.slack_app_token,
            signing_secret=settings.slack_signing_secret is not None,
            channels=channels,
        )
    return Report(checks)


async def diagnose_running(
    snowbot: Snowbot, *, integration_id: int | None = None, slack: AsyncWebClient | None = None
) -> Report:
    """The same report from a running process (`/snow status`, `GET .../{id}/diagnosis`): its own clients,
    its database read on the store's thread. `slack`: the surface's client (None: one from the settings)."""
    from bot.slack.client import web_client
    from bot.usecases.errors import IntegrationNotFound, NotConnected, UseCaseError

    connections = snowbot.connections
    try:
        integration = await connections.integration(integration_id)
    except NotConnected:
        if integration_id is not None:
            raise IntegrationNotFound(integration_id) from None
        integration = None
    servicenow, problem = None, None
    if integration is not None:
        try:
            servicenow = await connections.client(integration)
        except UseCaseError as err:
            problem = err.message
    settings = snowbot.settings
    if slack is None and settings.slack_bot_token:
        slack = web_client(settings)
    subjects = Subjects(
        settings=settings,
        db=snowbot.db,
        servicenow=servicenow,
        integration=integration,
        qualytics=snowbot.qualytics,
        slack=slack,
        servicenow_problem=problem,
    )
    return await diagnose(subjects, now=snowbot.clock, call=snowbot.storage.call)


def _env_user(settings: Settings) -> str:
    value = settings.servicenow_credentials_value or ""
    return value.partition(":")[0]


async def admin_status(snowbot: Snowbot, *, slack: AsyncWebClient | None) -> tuple[Overview, Report]:
    """`/snow status` for an admin: the overview and this report."""
    return await snowbot.overview(), await diagnose_running(snowbot, slack=slack)
