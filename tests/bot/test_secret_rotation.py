"""A ServiceNow password kept in Vault and rotated while snowbot runs: the 401 reads it again
(`Connections.reread` -> `Settings.refresh_secret`), the client is rebuilt with the new one, and a 401 that
Vault cannot explain stays an error after exactly one more read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.usecases import Snowbot
from bot.usecases.errors import UseCaseError
from emulators.servicenow import ServiceNowEmulator
from emulators.vault import VaultEmulator
from tests.bot.vaulted import REFERENCE, ROOT, settings_with_vault


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
    overrides = {**settings_overrides, "servicenow_credentials": REFERENCE, "vault_token": ROOT}
    with settings_with_vault(vault, monkeypatch, tmp_path, **overrides) as settings:
        yield settings


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


async def test_a_sync_pass_that_meets_a_rotated_password_reads_it_again_and_the_retry_delivers(
    make_snowbot: Callable[..., Snowbot],
    vault_settings: Settings,
    vault: VaultEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    from datetime import timedelta

    from bot.sync.wiring import build_engine

    bot = make_snowbot(vault_settings)
    made = sn_emulator.add_incident(short_description="Orders load")
    await bot.link_existing_ticket(824, made["sys_id"], "jane.doe")
    engine = build_engine(vault_settings, bot)
    await engine.run_pass()  # the link's baseline
    await bot.acknowledge_anomaly(824, "jane.doe")

    sn_emulator.add_user("admin", "rotated-password", ("admin", "itil"))  # rotated on the instance ...
    vault.put("secret", "snowbot/servicenow", {"credentials": "admin:rotated-password"})  # ... and in Vault
    reads = vault.reads
    first = await engine.sync_anomalies([824])  # what the acknowledge's hook runs (the pass just read it)
    assert first.retried == 1 and first.notes_sent == 0  # the 401: nothing written, Vault read again
    assert vault.reads == reads + 1

    later = bot.clock() + timedelta(hours=1)
    engine.clock = lambda: later  # the row's retry is due
    second = await engine.run_pass()
    assert second.notes_sent == 1
    notes = [row["value"] for row in sn_emulator.journal(made["sys_id"])]
    assert sum("Qualytics Anomaly Status: Acknowledged" in note for note in notes) == 1
