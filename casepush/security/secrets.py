"""Connector secrets encrypted at rest with Fernet, as Kibana's encryptedSavedObjects.

Each token carries the id of the row it belongs to, so a token copied onto another connector
does not decrypt there. Keys rotate as in Kibana's ``keyRotation.decryptionOnlyKeys``: the
current key encrypts, and it or any earlier key decrypts.
"""

import base64
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from casepush.config import ConfigError, Settings

KEY_FILE = "encryption.key"
_MIN_KEY_LENGTH = 32


class SecretsUnavailable(Exception):
    """Secrets that cannot be decrypted (wrong or missing key, tampered or foreign ciphertext)."""


class _Sealed(msgspec.Struct):
    owner: str
    secrets: dict[str, Any]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Sealed)


class SecretBox:
    """The current key encrypts; every key (current, then decryption-only ones) may decrypt."""

    def __init__(self, key: str, decryption_only_keys: Sequence[str] = ()) -> None:
        self._current = _fernet(key)
        self._any = MultiFernet([self._current, *map(_fernet, decryption_only_keys)])

    def seal(self, owner_id: str, secrets: dict[str, Any]) -> str:
        plaintext = _encoder.encode(_Sealed(owner=owner_id, secrets=secrets))
        return self._current.encrypt(plaintext).decode()

    def open(self, owner_id: str, token: str) -> dict[str, Any]:
        try:
            sealed = _decoder.decode(self._any.decrypt(token.encode()))
        except (InvalidToken, msgspec.DecodeError):
            raise SecretsUnavailable("secrets cannot be decrypted with the configured keys") from None
        if sealed.owner != owner_id:
            raise SecretsUnavailable("secrets were sealed for another owner")
        return sealed.secrets

    def rotated(self, token: str) -> str | None:
        """The token re-encrypted with the current key, or None when it already uses it.

        None lets callers skip the write for rows that need no migration.
        """
        try:
            self._current.decrypt(token.encode())
            return None
        except InvalidToken:
            pass
        try:
            return self._any.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable("secrets cannot be decrypted with the configured keys") from None


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for the configured key, or for a key kept in the data dir when none is configured.

    Generating a key keeps a fresh install secure without setup; keeping it in a file lets the
    secrets survive a restart.
    """
    key = settings.encryption_key or _key_from_file(Path(settings.data_dir) / KEY_FILE)
    return SecretBox(key, settings.decryption_only_keys)


def _fernet(key: str) -> Fernet:
    """Any passphrase becomes a Fernet key, deterministically, so operators need not make one."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def _key_from_file(path: Path) -> str:
    """The key in ``path``, generated there first if missing."""
    if not path.exists():
        _create_key_file(path)
    key = path.read_text().strip()
    if len(key) < _MIN_KEY_LENGTH:
        raise ConfigError(f"{path} does not hold a key of at least {_MIN_KEY_LENGTH} characters")
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file, then link it into place.

    ``mkstemp`` creates the file with mode 0600 whatever the umask, and ``os.link`` fails rather
    than overwrite, so a concurrent start never sees a partial key nor replaces one in use.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
