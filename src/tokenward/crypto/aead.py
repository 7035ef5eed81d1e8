"""AES-256-GCM sealing with associated data binding each ciphertext to its row and field.

Format (text, so it fits any column): ``tw1.{key id}.{base64url(nonce ‖ ciphertext ‖ tag)}``.
The associated data is ``"{table}|{row key}|{field}"``: a ciphertext copied to another row or
field fails authentication and is reported as :class:`CredentialCorrupted`, never served.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenward.crypto.keyring import KeySource
from tokenward.errors import CredentialCorrupted

__all__ = ["Sealer", "associated_data", "key_id_of"]

_PREFIX = "tw1"
_NONCE = 12


def associated_data(table: str, row: str | int, field: str) -> bytes:
    return f"{table}|{row}|{field}".encode()


def key_id_of(sealed: str) -> str:
    parts = sealed.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise CredentialCorrupted("sealed value has an unknown format")
    return parts[1]


@functools.lru_cache(maxsize=32)
def _cipher(key: bytes) -> AESGCM:
    """The cipher of a key, prepared once (its key schedule costs more than sealing a token)."""
    return AESGCM(key)


class Sealer:
    """Seals with the primary key; opens with whichever key the ciphertext names."""

    def __init__(self, keys: KeySource) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return "Sealer()"

    def seal(self, plaintext: str, aad: bytes) -> str:
        ring = self._keys.current()
        nonce = os.urandom(_NONCE)
        body = _cipher(ring.keys[ring.primary]).encrypt(nonce, plaintext.encode(), aad)
        return f"{_PREFIX}.{ring.primary}.{base64.urlsafe_b64encode(nonce + body).decode()}"

    def open(self, sealed: str, aad: bytes) -> str:
        kid = key_id_of(sealed)
        ring = self._keys.current()
        if kid not in ring.keys:
            ring = self._keys.reload()
        key = ring.keys.get(kid)
        if key is None:
            raise CredentialCorrupted(f"sealed under key {kid!r}, which is not configured")
        try:
            raw = base64.urlsafe_b64decode(sealed.split(".")[2])
            return _cipher(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode()
        except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError):
            raise CredentialCorrupted("sealed value failed authentication") from None

    def primary_key_id(self) -> str:
        return self._keys.current().primary
