"""`make bench`: run every benchmark, print its figures and write them to .bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import sys

SUITES = [
    "bench_client",
    "bench_slack_ack",
    "bench_sync",
    "bench_adaptive",
    "bench_syncback",
    "bench_body_limit",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "suites", nargs="*", default=SUITES, help=f"which to run (default: {' '.join(SUITES)})"
    )
    args = parser.parse_args(argv)
    for name in args.suites:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benchmarks.{name}":
                print(f"[{name}] not present, skipped")
                continue
            raise
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
