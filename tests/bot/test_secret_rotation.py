"""A ServiceNow password kept in Vault and rotated while snowbot runs: the 401 reads it again
(`Connections.reread` -> `Settings.refresh_secret`), the client is rebuilt with the new one, and a 401 that
Vault cannot explain stays an error after exactly one more read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from bot.usecases import Snowbot
from bot.usecases.errors import UseCaseError
from emulators.serve import serve_in_thread
from emulators.servicenow import ServiceNowEmulator
from emulators.vault import VaultEmulator
from tests.bot.processes import PREFIXES

ROOT = "vault-root-token-for-tests"
REFERENCE = "vault:secret/snowbot/servicenow#credentials"


@pytest.fixture
def vault() -> VaultEmulator:
    emulator = VaultEmulator(token=ROOT)
    emulator.put("secret", "snowbot/servicenow", {"credentials": "admin:admin"})
    return emulator


@pytest.fixture
def vault_settings(
    vault: VaultEmulator,
    settings_overrides: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Settings]:
    import os

    monkeypatch.chdir(tmp_path)  # no .env
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    with serve_in_thread(vault.app) as addr:
        yield load_settings(
            **{
                **settings_overrides,
                "servicenow_credentials": REFERENCE,
                "vault_addr": addr,
                "vault_token": ROOT,
            }
        )


async def test_a_password_rotated_in_vault_while_running_is_read_again_on_401(
    make_snowbot: Callable[..., Snowbot],
    vault_settings: Settings,
    vault: VaultEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    bot = make_snowbot(vault_settings)
    assert (await bot.connections.check_connection()).status == "Connected"
    reads = vault.reads

    sn_emulator.add_user("admin", "rotated-password", ("admin", "itil"))  # the operator rotates it ...
    vault.put("secret", "snowbot/servicenow", {"credentials": "admin:rotated-password"})  # ... and Vault's

    integration = await bot.connections.check_connection()
    assert integration.status == "Connected"
    assert vault.reads == reads + 1
    assert vault_settings.servicenow_credentials_value == "admin:rotated-password"


async def test_a_401_vault_cannot_explain_is_an_error_after_one_more_read(
    make_snowbot: Callable[..., Snowbot],
    vault_settings: Settings,
    vault: VaultEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    bot = make_snowbot(vault_settings)
    sn_emulator.add_user("admin", "changed-but-not-in-vault", ("admin", "itil"))
    reads = vault.reads
    with pytest.raises(UseCaseError, match="refused the credentials") as caught:
        await bot.connections.check_connection()
    assert vault.reads == reads + 1
    assert "admin:admin" not in str(caught.value)
    integration = await bot.connections.integration()
    assert integration.status == "Error"
