"""The sync: Qualytics anomaly status changes and comments -> ServiceNow work notes, exactly once.

- `bot.sync.engine`: `SyncEngine` (`run_pass`, `sync_anomalies`), `PassReport`, the `Notifier` protocol.
- `bot.sync.notes`: the work-note and resolution texts.
- `bot.sync.scheduler`: the APScheduler job inside `snowbot run`.
- `bot.sync.webhook`: `POST /webhooks/qualytics` (Qualytics Flow notifications).
- `bot.sync.wiring`: the engine (`build_engine`, also for the CLI) and its extension, for `bot.composition`.
- `bot.sync.cli`: `snowbot sync --once` (one pass) and `snowbot sync --requeue` (failed notes back to pending).
"""

from bot.sync.engine import Notifier, PassReport, SyncConfig, SyncEngine

__all__ = ["Notifier", "PassReport", "SyncConfig", "SyncEngine"]
