"""The install and lint habits: `make test` installs exactly the lock, the lock satisfies pyproject.toml,
and `make lint` runs mypy beside ruff. Read from the files and from `make -n` (which runs nothing)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", flags=re.MULTILINE)


def pins() -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(LOCK.read_text())}


def wanted() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(line) for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]
    ]


def dry_run(*targets: str) -> str:
    """The commands `make` would run for `targets` (-B: as on a fresh machine), none of them run."""
    done = subprocess.run(
        ["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


def test_every_dependency_of_pyproject_is_pinned_in_the_lock_within_its_range() -> None:
    locked = pins()
    assert locked, f"{LOCK.name} pins nothing"
    unmet = {}
    for requirement in wanted():
        version = locked.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            unmet[str(requirement)] = version
    assert not unmet, f"{LOCK.name} is stale (run `make lock`): {unmet}"


def test_every_pin_in_the_lock_carries_a_hash() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 2)[2])
    unhashed = [block.split()[0] for block in blocks if PIN.match(block) and "--hash=sha256:" not in block]
    assert not unhashed


def test_make_test_installs_the_lock_with_its_hashes_and_then_only_the_project() -> None:
    commands = dry_run(".venv/.installed")
    assert "--require-hashes -r requirements.lock" in commands
    assert "--no-deps -e ." in commands
    assert "pip install --quiet -e" not in commands  # no second resolution from pyproject.toml's ranges


def test_make_lint_runs_ruff_and_mypy() -> None:
    commands = dry_run("lint").splitlines()
    assert ".venv/bin/ruff check ." in commands
    assert ".venv/bin/mypy" in commands
