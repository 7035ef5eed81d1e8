"""Random tokens and their SHA-256 hashes; plaintext tokens are never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_token", "new_token", "tokens_equal"]


def new_token(nbytes: int = 32) -> str:
    """A URL-safe token with ``nbytes`` random bytes (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(stored_hash: str, presented: str) -> bool:
    """Constant-time comparison of a stored hash with a presented plaintext token."""
    return hmac.compare_digest(stored_hash.encode(), hash_token(presented).encode())
