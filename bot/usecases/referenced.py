"""Credentials an integration keeps in HashiCorp Vault (a stored `vault:<mount>/<path>#<key>` reference,
`bot/secrets.py`): read once, kept in memory, read again after a 401 (the secret may have been rotated).

Never stores, logs or echoes the secret; the reference itself is not secret.
"""

from __future__ import annotations

import asyncio

from bot.settings import Settings, SettingsError
from bot.usecases.errors import InvalidInput, NotConfigured


class ReferencedSecrets:
    """Integration id -> (its Vault reference, the secret last read there)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._known: dict[int, tuple[str, str]] = {}

    async def read(self, reference: str, *, field: str | None = None) -> str:
        """The reference's secret, off the event loop (hvac blocks); `InvalidInput` on `field` (a person
        typed the reference) or `NotConfigured`, saying what to do, when Vault cannot answer."""
        try:
            return await asyncio.to_thread(self.settings.read_reference, reference)
        except SettingsError as err:
            if field is not None:
                raise InvalidInput(str(err), field=field) from None
            raise NotConfigured(str(err)) from None

    async def get(self, integration_id: int, reference: str) -> str:
        known = self._known.get(integration_id)
        if known is not None and known[0] == reference:
            return known[1]
        secret = await self.read(reference)
        self._known[integration_id] = (reference, secret)
        return secret

    def remember(self, integration_id: int, reference: str | None, secret: str) -> None:
        """What `connect` just read (or forget it: the integration is stored encrypted now)."""
        self._known.pop(integration_id, None)
        if reference is not None:
            self._known[integration_id] = (reference, secret)

    async def reread(self, integration_id: int) -> bool:
        """Read Vault again (after a 401); True when the secret changed. False when the integration has
        no reference, or it has not been read yet."""
        known = self._known.get(integration_id)
        if known is None:
            return False
        reference, before = known
        after = await self.read(reference)
        self._known[integration_id] = (reference, after)
        return after != before
