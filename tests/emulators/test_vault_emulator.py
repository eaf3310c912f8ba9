"""hvac itself against `emulators.vault` over a real loopback socket: KV v2 write/read and versions, AppRole
login, token lookup-self, and the errors hvac maps to its exceptions (403 Forbidden, 404 InvalidPath, 400
InvalidRequest)."""

from __future__ import annotations

from collections.abc import Iterator

import hvac
import hvac.exceptions
import pytest

from emulators.serve import serve_in_thread
from emulators.vault import VaultEmulator

ROOT = "root-token-for-tests"


@pytest.fixture
def vault() -> VaultEmulator:
    return VaultEmulator(token=ROOT, approles={"role-1": "secret-1"})


@pytest.fixture
def addr(vault: VaultEmulator) -> Iterator[str]:
    with serve_in_thread(vault.app) as url:
        yield url


def test_hvac_writes_and_reads_kv_v2_versions(addr: str) -> None:
    client = hvac.Client(url=addr, token=ROOT)
    assert client.is_authenticated()
    written = client.secrets.kv.v2.create_or_update_secret(path="snowbot/sn", secret={"credentials": "a:1"})
    assert written["data"]["version"] == 1
    client.secrets.kv.v2.create_or_update_secret(path="snowbot/sn", secret={"credentials": "a:2"})
    latest = client.secrets.kv.v2.read_secret_version(path="snowbot/sn", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"credentials": "a:2"}
    assert latest["data"]["metadata"]["version"] == 2
    assert latest["data"]["metadata"]["deletion_time"] == ""
    first = client.secrets.kv.v2.read_secret_version(
        path="snowbot/sn", version=1, raise_on_deleted_version=True
    )
    assert first["data"]["data"] == {"credentials": "a:1"}


def test_check_and_set_refuses_a_stale_version(addr: str) -> None:
    client = hvac.Client(url=addr, token=ROOT)
    client.secrets.kv.v2.create_or_update_secret(path="x", secret={"k": "v"}, cas=0)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        client.secrets.kv.v2.create_or_update_secret(path="x", secret={"k": "w"}, cas=0)


def test_missing_secret_and_unknown_mount_are_invalid_path(addr: str) -> None:
    client = hvac.Client(url=addr, token=ROOT)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_version(path="nope", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.InvalidPath, match="no handler for route"):
        client.secrets.kv.v2.read_secret_version(path="a", mount_point="kv", raise_on_deleted_version=True)


def test_a_bad_or_missing_token_is_forbidden(addr: str, vault: VaultEmulator) -> None:
    vault.put("secret", "a", {"k": "v"})
    for token in ("wrong", None):
        client = hvac.Client(url=addr, token=token)
        assert not client.is_authenticated()
        with pytest.raises(hvac.exceptions.Forbidden, match="permission denied"):
            client.secrets.kv.v2.read_secret_version(path="a", raise_on_deleted_version=True)


def test_approle_login_gives_a_token_that_reads_and_looks_itself_up(addr: str, vault: VaultEmulator) -> None:
    vault.put("secret", "a", {"k": "v"})
    client = hvac.Client(url=addr)
    answer = client.auth.approle.login(role_id="role-1", secret_id="secret-1")
    token = answer["auth"]["client_token"]
    assert client.token == token  # hvac keeps auth.client_token (use_token=True)
    assert client.is_authenticated()
    me = client.auth.token.lookup_self()["data"]
    assert me["ttl"] > 0 and "snowbot" in me["policies"]
    assert client.secrets.kv.v2.read_secret_version(path="a", raise_on_deleted_version=True)["data"][
        "data"
    ] == {"k": "v"}
    vault.revoke(token)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(path="a", raise_on_deleted_version=True)


def test_approle_login_refuses_a_wrong_secret_id(addr: str) -> None:
    client = hvac.Client(url=addr)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid role or secret ID"):
        client.auth.approle.login(role_id="role-1", secret_id="wrong")
    assert client.token is None
