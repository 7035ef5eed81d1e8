"""Keyring, authenticated encryption with associated data, and token hashing."""

from tokenward.crypto.aead import Sealer, associated_data
from tokenward.crypto.hashing import hash_token, new_token, tokens_equal
from tokenward.crypto.keyring import Keyring, KeySource

__all__ = [
    "KeySource",
    "Keyring",
    "Sealer",
    "associated_data",
    "hash_token",
    "new_token",
    "tokens_equal",
]
