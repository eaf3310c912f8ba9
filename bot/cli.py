"""The bot's own commands behind the `snowbot` console script: `run`, `sync`, `doctor`, `secret-key`, and the settings
table `snowbot run --help` shows.

The console script (`snowbot/cli.py`, outside `bot/`) parses the command line and routes here; the dev
commands (`demo`, `emulate`) it routes to their own packages, so nothing here imports them. Each command
imports its modules lazily so `snowbot --help` stays fast. A setting the use cases refuse while starting
is raised as a `StartupError`, which the console script prints as one line (exit 2).
"""

from __future__ import annotations

import asyncio
import textwrap


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
    try:
        return asyncio.run(run_sync(settings, once=once, requeue=requeue))
    except UseCaseError as err:  # a setting the use cases refuse while starting (e.g. QUALYTICS_URL)
        raise StartupError(err.message) from None


def run() -> int:
    """`snowbot run`: serve the REST API, the Slack endpoint and the sync scheduler."""
    from bot.app import serve
    from bot.settings import load_settings
    from bot.startup import StartupError
    from bot.usecases import UseCaseError

    settings = load_settings()
    try:
        return serve(settings)
    except UseCaseError as err:  # raised while building the app, before it serves
        raise StartupError(err.message) from None


def doctor(*, as_json: bool) -> int:
    """`snowbot doctor`: one line per check (or `--json`); 0 when every check holds, 1 otherwise."""
    import json

    from bot.doctor import run_doctor
    from bot.logs import configure_logging
    from bot.settings import load_settings

    settings = load_settings()
    configure_logging(level="ERROR", fmt=settings.log_format)  # the report is the output, not the log
    report = asyncio.run(run_doctor(settings))
    print(json.dumps(report.as_dict(), indent=2) if as_json else report.text())
    return 0 if report.ok else 1
