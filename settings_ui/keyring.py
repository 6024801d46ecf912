"""The secrets key ring: MultiFernet over settings.OPERATOR_SECRETS_KEYS (first key encrypts).

Each ciphertext is stored with the id of the key that wrote it (first 8 hex digits of the
SHA-256 of the key), so rotation can report counts per key without decrypting anything.
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptError(Exception):
    """A ciphertext cannot be decrypted with any key of the ring."""


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _keys() -> list[str]:
    keys = list(getattr(settings, "OPERATOR_SECRETS_KEYS", []) or [])
    if not keys:
        raise ImproperlyConfigured("OPERATOR_SECRETS_KEYS is empty")
    return keys


def ring() -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in _keys()])
    except (ValueError, TypeError) as e:
        raise ImproperlyConfigured(f"OPERATOR_SECRETS_KEYS holds an invalid Fernet key: {e}") from e


def current_key_id() -> str:
    return key_id(_keys()[0])


def encrypt(plaintext: str) -> tuple[str, str]:
    """(ciphertext, key id); a fresh IV each time, so equal values give different ciphertexts."""
    return ring().encrypt(plaintext.encode()).decode(), current_key_id()


def decrypt(ciphertext: str) -> str:
    try:
        return ring().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError) as e:
        raise DecryptError("no key in OPERATOR_SECRETS_KEYS decrypts this value") from e


def rotate(ciphertext: str) -> tuple[str, str]:
    """Re-encrypt under the first key; DecryptError when no key decrypts it."""
    try:
        return ring().rotate(ciphertext.encode()).decode(), current_key_id()
    except (InvalidToken, ValueError) as e:
        raise DecryptError("no key in OPERATOR_SECRETS_KEYS decrypts this value") from e
