"""`snowbot emulate servicenow|qualytics|slack|vault`: serve one emulator on a local port with uvicorn.

The port is bound before anything is served (a port in use is one line naming `--port`; `--port 0` picks
a free one and the banner names it). The banner says who may log in; the Qualytics and Slack tokens are
printed, since they are the emulator's own throwaway credentials that `snowbot run` must be given. A
non-loopback `--host` with a well-known default credential is warned about loudly.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from emulators.qualytics import DEMO_TOKEN

DEFAULT_PORTS = {"servicenow": 8081, "qualytics": 8082, "slack": 8083, "vault": 8200}  # 8200: Vault's own
DEFAULT_TOKENS = {"qualytics": DEMO_TOKEN, "slack": "xoxb-emulator-token", "vault": "root"}  # noqa: S105


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


def parse_approle(spec: str) -> tuple[str, str]:
    """`ROLE_ID:SECRET_ID` -> an AppRole the Vault emulator accepts."""
    role_id, _, secret_id = spec.partition(":")
    if not role_id or not secret_id:
        raise ValueError(f"--approle wants ROLE_ID:SECRET_ID, got {role_id!r}:…")
    return role_id, secret_id


def parse_secret(spec: str) -> tuple[str, str, str, str]:
    """`mount/path#key=value` -> (mount, path, key, value): one key of a KV v2 secret in the Vault emulator."""
    location, _, rest = spec.partition("#")
    key, equals, value = rest.partition("=")
    mount, _, path = location.strip("/").partition("/")
    if not mount or not path or not key or not equals:
        raise ValueError(f"--secret wants MOUNT/PATH#KEY=VALUE, got {location!r}#…")
    return mount, path.strip("/"), key, value


def check_options(args: argparse.Namespace) -> None:
    """Refuse options that would be silently ignored or silently replaced (ValueError, one line)."""
    if args.token is not None:
        if args.service == "servicenow":
            raise ValueError(
                "--token is for qualytics, slack and vault; ServiceNow logs in with --user NAME:PASSWORD"
            )
        if not args.token.strip():
            default = DEFAULT_TOKENS[args.service]
            raise ValueError(f"--token is empty: give a token, or leave --token out to use {default}")
    if args.user and args.service != "servicenow":
        raise ValueError(f"--user is for servicenow; the {args.service} emulator takes --token")
    for option in ("approle", "secret"):
        if getattr(args, option, None) and args.service != "vault":
            raise ValueError(f"--{option} is for vault")
    for spec in getattr(args, "approle", None) or ():
        parse_approle(spec)
    for spec in getattr(args, "secret", None) or ():
        parse_secret(spec)
    oauth = getattr(args, "oauth_client", None)
    if (oauth or getattr(args, "oauth_client_credentials", False)) and args.service != "servicenow":
        raise ValueError("--oauth-client and --oauth-client-credentials are for servicenow")
    if getattr(args, "oauth_client_credentials", False) and not oauth:
        raise ValueError("--oauth-client-credentials needs an --oauth-client ID:SECRET to log in with")
    lifetime = getattr(args, "token_lifetime", None)
    if lifetime is not None and lifetime < 1:
        raise ValueError(f"--token-lifetime must be at least 1 second, got {lifetime}")
    for spec in oauth or ():
        from emulators.servicenow_oauth import parse_client

        parse_client(spec)


def well_known_default(args: argparse.Namespace) -> str | None:
    """The default credential in use, when one is (`admin:admin`, `demo-token`, ...)."""
    if args.service == "servicenow":
        return None if args.user else "admin:admin"
    return DEFAULT_TOKENS[args.service] if args.token is None else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_emulator(args: argparse.Namespace, base_url: str) -> tuple[Any, str]:
    """The emulator for `args.service` and a one-line description of who may log in (no password)."""
    if args.service == "servicenow":
        from emulators.servicenow import ServiceNowEmulator

        users = [parse_user(spec) for spec in args.user] if args.user else None
        properties = dict(parse_property(spec) for spec in getattr(args, "property", None) or ())
        from emulators.servicenow_oauth import (
            CLIENT_CREDENTIALS_PROPERTY,
            DEFAULT_TOKEN_LIFETIME,
            parse_client,
        )

        clients = [parse_client(spec) for spec in getattr(args, "oauth_client", None) or ()]
        if getattr(args, "oauth_client_credentials", False):
            properties[CLIENT_CREDENTIALS_PROPERTY] = "true"
        lifetime = getattr(args, "token_lifetime", None) or DEFAULT_TOKEN_LIFETIME
        emulator = ServiceNowEmulator(
            base_url=base_url,
            users=users,
            properties=properties,
            oauth_clients=clients,
            token_lifetime=lifetime,
        )
        who = (
            "user admin (the well-known default admin:admin)"
            if users is None
            else "users " + ", ".join(name for name, _, _ in users)
        )
        if clients:
            grants = "password, refresh_token" + (
                ", client_credentials" if args.oauth_client_credentials else ""
            )
            who += (
                f"; OAuth clients {', '.join(c.client_id for c in clients)} at {base_url}/oauth_token.do "
                f"({grants}; tokens last {lifetime} s)"
            )
        return emulator, who
    token = args.token if args.token is not None else DEFAULT_TOKENS[args.service]
    given = "from --token" if args.token is not None else "the default"
    if args.service == "qualytics":
        from emulators.qualytics import QualyticsEmulator

        return QualyticsEmulator(base_url=base_url, token=token), f"bearer token {token} ({given})"
    if args.service == "vault":
        from emulators.vault import VaultEmulator

        vault = VaultEmulator(token=token, approles=dict(parse_approle(s) for s in args.approle or ()))
        for mount, path, key, value in (parse_secret(spec) for spec in args.secret or ()):
            vault.put(mount, path, {**vault.latest(mount, path), key: value})
        roles = f", AppRole role ids {', '.join(vault.approles)}" if vault.approles else ""
        return vault, f"VAULT_ADDR={base_url}, token {token} ({given}){roles}"
    if args.service == "slack":
        from emulators.slack import SlackEmulator

        return SlackEmulator(bot_token=token), f"Web API at {base_url}/api/, bot token {token} ({given})"
    raise ValueError(f"unknown service {args.service!r}")


def run_emulator(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.startup import listen

    try:
        check_options(args)
        for spec in args.user or ():
            parse_user(spec)
    except ValueError as error:
        print(f"snowbot emulate: {error}", file=sys.stderr)
        return 2
    port = DEFAULT_PORTS[args.service] if args.port is None else args.port
    sock = listen(args.host, port, host_variable="--host", port_variable="--port")  # StartupError: exit 2
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host}:{port}"
    emulator, who = build_emulator(args, base_url)
    default = well_known_default(args)
    if default and not is_loopback(args.host):
        print(
            f"WARNING: the {args.service} emulator listens on {args.host}, beyond this machine, and accepts the "
            f"well-known {default}: anyone who can reach port {port} can use it. Use --host 127.0.0.1, or "
            f"{'--user NAME:PASSWORD' if args.service == 'servicenow' else '--token <a secret>'}.",
            file=sys.stderr,
            flush=True,
        )
    print(f"{args.service} emulator on {base_url} ({who}); Ctrl+C stops it", flush=True)
    from emulators.serve import MAX_HEAD

    config = uvicorn.Config(
        emulator.app,
        host=args.host,
        port=port,
        log_level="warning",
        lifespan="off",
        h11_max_incomplete_event_size=MAX_HEAD,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0
