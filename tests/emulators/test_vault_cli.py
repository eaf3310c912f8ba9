"""`snowbot emulate vault` as a person starts it: the banner names VAULT_ADDR, hvac reads the `--secret`s
with `--token` or an `--approle` login, and snowbot's own settings resolve a `vault:` reference from it."""

from __future__ import annotations

import re
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from bot.settings import load_settings
from snowbot.cli import main
from tests.bot.processes import running


def test_emulate_vault_serves_its_secrets_to_hvac_and_to_snowbot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["emulate", "vault", "--port", "0", "--token", "t0ken", "--approle", "role-1:secret-1"]
    args += ["--secret", "secret/snowbot/sn#credentials=svc:pw", "--secret", "secret/snowbot/sn#user=svc"]
    with running(tmp_path, *args) as emulator:
        (banner,) = emulator.read_until(lambda line: line.startswith("vault emulator on "))
        addr = re.search(r"VAULT_ADDR=(http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
        assert "token t0ken (from --token), AppRole role ids role-1" in banner
        client = hvac.Client(url=addr, token="t0ken")
        read = client.secrets.kv.v2.read_secret_version(path="snowbot/sn", raise_on_deleted_version=True)
        assert read["data"]["data"] == {"credentials": "svc:pw", "user": "svc"}
        with pytest.raises(hvac.exceptions.Forbidden):
            hvac.Client(url=addr, token="root").secrets.kv.v2.read_secret_version(
                path="snowbot/sn", raise_on_deleted_version=True
            )

        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("VAULT_TOKEN", raising=False)
        monkeypatch.setenv("VAULT_ADDR", addr)
        monkeypatch.setenv("VAULT_ROLE_ID", "role-1")
        monkeypatch.setenv("VAULT_SECRET_ID", "secret-1")
        monkeypatch.setenv("SERVICENOW_CREDENTIALS", "vault:secret/snowbot/sn#credentials")
        assert load_settings().servicenow_credentials_value == "svc:pw"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["emulate", "vault", "--secret", "secret/a=b"], "--secret wants MOUNT/PATH#KEY=VALUE"),
        (["emulate", "vault", "--approle", "only-a-role"], "--approle wants ROLE_ID:SECRET_ID"),
        (["emulate", "slack", "--secret", "secret/a#k=v"], "--secret is for vault"),
    ],
)
def test_emulate_vault_refuses_a_bad_option_in_one_line(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("snowbot emulate: ") and says in line, line
