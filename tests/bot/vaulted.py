"""Settings read the way `snowbot run` reads them, with HashiCorp Vault (the emulator) served on loopback
and no snowbot variable leaking in from the environment or a `.env`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from emulators.serve import serve_in_thread
from emulators.vault import VaultEmulator
from tests.bot.processes import PREFIXES

ROOT = "vault-root-token-for-tests"
REFERENCE = "vault:secret/snowbot/servicenow#credentials"


@contextmanager
def settings_with_vault(
    vault: VaultEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **overrides: object
) -> Iterator[Settings]:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    with serve_in_thread(vault.app) as addr:
        yield load_settings(**overrides, vault_addr=addr)
