"""The layering the packages keep: the bot (`bot/`) and the domain packages (`servicenow/`, `storage/`,
`qualytics/`) never import the dev packages (the emulators, the demo, the simulated Slack user) nor the
console script that routes to them. Read from the source with `ast`, so a deferred import inside a
function counts too, and so does `importlib.import_module("emulators...")`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "servicenow", "storage", "qualytics_api", "retrypolicy")
DEV = ("emulators", "demo", "slackuser", "snowbot")


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in `tree`, wherever it sits."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and _dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _dynamic_import(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("import_module", "__import__")


def forbidden(source: str) -> list[tuple[int, str]]:
    return [(line, module) for line, module in imported(ast.parse(source)) if module.split(".")[0] in DEV]


def product_files() -> list[Path]:
    return sorted(path for package in PRODUCT for path in (ROOT / package).rglob("*.py"))


def test_the_scan_sees_every_kind_of_import() -> None:
    source = """
import emulators.slack
from demo import run_demo
from bot.settings import Settings
def later():
    from slackuser import SlackUser
    import importlib
    importlib.import_module("emulators.qualytics")
    __import__("snowbot.cli")
"""
    assert forbidden(source) == [
        (2, "emulators.slack"),
        (3, "demo"),
        (6, "slackuser"),
        (8, "emulators.qualytics"),
        (9, "snowbot.cli"),
    ]


def test_there_is_product_code_to_scan() -> None:
    files = {path.relative_to(ROOT).parts[0] for path in product_files()}
    assert {"bot", "servicenow", "storage"} <= files


@pytest.mark.parametrize("path", product_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_product_code_never_imports_the_dev_packages(path: Path) -> None:
    found = forbidden(path.read_text())
    assert not found, f"{path.relative_to(ROOT)} imports {', '.join(f'{m} (line {n})' for n, m in found)}"
