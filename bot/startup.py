"""Start-up checks of `snowbot run` and `snowbot sync`: each refusal is one line naming the setting, what is
wrong with it and the fix (the CLI prints it and exits 2), never a traceback.

`check_settings` looks at what the settings name (the database file, the ServiceNow instance URL and
credentials) before anything is opened; `listen` binds the server's socket before the app starts, so a
port already in use is refused before the scheduler runs a pass. Never opens the database or calls out.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from pathlib import Path

from bot.settings import Settings
from servicenow.config import parse_credentials, validate_instance_url
from servicenow.errors import ConfigurationError

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file (sqlite.org/fileformat.html, "The Database Header")."""


class StartupError(Exception):
    """A setting stops snowbot from starting; `str()` is the one line to print."""


def check_settings(settings: Settings) -> None:
    """Raise `StartupError` for the first setting that cannot work."""
    if settings.database_url is None:
        check_db_path(settings.db_path)
    url, credentials = settings.servicenow_instance_url, settings.servicenow_credentials
    if url:
        try:
            validate_instance_url(url, allow_insecure=settings.allow_insecure_instance)
        except ConfigurationError as err:
            raise StartupError(f"SERVICENOW_INSTANCE_URL: {err.message}") from None
    if credentials is not None:
        try:
            parse_credentials(credentials)
        except ConfigurationError as err:
            raise StartupError(f"SERVICENOW_CREDENTIALS: {err.message}") from None
    auth = settings.servicenow_auth
    if auth != "basic" and url and not (settings.servicenow_client_id and settings.servicenow_client_secret):
        raise StartupError(
            f"SERVICENOW_AUTH={auth} needs SERVICENOW_CLIENT_ID and SERVICENOW_CLIENT_SECRET (the instance's OAuth "
            "application, System OAuth > Application Registry): set both, or set SERVICENOW_AUTH=basic"
        )
    if auth == "oauth_client_credentials" and url:
        return  # the OAuth client alone logs in: SERVICENOW_CREDENTIALS is not needed
    if bool(url) != (credentials is not None):
        given, missing = (
            ("SERVICENOW_INSTANCE_URL", "SERVICENOW_CREDENTIALS")
            if url
            else ("SERVICENOW_CREDENTIALS", "SERVICENOW_INSTANCE_URL")
        )
        raise StartupError(
            f"{given} is set but {missing} is not: set both, or neither (connect through Slack)"
        )


def check_db_path(path: Path) -> None:
    """The database file must be a SQLite file (or not exist yet) in a directory snowbot can write to."""
    shown = f"SNOWBOT_DB={str(path)!r}"
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise StartupError(f"{shown} is a directory: name a file in it, e.g. {str(path / 'snowbot.db')!r}")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise StartupError(
            f"{shown}: the directory {str(parent)!r} {what}; create it or point SNOWBOT_DB elsewhere"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StartupError(
            f"{shown}: this user cannot write in {str(parent)!r} (SQLite keeps its -wal and -shm files beside "
            "the database); give the user write access or point SNOWBOT_DB elsewhere"
        )
    if not path.exists():
        return
    if not os.access(path, os.R_OK | os.W_OK):
        raise StartupError(f"{shown}: this user cannot read and write the file; fix its permissions")
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise StartupError(f"{shown} is not a SQLite database: point SNOWBOT_DB at snowbot's database file")


def listen(
    host: str, port: int, *, host_variable: str = "SNOWBOT_HOST", port_variable: str = "SNOWBOT_PORT"
) -> socket.socket:
    """A TCP socket bound to host:port (port 0: a free one) and listening, or `StartupError` naming the
    setting."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a host name: resolved by bind
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart without waiting
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise StartupError(
                f"{port_variable}={port}: {host}:{port} is already in use (another snowbot?); stop that "
                f"process or set {port_variable} to a free port"
            ) from None
        if err.errno == errno.EACCES:
            raise StartupError(
                f"{port_variable}={port}: this user may not listen on port {port} (below 1024 needs "
                f"privileges); use a port from 1024 up"
            ) from None
        raise StartupError(
            f"{host_variable}={host!r}: cannot listen there ({err.strerror or err}); use an address of this "
            "host, e.g. 127.0.0.1"
        ) from None
    sock.listen(2048)  # uvicorn's backlog: a connection made before the server accepts waits, never refused
    return sock
