"""The composition root's promises, checked on the source: no import cycle among snowbot's packages (not
even one dodged by an import inside a function), no hook or notifier plugged into a built part at run
time, and the use cases' modules and classes small enough to read."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.composition import Outside, compose
from bot.settings import Settings
from servicenow.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "servicenow", "storage")
HOOKS = {"anomaly_changed", "announcer", "notifier"}
"""What the surfaces used to set on the use cases and the engine once they were running."""


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, known: dict[str, Path], *, deferred: bool) -> Iterator[str]:
    """The snowbot modules `path` imports at module level (or, `deferred`, inside functions)."""
    tree = ast.parse(path.read_text())
    top = [n for n in tree.body if not _type_checking(n)]
    nodes = (
        [
            n
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)
        ]
        if deferred
        else [
            n for statement in top for n in ast.walk(statement) if not isinstance(statement, ast.FunctionDef)
        ]
    )
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from bot.slack import blocks` is the module bot.slack.blocks
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in known else node.module


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for other in sorted(graph.get(name, ())):
            if state.get(other) == 1:
                return [*stack[stack.index(other) :], other]
            if other not in state and (found := visit(other)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def graph(*, with_deferred: bool) -> dict[str, set[str]]:
    known = modules()
    edges = {name: set(imports(path, known, deferred=False)) for name, path in known.items()}
    if with_deferred:
        for name, path in known.items():
            edges[name] |= set(imports(path, known, deferred=True))
    return {name: {o for o in targets if o in known and o != name} for name, targets in edges.items()}


def test_no_import_cycle_among_the_packages() -> None:
    assert cycle(graph(with_deferred=False)) is None


def test_no_import_inside_a_function_hides_a_cycle() -> None:
    assert cycle(graph(with_deferred=True)) is None


def test_nothing_plugs_a_hook_into_a_built_part() -> None:
    """`snowbot.anomaly_changed = ...`, `engine.notifier = ...`: given when the part is built instead."""
    plugged = []
    for name, path in modules().items():
        if name == "bot.demo":  # leaving bot/ (issue 11, rl-demo); it only keeps its own handle on the engine
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and target.attr in HOOKS | {"sync_engine"}
                        and not (isinstance(target.value, ast.Name) and target.value.id == "self")
                    ):
                        plugged.append(f"{name}:{node.lineno} {ast.unparse(target)}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in {"getattr", "setattr"}:
                if any(isinstance(a, ast.Constant) and a.value == "sync_engine" for a in node.args):
                    plugged.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert plugged == []


@pytest.mark.parametrize("path", sorted((ROOT / "bot" / "usecases").glob("*.py")), ids=lambda p: p.name)
def test_use_case_modules_and_classes_stay_small(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert len(path.read_text().splitlines()) <= 600
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None and node.end_lineno - node.lineno < 250, node.name


def test_links_and_the_rest_api_read_incident_facts_from_the_ticket_kind() -> None:
    from bot import models
    from servicenow.kinds import INCIDENT

    assert models.STATE_LABELS == dict(INCIDENT.states)
    assert models.state_label("7") == INCIDENT.state_label("7") == "Closed"
    assert models.TICKET_ID_PATTERN == (
        r"^([0-9a-fA-F]{32}|[Ii][Nn][Cc][0-9]{7,12}|[Pp][Rr][Bb][0-9]{7,12}|[Dd][Ff][Cc][Tt][0-9]{7,12}"
        r"|[Ee][Nn][Hh][Cc][0-9]{7,12})$"
    )


async def test_the_engine_takes_its_clients_from_the_connections(
    make_settings: Callable[..., Settings], outside: Outside
) -> None:
    """No detour through the facade: the engine's client getter is the connections' own, and a missing
    integration is a `ConfigurationError` the engine retries later (the operator can fix it)."""
    process = compose(make_settings(), outside=outside)
    try:
        engine, connections = process.engine, process.snowbot.connections
        assert engine is not None and engine.servicenow == connections.sync_client
        [env] = await connections.list_integrations()
        assert await engine.servicenow(env.id) is await connections.servicenow_client(env.id)
        with pytest.raises(ConfigurationError, match="ServiceNow is not connected"):
            await engine.servicenow(env.id + 1)
    finally:
        await process.aclose()
