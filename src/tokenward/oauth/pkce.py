"""Proof Key for Code Exchange (RFC 7636), S256 only.

PKCE binds the authorization code to the client instance that started the flow: the verifier
stays server-side in the flow record and is sent only in the token request (RFC 7636 §4.5,
SECURITY.md F-05); the authorization request carries only its SHA-256 challenge. ``plain`` is
never used (RFC 9700 §2.1.1, F-04) — a connector opts out of PKCE altogether with ``Pkce: none``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

__all__ = [
    "CHALLENGE_METHOD",
    "MAX_VERIFIER_LENGTH",
    "MIN_VERIFIER_LENGTH",
    "VERIFIER_BYTES",
    "challenge_s256",
    "is_valid_verifier",
    "new_verifier",
]

CHALLENGE_METHOD = "S256"
MIN_VERIFIER_LENGTH = 43
MAX_VERIFIER_LENGTH = 128
# 48 random bytes → 64 base64url characters: 384 bits, comfortably above the 256 bits
# RFC 7636 §7.1 asks for, and inside the 43-128 character window of §4.1.
VERIFIER_BYTES = 48

# RFC 7636 §4.1: code-verifier = 43*128unreserved,
# unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def new_verifier() -> str:
    """A fresh ``code_verifier`` from the CSPRNG (RFC 7636 §4.1, §7.1).

    ``secrets.token_urlsafe`` yields base64url without padding, whose alphabet
    (``A-Z a-z 0-9 - _``) is a subset of the unreserved set, so no further encoding is needed.
    """
    return secrets.token_urlsafe(VERIFIER_BYTES)


def is_valid_verifier(verifier: str) -> bool:
    """Whether ``verifier`` has the length and alphabet RFC 7636 §4.1 requires."""
    return _VERIFIER.fullmatch(verifier) is not None


def challenge_s256(verifier: str) -> str:
    """``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` without padding (RFC 7636 §4.2).

    Raises ``ValueError`` for a verifier outside §4.1: a short or non-ASCII verifier would
    silently weaken the binding, and the authorization server would reject it at the token
    endpoint anyway — after the user already consented.
    """
    if not is_valid_verifier(verifier):
        raise ValueError("code_verifier must be 43-128 characters from the unreserved set")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
