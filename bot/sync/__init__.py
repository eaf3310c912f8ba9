"""The sync: Qualytics anomaly status changes and comments -> ServiceNow work notes, exactly once.

- `bot.sync.engine`: `SyncEngine` (`run_pass`, `sync_anomalies`): one pass, its steps in order.
- `bot.sync.detect`, `push`, `refresh`, `watch`: the steps (`native_links`, `close_codes`: what the detect
  and push steps remember across passes).
- `bot.sync.context`: `SyncConfig`, the `Notifier` and client protocols, a pass's `Context` and `Run`.
- `bot.sync.report`: `PassReport`, what a pass did.
- `bot.sync.notes`: the work-note and resolution texts.
- `bot.sync.scheduler`: the APScheduler job inside `snowbot run`.
- `bot.sync.webhook`: `POST /webhooks/qualytics` (Qualytics Flow notifications).
- `bot.sync.wiring`: the engine (`build_engine`, also for the CLI) and its extension, for `bot.composition`.
- `bot.sync.cli`: `snowbot sync --once` (one pass) and `snowbot sync --requeue` (failed notes back to pending).
"""

from bot.sync.context import Notifier, SyncConfig
from bot.sync.engine import SyncEngine
from bot.sync.report import PassReport

__all__ = ["Notifier", "PassReport", "SyncConfig", "SyncEngine"]
