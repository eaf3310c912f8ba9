"""The `snowbot` command line: run, demo, sync, emulate.

Sub-commands import their modules lazily so `snowbot --help` stays fast and a missing optional part
gives a clear message instead of an import error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snowbot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="serve the REST API, the Slack endpoint and the sync scheduler")

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
    emulate.add_argument("--port", type=int, default=None)
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
        help="Qualytics bearer token (default: the emulator's JWT-shaped demo token, printed at start)",
    )
    emulate.add_argument(
        "--property",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="ServiceNow system property (repeatable), e.g. glide.invalid_query.returns_no_rows=true",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "emulate":
        from emulators.cli import run_emulator

        return run_emulator(args)
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(keep_running=args.keep_running, debug=args.debug))
    if args.command == "sync":
        from bot.sync.cli import run_sync

        return asyncio.run(run_sync(once=args.once or not args.requeue, requeue=args.requeue))
    if args.command == "run":
        from bot.app import serve

        return serve()
    return 2


if __name__ == "__main__":
    sys.exit(main())
