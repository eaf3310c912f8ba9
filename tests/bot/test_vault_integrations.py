"""An integration connected through the API with a Vault reference for its credentials: the reference is
stored instead of an encrypted password (no SNOWBOT_SECRET_KEY needed), Vault is read once and again after
a 401 (a rotated password), and a reference Vault cannot answer is refused before anything is stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import build_app
from bot.settings import Settings
from bot.usecases import Snowbot
from emulators.servicenow import ServiceNowEmulator
from emulators.vault import VaultEmulator
from tests.bot.vaulted import REFERENCE, ROOT, settings_with_vault
from tests.conftest import API_TOKEN, INSTANCE_URL


@pytest.fixture
def vault() -> VaultEmulator:
    emulator = VaultEmulator(token=ROOT)
    emulator.put("secret", "snowbot/servicenow", {"credentials": "svc_vault:First-Secret-1"})
    return emulator


@pytest.fixture
def settings_from_vault(
    vault: VaultEmulator,
    settings_overrides: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Settings]:
    """No ServiceNow in the environment and no SNOWBOT_SECRET_KEY: only Vault can hold the password."""
    overrides = {**settings_overrides, "servicenow_instance_url": None, "servicenow_credentials": None}
    overrides |= {"secret_key": None, "vault_token": ROOT}
    with settings_with_vault(vault, monkeypatch, tmp_path, **overrides) as settings:
        yield settings


async def _connect(bot: Snowbot, settings: Settings, credentials: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=build_app(settings, snowbot=bot))
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
        return await client.post(
            "/api/integrations/ticketing", json={"instance_url": INSTANCE_URL, "credentials": credentials}
        )


async def test_a_vault_reference_is_stored_instead_of_the_password(
    make_snowbot: Callable[..., Snowbot],
    settings_from_vault: Settings,
    vault: VaultEmulator,
    sn_emulator: ServiceNowEmulator,
) -> None:
    sn_emulator.add_user("svc_vault", "First-Secret-1", ["itil"])
    bot = make_snowbot(settings_from_vault)
    answer = await _connect(bot, settings_from_vault, REFERENCE)
    assert answer.status_code == 201, answer.text
    assert answer.json()["integration"]["status"] == "Connected"
    assert "First-Secret-1" not in answer.text
    row = next(bot.db.query("SELECT password_encrypted, credentials_ref FROM integrations"))
    assert row == {"password_encrypted": None, "credentials_ref": REFERENCE}
    reads = vault.reads

    assert (await bot.connections.check_connection()).status == "Connected"
    assert vault.reads == reads  # read once, kept in memory

    sn_emulator.add_user("svc_vault", "Rotated-Secret-2", ["itil"])  # rotated while snowbot runs
    vault.put("secret", "snowbot/servicenow", {"credentials": "svc_vault:Rotated-Secret-2"})
    assert (await bot.connections.check_connection()).status == "Connected"
    assert vault.reads == reads + 1


async def test_a_reference_vault_cannot_answer_is_refused_and_nothing_is_stored(
    make_snowbot: Callable[..., Snowbot], settings_from_vault: Settings
) -> None:
    bot = make_snowbot(settings_from_vault)
    answer = await _connect(bot, settings_from_vault, "vault:secret/snowbot/absent#credentials")
    assert 400 <= answer.status_code < 500, answer.text
    assert "Vault has no secret at secret/snowbot/absent" in answer.text
    assert list(bot.db.query("SELECT id FROM integrations")) == []
