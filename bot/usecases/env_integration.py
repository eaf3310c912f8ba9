"""The integration the environment configures (SERVICENOW_INSTANCE_URL / SERVICENOW_CREDENTIALS, source
"env"), recorded once while composing, before anything runs (so on the composing thread, not the Store's).

Its password is always read from the settings and never stored; no request is made (`Connections.
check_connection` tests it). An integration connected through the bot for the same instance since wins.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from bot.settings import Settings
from bot.usecases.logins import env_login
from storage import integrations
from storage.db import Database
from storage.integrations import Integration


def record_env_integration(
    db: Database, settings: Settings, instance_url: Callable[[str], str]
) -> Integration | None:
    """Record (or find) the environment's integration; `instance_url` validates the URL. Replicas starting
    at once on one PostgreSQL may both find it missing: the one whose insert loses reads the winner's."""
    try:
        return _record(db, settings, instance_url)
    except sqlite3.IntegrityError:  # another replica recorded it at the same moment (a unique URL)
        return _record(db, settings, instance_url)


def _record(db: Database, settings: Settings, instance_url: Callable[[str], str]) -> Integration | None:
    url = settings.servicenow_instance_url
    if not url:
        return None
    creds = env_login(settings)
    if creds is None:
        return None
    url = instance_url(url)
    for known in integrations.list_all(db):
        same = (known.username, known.auth_type, known.client_id) == (
            creds.username,
            creds.auth,
            creds.client_id,
        )
        if known.instance_url == url and (known.source == "user" or same):
            return known  # unchanged, or connected through the bot since: that connection wins
    current = integrations.default(db)
    return integrations.save(
        db,
        None,  # nothing secret is stored for "env": no SecretBox is needed
        instance_url=url,
        username=creds.username,
        password=None,
        source="env",
        make_default=current is None or current.source == "env",
        auth_type=creds.auth,
        client_id=creds.client_id,
    )
