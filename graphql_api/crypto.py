"""Secrets at rest (TOTP seeds, venue credentials): AES-256-GCM under a key derived from SECRET_KEY.

The key is derived with HKDF so the signing key for tokens and the encryption key are never the same
bytes. Ciphertexts carry a version prefix so the scheme can change without guessing.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1:"


class DecryptionError(ValueError):
    """The ciphertext was not made with this SECRET_KEY, or was altered."""


class Cipher:
    def __init__(self, secret: str, purpose: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"graphql_api:{purpose}".encode()).derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith(_PREFIX):
            raise DecryptionError("unknown ciphertext format")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext does not authenticate") from None
