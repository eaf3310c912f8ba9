"""`snowbot emulate servicenow|qualytics|slack`: serve one emulator on a local port with uvicorn."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_PORTS = {"servicenow": 8081, "qualytics": 8082, "slack": 8083}


def parse_user(spec: str) -> tuple[str, str, tuple[str, ...]]:
    """`NAME:PASSWORD[:ROLE,ROLE]` -> (name, password, roles); roles default to `itil`.

    The password cannot contain `:` here (the emulator's users are throwaway test accounts).
    """
    name, _, rest = spec.partition(":")
    password, _, roles = rest.partition(":")
    if not name or not password:
        raise ValueError(f"--user wants NAME:PASSWORD[:ROLE,ROLE], got {spec.split(':')[0]!r}:…")
    return name, password, tuple(r.strip() for r in roles.split(",") if r.strip()) or ("itil",)


def parse_property(spec: str) -> tuple[str, str]:
    """`NAME=VALUE` -> a ServiceNow system property, e.g. `glide.invalid_query.returns_no_rows=true`."""
    name, equals, value = spec.partition("=")
    if not name.strip() or not equals:
        raise ValueError(f"--property wants NAME=VALUE, got {spec!r}")
    return name.strip(), value.strip()


def build_emulator(args: argparse.Namespace, base_url: str) -> tuple[Any, str]:
    """The emulator for `args.service` and a one-line description of who may log in (no secrets)."""
    if args.service == "servicenow":
        from emulators.servicenow import ServiceNowEmulator

        users = [parse_user(spec) for spec in args.user] if args.user else None
        properties = dict(parse_property(spec) for spec in getattr(args, "property", None) or ())
        emulator = ServiceNowEmulator(base_url=base_url, users=users, properties=properties)
        if users is None:
            return emulator, "user admin (the well-known default admin:admin)"
        return emulator, "users " + ", ".join(name for name, _, _ in users)
    if args.service == "qualytics":
        from emulators.qualytics import DEMO_TOKEN, QualyticsEmulator

        emulator = QualyticsEmulator(base_url=base_url, token=args.token or DEMO_TOKEN)
        return emulator, "token from --token" if args.token else f"token {DEMO_TOKEN} (the default)"
    if args.service == "slack":
        from emulators.slack import SlackEmulator

        return SlackEmulator(), f"Web API at {base_url}/api/"
    raise ValueError(f"unknown service {args.service!r}")


def run_emulator(args: argparse.Namespace) -> int:
    import uvicorn

    port = args.port or DEFAULT_PORTS[args.service]
    base_url = f"http://{args.host}:{port}"
    try:
        emulator, who = build_emulator(args, base_url)
    except ValueError as error:
        print(f"snowbot emulate: {error}", file=sys.stderr)
        return 2
    print(f"{args.service} emulator on {base_url} ({who}); Ctrl+C stops it", flush=True)
    from emulators.serve import MAX_HEAD

    uvicorn.run(
        emulator.app,
        host=args.host,
        port=port,
        log_level="warning",
        lifespan="off",
        h11_max_incomplete_event_size=MAX_HEAD,
    )
    return 0
