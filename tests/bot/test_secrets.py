"""Secret settings outside snowbot (bot/secrets.py through bot/settings.py's loading): `<VARIABLE>_FILE`
files and `vault:<mount>/<path>#<key>` references read with hvac from `emulators.vault` over loopback
(token and AppRole), the errors a person can act on (never echoing a secret), and reading one secret again
after it was rotated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from emulators.serve import serve_in_thread
from emulators.vault import VaultEmulator

ROOT = "vault-root-token-for-tests"
SECRET_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SERVICENOW_CREDENTIALS",
    "QUALYTICS_TOKEN",
    "SNOWBOT_SECRET_KEY",
    "SNOWBOT_API_TOKEN",
    "SNOWBOT_WEBHOOK_SECRET",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_ROLE_ID",
    "VAULT_SECRET_ID",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for var in SECRET_VARIABLES:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var + "_FILE", raising=False)


@pytest.fixture
def vault() -> VaultEmulator:
    emulator = VaultEmulator(token=ROOT, approles={"snowbot-role": "snowbot-secret-id"})
    emulator.put("secret", "snowbot/servicenow", {"credentials": "svc:first-password", "other": "x"})
    return emulator


@pytest.fixture
def vault_addr(vault: VaultEmulator) -> Iterator[str]:
    with serve_in_thread(vault.app) as url:
        yield url


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# <VARIABLE>_FILE


def test_every_secret_setting_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(_file(tmp_path, "bot", "xoxb-from-file\n")))
    monkeypatch.setenv("SLACK_SIGNING_SECRET_FILE", str(_file(tmp_path, "sign", "signing\r\n")))
    monkeypatch.setenv("SERVICENOW_CREDENTIALS_FILE", str(_file(tmp_path, "sn", "svc:p@ss word")))
    monkeypatch.setenv("SNOWBOT_SECRET_KEY_FILE", str(_file(tmp_path, "key", "k" * 20 + "\n")))
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-file"
    assert settings.slack_signing_secret is not None
    assert settings.slack_signing_secret.get_secret_value() == "signing"
    assert settings.servicenow_credentials_value == "svc:p@ss word"
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "k" * 20


def test_a_file_secret_is_still_validated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SNOWBOT_SECRET_KEY_FILE", str(_file(tmp_path, "key", "short")))
    with pytest.raises(SettingsError, match="SNOWBOT_SECRET_KEY is too short") as caught:
        load_settings()
    assert "short" not in str(caught.value).replace("too short", "")


def test_a_missing_file_names_the_variable_and_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"SLACK_BOT_TOKEN_FILE names {tmp_path / 'absent'}, which does not exist: fix the path or create the file"
    )


def test_a_value_and_its_file_together_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUALYTICS_TOKEN", "plain-token")
    monkeypatch.setenv("QUALYTICS_TOKEN_FILE", str(_file(tmp_path, "q", "file-token")))
    with pytest.raises(
        SettingsError, match="QUALYTICS_TOKEN and QUALYTICS_TOKEN_FILE are both set"
    ) as caught:
        load_settings()
    assert "plain-token" not in str(caught.value) and "file-token" not in str(caught.value)


def test_a_rewritten_file_is_read_again_on_refresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = _file(tmp_path, "sn", "svc:old")
    monkeypatch.setenv("SERVICENOW_CREDENTIALS_FILE", str(path))
    settings = load_settings()
    assert settings.refresh_secret("servicenow_credentials") is False  # unchanged
    path.write_text("svc:new\n", encoding="utf-8")
    assert settings.refresh_secret("servicenow_credentials") is True
    assert settings.servicenow_credentials_value == "svc:new"


def test_a_plain_value_has_nothing_to_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICENOW_CREDENTIALS", "svc:plain")
    settings = load_settings()
    assert settings.refresh_secret("servicenow_credentials") is False
    assert settings.servicenow_credentials_value == "svc:plain"


# vault:<mount>/<path>#<key>


def test_a_vault_reference_is_read_with_a_token(monkeypatch: pytest.MonkeyPatch, vault_addr: str) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault_addr)
    monkeypatch.setenv("VAULT_TOKEN", ROOT)
    monkeypatch.setenv("SERVICENOW_CREDENTIALS", "vault:secret/snowbot/servicenow#credentials")
    settings = load_settings()
    assert settings.servicenow_credentials_value == "svc:first-password"


def test_a_vault_reference_is_read_with_approle(
    monkeypatch: pytest.MonkeyPatch, vault: VaultEmulator, vault_addr: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault_addr)
    monkeypatch.setenv("VAULT_ROLE_ID", "snowbot-role")
    monkeypatch.setenv("VAULT_SECRET_ID_FILE", str(_file(tmp_path, "sid", "snowbot-secret-id\n")))
    monkeypatch.setenv(
        "SERVICENOW_CREDENTIALS_FILE",
        str(_file(tmp_path, "ref", "vault:secret/snowbot/servicenow#credentials\n")),
    )
    settings = load_settings()
    assert settings.servicenow_credentials_value == "svc:first-password"
    assert vault.logins == 1


def test_a_rotated_vault_secret_is_read_again_on_refresh(
    monkeypatch: pytest.MonkeyPatch, vault: VaultEmulator, vault_addr: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault_addr)
    monkeypatch.setenv("VAULT_ROLE_ID", "snowbot-role")
    monkeypatch.setenv("VAULT_SECRET_ID", "snowbot-secret-id")
    monkeypatch.setenv("SERVICENOW_CREDENTIALS", "vault:secret/snowbot/servicenow#credentials")
    settings = load_settings()
    vault.put("secret", "snowbot/servicenow", {"credentials": "svc:rotated"})
    assert settings.servicenow_credentials_value == "svc:first-password"  # not read until asked
    assert settings.refresh_secret("servicenow_credentials") is True
    assert settings.servicenow_credentials_value == "svc:rotated"
    for token in list(vault._tokens):  # the AppRole token expires: snowbot logs in again, once
        if token != ROOT:
            vault.revoke(token)
    vault.put("secret", "snowbot/servicenow", {"credentials": "svc:third"})
    assert settings.refresh_secret("servicenow_credentials") is True
    assert settings.servicenow_credentials_value == "svc:third"
    assert vault.logins == 2


@pytest.mark.parametrize(
    ("reference", "token", "message"),
    [
        (
            "vault:secret/snowbot/absent#credentials",
            ROOT,
            "SERVICENOW_CREDENTIALS (vault:secret/snowbot/absent#credentials): Vault has no secret at "
            "secret/snowbot/absent (HTTP 404): write it (vault kv put secret/snowbot/absent credentials=...) "
            "or fix the reference",
        ),
        (
            "vault:secret/snowbot/servicenow#password",
            ROOT,
            "SERVICENOW_CREDENTIALS (vault:secret/snowbot/servicenow#password): the Vault secret "
            "secret/snowbot/servicenow has no key 'password' (its keys: credentials, other): fix the part "
            "after # or add the key in Vault",
        ),
        (
            "vault:secret/snowbot/servicenow#credentials",
            "not-a-token",
            "SERVICENOW_CREDENTIALS (vault:secret/snowbot/servicenow#credentials): Vault refused to read "
            "secret/snowbot/servicenow (permission denied): VAULT_TOKEN needs a policy with read on "
            "secret/data/snowbot/servicenow, or is expired",
        ),
        (
            "vault:secret#credentials",
            ROOT,
            "SERVICENOW_CREDENTIALS is not a Vault reference snowbot understands",
        ),
    ],
)
def test_vault_problems_say_what_to_do(
    monkeypatch: pytest.MonkeyPatch, vault_addr: str, reference: str, token: str, message: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault_addr)
    monkeypatch.setenv("VAULT_TOKEN", token)
    monkeypatch.setenv("SERVICENOW_CREDENTIALS", reference)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "first-password" not in str(caught.value) and ROOT not in str(caught.value)


def test_a_wrong_approle_secret_id_says_which_variables(
    monkeypatch: pytest.MonkeyPatch, vault_addr: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault_addr)
    monkeypatch.setenv("VAULT_ROLE_ID", "snowbot-role")
    monkeypatch.setenv("VAULT_SECRET_ID", "wrong-secret-id")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "vault:secret/snowbot/slack#token")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert (
        "Vault refused the AppRole login (invalid role or secret ID): check VAULT_ROLE_ID and VAULT_SECRET_ID"
        in str(caught.value)
    )
    assert "wrong-secret-id" not in str(caught.value)


def test_unreachable_vault_and_no_login_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICENOW_CREDENTIALS", "vault:secret/snowbot/servicenow#credentials")
    with pytest.raises(SettingsError, match="VAULT_ADDR is not set"):
        load_settings()
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    with pytest.raises(SettingsError, match="set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID"):
        load_settings()
    monkeypatch.setenv("VAULT_TOKEN", ROOT)
    with pytest.raises(
        SettingsError, match=r"Vault at http://127.0.0.1:9 cannot be reached \(ConnectionError\)"
    ):
        load_settings()
