"""`--name value` options of the `/snow` subcommands (`/snow create 824 --instance dev-b`): split from the
words before the subcommand reads them. Pure; a subcommand names the options it takes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.usecases import InvalidInput


def split_flags(args: Sequence[str], known: Collection[str]) -> tuple[list[str], dict[str, str]]:
    """(the other words, {option: value}) from `--option value` or `--option=value` among `args`;
    `InvalidInput` for an option not in `known` or one without a value. The last of a repeated one wins."""
    words: list[str] = []
    flags: dict[str, str] = {}
    pending: str | None = None
    for arg in args:
        if pending is not None:
            flags[pending], pending = arg, None
            continue
        if not arg.startswith("--"):
            words.append(arg)
            continue
        name, sep, value = arg[2:].partition("=")
        name = name.lower()
        if name not in known:
            offered = ", ".join(f"--{k}" for k in sorted(known)) or "none"
            raise InvalidInput(f"I don't know the option `--{name[:30]}` (options here: {offered}).")
        if sep:
            flags[name] = value
        else:
            pending = name
    if pending is not None or any(not value.strip() for value in flags.values()):
        missing = pending or next(k for k, v in flags.items() if not v.strip())
        raise InvalidInput(f"`--{missing}` needs a value, e.g. `--{missing} <name>`.")
    return words, flags
