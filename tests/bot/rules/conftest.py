"""Shared by the creation rules' tests: a bot over the emulators whose rule hooks record what they were
told, a rule, and new anomalies added to the Qualytics emulator as a scan would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from bot.usecases import Snowbot
from bot.usecases.autocreate import RuleHooks
from bot.usecases.rules import RuleSpec
from emulators.qualytics import QualyticsEmulator
from storage.links import Link
from storage.rules import Rule
from tests.backends import database_target

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass
class Told:
    """What the rule hooks heard (Slack's notifier stands there in production)."""

    created: list[Link] = field(default_factory=list)
    recurred: list[tuple[Link, Link]] = field(default_factory=list)
    paused: list[Rule] = field(default_factory=list)

    def hooks(self) -> RuleHooks:
        async def created(link: Link, kind: str) -> str | None:
            self.created.append(link)
            return f"1700000000.{len(self.created):06d}"

        async def recurred(earlier: Link, link: Link) -> None:
            self.recurred.append((earlier, link))

        async def paused(rule: Rule) -> None:
            self.paused.append(rule)

        return RuleHooks(ticket_created=created, recurred=recurred, paused=paused)


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def bot(make_snowbot: Callable[..., Snowbot], settings: Settings, told: Told) -> Snowbot:
    made = make_snowbot(settings, rule_hooks=told.hooks())
    made.clock = lambda: NOW
    return made


def new_anomaly(
    q: QualyticsEmulator,
    anomaly_id: int,
    *,
    created: datetime = NOW,
    check_id: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A new anomaly in datastore 23 / container 231 (a scan found it at `created`)."""
    check: dict[str, Any] = {"rule_type": "between", "fields": ["max_value"], "description": "Max in range"}
    if check_id is not None:
        check["id"] = check_id
    return q.add_anomaly(
        {
            "id": anomaly_id,
            "created": created.isoformat(),
            "type": "record",
            "status": "Active",
            "datastore": 23,
            "container": 231,
            "weight": 60,
            "failed_checks": [{"message": f"max_value out of range ({anomaly_id})", "quality_check": check}],
            **data,
        }
    )


def spec(**overrides: Any) -> RuleSpec:
    values: dict[str, Any] = {
        "name": "Sales warehouse, severe",
        "match": {"datastore": 23, "min_weight": 40},
        "template": {
            "short_description": "{rule_type} anomaly {id} in {container}",
            "description": "Found by rule: {message}",
            "urgency": "2",
        },
        "channel_id": "C0RULES",
        **overrides,
    }
    return RuleSpec(**values)


def later(days: float) -> datetime:
    return NOW + timedelta(days=days)


@pytest.fixture
def settings_overrides(
    settings_overrides: dict[str, object], backend: str, tmp_path: Path
) -> Iterator[dict[str, object]]:
    """The rules' suite runs on both backends (tests/backends.py): their storage is new SQL on each."""
    with database_target(backend, tmp_path, "rules.db") as target:
        if backend == "sqlite":
            yield {**settings_overrides, "db_path": target}
        else:
            yield {**settings_overrides, "database_url": str(target)}
