"""What comes back from ServiceNow for an integration (`storage.syncback` modes): setting it, checked.

`bot.sync.back` reads the mode during a sync pass; this module only sets it (the REST API's PATCH, the
connect modal through `Connections.connect`).
"""

from __future__ import annotations

import logging

from bot.usecases.base import Storage
from bot.usecases.errors import IntegrationNotFound, InvalidInput
from storage import integrations, syncback
from storage.integrations import Integration

log = logging.getLogger(__name__)


def check_mode(mode: str | None) -> None:
    """`InvalidInput` naming `sync_back` unless `mode` is None or one of the modes."""
    if mode is not None and mode not in syncback.MODES:
        raise InvalidInput(f"sync_back must be one of {', '.join(syncback.MODES)}", field="sync_back")


async def set_sync_back(
    storage: Storage, *, integration_id: int, mode: str, actor: str | None
) -> Integration:
    """Set the integration's mode; `IntegrationNotFound` for an unknown integration."""
    check_mode(mode)
    if not await storage.run(syncback.set_mode, integration_id, mode):
        raise IntegrationNotFound(integration_id)
    log.info("integration %s: sync_back set to %s by %s", integration_id, mode, actor or "someone")
    found = await storage.run(integrations.get, integration_id)
    if found is None:
        raise IntegrationNotFound(integration_id)
    return found
