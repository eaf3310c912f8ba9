from __future__ import annotations

import pytest
from pydantic import SecretStr

from storage import SecretBox, SecretKeyMismatchError


def test_round_trip_with_a_generated_key() -> None:
    box = SecretBox(SecretBox.generate_key())
    token = box.encrypt("hunter2 ✓")
    assert "hunter2" not in token
    assert box.decrypt(token) == "hunter2 ✓"


def test_a_passphrase_is_stretched_to_the_same_key_every_time() -> None:
    token = SecretBox("correct horse battery staple").encrypt("s3cret")
    assert SecretBox(SecretStr("correct horse battery staple")).decrypt(token) == "s3cret"


def test_a_generated_key_is_used_as_is_not_stretched() -> None:
    key = SecretBox.generate_key()
    from cryptography.fernet import Fernet

    assert Fernet(key.encode()).decrypt(SecretBox(key).encrypt("x").encode()) == b"x"


def test_wrong_key_raises_a_clear_error() -> None:
    token = SecretBox(SecretBox.generate_key()).encrypt("s3cret")
    with pytest.raises(
        SecretKeyMismatchError,
        match="SNOWBOT_SECRET_KEY does not match the key the credentials were stored with",
    ):
        SecretBox(SecretBox.generate_key()).decrypt(token)
    with pytest.raises(SecretKeyMismatchError):
        SecretBox("a passphrase").decrypt("not a token at all")


def test_key_never_shows_in_repr_and_empty_key_is_refused() -> None:
    key = SecretBox.generate_key()
    assert key not in repr(SecretBox(key))
    with pytest.raises(ValueError, match="non-empty"):
        SecretBox("")
