"""Secrets and PII at rest: Fernet encryption with key rotation, blind indexes, hashes.

Keys come from ``TSUNAGU_SECRET_KEY`` (comma-separated; the first encrypts, all decrypt). The
embedded default generates one key into the data directory on first start and warns about it:
lose that file and the stored channel secrets and member PII cannot be read back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from config import Settings
from core.errors import ConfigurationError
from core.private_files import private_directory

log = logging.getLogger(__name__)

_KEY_FILE = "secret.key"


class SecretBox:
    """Encrypts and decrypts with the configured keys; derives the blind-index key."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError("no secret key: set TSUNAGU_SECRET_KEY")
        self._fernet = MultiFernet([Fernet(_fernet_key(k)) for k in keys])
        self._index_key = hashlib.sha256(b"tsunagu blind index\0" + keys[0].encode()).digest()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored secret cannot be decrypted with TSUNAGU_SECRET_KEY: was the key "
                "changed? Put the old key after the new one (comma-separated) to rotate."
            ) from exc

    def blind_index(self, value: str) -> str:
        """A keyed hash of a normalised value, for equality look-ups on encrypted columns."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def _fernet_key(secret: str) -> bytes:
    """Accept a Fernet key as is; stretch any other secret into one."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def load_keys(settings: Settings) -> list[str]:
    """The configured keys, or the data directory's generated key (created on first use)."""
    if settings.secret_key is not None:
        return [k.strip() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
    path = settings.data_dir / _KEY_FILE
    if not path.exists():
        private_directory(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
        log.warning(
            "TSUNAGU_SECRET_KEY is not set: generated a key in %s. Back it up, or set "
            "TSUNAGU_SECRET_KEY in production; without it stored secrets cannot be read.",
            path,
        )
    return [Path(path).read_text().strip()]


_box: SecretBox | None = None


def configure(settings: Settings) -> SecretBox:
    """Install the process's secret box from settings (called once at start-up)."""
    global _box
    _box = SecretBox(load_keys(settings))
    return _box


def box() -> SecretBox:
    if _box is None:
        raise ConfigurationError("encryption is not configured: call core.crypto.configure()")
    return _box


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted; reads decrypt, writes encrypt."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else box().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else box().decrypt(value)


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """Digest of a high-entropy token (API tokens, nonces, link codes) for storage."""
    return hashlib.sha256(value.encode()).hexdigest()


def hash_secret(value: str) -> str:
    """A slow salted hash for low-entropy secrets (PINs): ``scrypt$salt$digest``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(value.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(value: str, stored: str) -> bool:
    """Check ``value`` against :func:`hash_secret` output in constant time."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(value.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)
