"""`SecretBox`: encrypts the credentials snowbot stores, with a key from `SNOWBOT_SECRET_KEY`.

The key is either a Fernet key (`SecretBox.generate_key()`, 32 random bytes in url-safe base64), used as
is, or any other string (a passphrase), stretched into a Fernet key with PBKDF2-HMAC-SHA256 (600,000
iterations, OWASP's 2023 figure) over a fixed, public salt. The salt is fixed because nothing but the
passphrase is available to rebuild the key; that gives up per-database salting, so prefer a generated key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

KDF_SALT = b"snowbot.storage.SecretBox.v1"
KDF_ITERATIONS = 600_000


class SecretKeyMismatchError(ValueError):
    """A stored secret does not decrypt with the configured key."""

    def __init__(self) -> None:
        super().__init__(
            "SNOWBOT_SECRET_KEY does not match the key the credentials were stored with. "
            "Set it back to that key, or save the integration's credentials again."
        )


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def _stretch(passphrase: str) -> bytes:
    raw = hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), KDF_SALT, KDF_ITERATIONS)
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Symmetric encryption of short secrets (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp)."""

    def __init__(self, key: str | SecretStr) -> None:
        value = key.get_secret_value() if isinstance(key, SecretStr) else key
        if not value:
            raise ValueError("SecretBox needs a non-empty key (SNOWBOT_SECRET_KEY)")
        self._fernet = Fernet(value.encode("ascii") if _is_fernet_key(value) else _stretch(value))

    def __repr__(self) -> str:
        return "SecretBox(key=**********)"

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key, suitable for `SNOWBOT_SECRET_KEY`."""
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a value from `encrypt`; a different key (or a damaged value) raises `SecretKeyMismatchError`."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretKeyMismatchError() from exc
