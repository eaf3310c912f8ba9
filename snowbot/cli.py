"""The `snowbot` command line: run, demo, sync, doctor, db, emulate, secret-key.

Parses every command and routes it: run, sync, doctor, db and secret-key to `bot.cli`; demo to `demo`, emulate to
`emulators.cli` (dev packages `bot/` never imports). Sub-commands import their modules lazily so
`snowbot --help` stays fast and a missing optional part gives a clear message instead of an import
error. An operator's mistake (a bad setting or option, a port in use) is one line on stderr naming the
variable or option, what is wrong and the fix; the exit code is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import NoReturn

from bot import cli as bot_commands

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


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="snowbot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser(
        "run",
        help="serve the REST API, the Slack endpoint and the sync scheduler",
        description="Serve the REST API, the Slack endpoint and the sync scheduler on SNOWBOT_HOST:SNOWBOT_PORT.",
        epilog=bot_commands.settings_help(),
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

    doctor = sub.add_parser(
        "doctor",
        help="check every dependency (settings, database, ServiceNow, Qualytics, Slack); only reads",
        description="Check each dependency as a person would, one line per check (ok, or what to do). "
        "Exit 0 when every check holds, 1 otherwise. Never writes to ServiceNow or Qualytics.",
    )
    doctor.add_argument(
        "--json", action="store_true", help='print {"checks": [{"name", "ok", "detail", "fix"}]}'
    )

    db = sub.add_parser("db", help="the database: migrate it, or copy a SQLite one into PostgreSQL")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=Parser)
    db_sub.add_parser(
        "migrate",
        help="apply the migrations not yet applied to the configured database and print them",
        description="Apply every migration not yet applied to SNOWBOT_DATABASE_URL (else the SQLite file "
        "SNOWBOT_DB), each in one transaction, and print the ones applied now.",
    )
    db_copy = db_sub.add_parser(
        "copy",
        help="copy the SQLite database SNOWBOT_DB into an empty PostgreSQL database",
        description="Copy every table of the SQLite database SNOWBOT_DB, ids kept, into an empty PostgreSQL "
        "database (migrated first); refuses a target that holds rows. Secrets stay encrypted as stored: "
        "keep the same SNOWBOT_SECRET_KEY.",
    )
    db_copy.add_argument(
        "--to",
        metavar="postgresql://...",
        default=None,
        help="the target database (default: SNOWBOT_DATABASE_URL, which keeps its password out of the "
        "process list)",
    )

    emulate = sub.add_parser("emulate", help="run a local emulator on a loopback port")
    emulate.add_argument("service", choices=["servicenow", "qualytics", "slack", "vault"])
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument(
        "--port", type=port_number, default=None, help="default 8081, 8082, 8083, 8200; 0 picks a free port"
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
        "start), the bot token the Slack emulator accepts (default xoxb-emulator-token), or the Vault "
        "emulator's root token (default root)",
    )
    emulate.add_argument(
        "--approle",
        action="append",
        default=None,
        metavar="ROLE_ID:SECRET_ID",
        help="an AppRole the Vault emulator accepts (repeatable)",
    )
    emulate.add_argument(
        "--secret",
        action="append",
        default=None,
        metavar="MOUNT/PATH#KEY=VALUE",
        help="a KV v2 secret key in the Vault emulator (repeatable), e.g. secret/snowbot#credentials=admin:admin",
    )
    emulate.add_argument(
        "--property",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="ServiceNow system property (repeatable), e.g. glide.invalid_query.returns_no_rows=true",
    )
    emulate.add_argument(
        "--oauth-client",
        action="append",
        default=None,
        metavar="ID:SECRET[:USER]",
        help="ServiceNow OAuth application (repeatable): serves POST /oauth_token.do for it; USER is the "
        "client_credentials grant's OAuth Application User (default: the first --user)",
    )
    emulate.add_argument(
        "--oauth-client-credentials",
        action="store_true",
        help="allow the client_credentials grant (glide.oauth.inbound.client.credential.grant_type.enabled)",
    )
    emulate.add_argument(
        "--token-lifetime",
        type=int,
        default=None,
        metavar="S",
        help="seconds a ServiceNow access token lasts (default 1799, as an instance)",
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
        return bot_commands.secret_key()
    if args.command == "emulate":
        from emulators.cli import run_emulator

        return run_emulator(args)
    if args.command == "demo":
        from demo import run_demo

        return asyncio.run(run_demo(keep_running=args.keep_running, debug=args.debug))
    if args.command == "sync":
        return bot_commands.sync(once=args.once or not args.requeue, requeue=args.requeue)
    if args.command == "run":
        return bot_commands.run()
    if args.command == "doctor":
        return bot_commands.doctor(as_json=args.json)
    if args.command == "db":
        return bot_commands.db_migrate() if args.db_command == "migrate" else bot_commands.db_copy(to=args.to)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
