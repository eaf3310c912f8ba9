"""The `snowbot` command line: run, demo, sync, emulate, secret-key.

Sub-commands import their modules lazily so `snowbot --help` stays fast and a missing optional part
gives a clear message instead of an import error. An operator's mistake (a bad setting or option, a port
in use) is one line on stderr naming the variable or option, what is wrong and the fix; the exit code is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse with its refusals on one line (`snowbot emulate: --port: ...; see --help`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """An `--port` value: 1-65535, or 0 for a free port the emulator then prints."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number: give 1 to 65535 (0: a free port)"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range: give 1 to 65535 (0: a free port)")
    return port


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


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="snowbot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser(
        "run",
        help="serve the REST API, the Slack endpoint and the sync scheduler",
        description="Serve the REST API, the Slack endpoint and the sync scheduler on SNOWBOT_HOST:SNOWBOT_PORT.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    demo = sub.add_parser("demo", help="play the whole story against local emulators")
    demo.add_argument(
        "--keep-running", action="store_true", help="stay up after the story and print the URLs"
    )
    demo.add_argument("--debug", action="store_true", help="print the traceback when a step fails")

    sync = sub.add_parser("sync", help="push anomaly changes to ServiceNow")
    sync.add_argument("--once", action="store_true", help="run one pass and print what it did")
    sync.add_argument(
        "--requeue",
        action="store_true",
        help="make every failed note pending again (after fixing permissions), print how many; with "
        "--once, then run a pass",
    )

    emulate = sub.add_parser("emulate", help="run a local emulator on a loopback port")
    emulate.add_argument("service", choices=["servicenow", "qualytics", "slack"])
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument(
        "--port", type=port_number, default=None, help="default 8081, 8082, 8083; 0 picks a free port"
    )
    emulate.add_argument(
        "--user",
        action="append",
        default=None,
        metavar="NAME:PASSWORD[:ROLE,ROLE]",
        help="ServiceNow user (repeatable; default admin:admin:admin,itil)",
    )
    emulate.add_argument(
        "--token",
        default=None,
        help="the bearer token the Qualytics emulator accepts (default: its JWT-shaped demo token, printed at "
        "start), or the bot token the Slack emulator accepts (default xoxb-emulator-token)",
    )
    emulate.add_argument(
        "--property",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="ServiceNow system property (repeatable), e.g. glide.invalid_query.returns_no_rows=true",
    )

    sub.add_parser("secret-key", help="print a new random SNOWBOT_SECRET_KEY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot.settings import SettingsError
    from bot.startup import StartupError

    try:
        return _dispatch(args)
    except (SettingsError, StartupError) as err:
        for line in str(err).splitlines():
            print(f"snowbot {args.command}: {line}", file=sys.stderr)
        return USAGE_ERROR


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "secret-key":
        from storage import SecretBox

        print(SecretBox.generate_key())
        return 0
    if args.command == "emulate":
        from emulators.cli import run_emulator

        return run_emulator(args)
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(keep_running=args.keep_running, debug=args.debug))
    if args.command == "sync":
        return _sync(once=args.once or not args.requeue, requeue=args.requeue)
    if args.command == "run":
        return _run()
    return USAGE_ERROR


def _sync(*, once: bool, requeue: bool) -> int:
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


def _run() -> int:
    from bot.app import serve
    from bot.settings import load_settings
    from bot.startup import StartupError
    from bot.usecases import UseCaseError

    settings = load_settings()
    try:
        return serve(settings)
    except UseCaseError as err:  # raised while building the app, before it serves
        raise StartupError(err.message) from None


if __name__ == "__main__":
    sys.exit(main())
