"""PKCE verifier and S256 challenge (RFC 7636 §4.1-§4.2, SECURITY.md F-04)."""

from __future__ import annotations

import base64
import hashlib
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.oauth.pkce import (
    MAX_VERIFIER_LENGTH,
    MIN_VERIFIER_LENGTH,
    VERIFIER_BYTES,
    challenge_s256,
    is_valid_verifier,
    new_verifier,
)

_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")


def test_f04_rfc7636_appendix_b_vector() -> None:
    """The challenge of RFC 7636 Appendix B's verifier is the one the RFC prints."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_f04_verifier_length_alphabet_and_entropy() -> None:
    """A new verifier is 43-128 unreserved characters carrying at least 256 random bits."""
    verifier = new_verifier()
    assert MIN_VERIFIER_LENGTH <= len(verifier) <= MAX_VERIFIER_LENGTH
    assert _UNRESERVED.fullmatch(verifier)
    assert VERIFIER_BYTES * 8 >= 256
    assert len(verifier) == math.ceil(VERIFIER_BYTES * 4 / 3)


def test_f04_verifiers_are_unique() -> None:
    """1,000 verifiers are 1,000 distinct values."""
    assert len({new_verifier() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    "verifier",
    ["short", "a" * 42, "a" * 129, "a" * 42 + " ", "a" * 42 + "+", "ä" * 43, ""],
)
def test_f04_malformed_verifier_refused(verifier: str) -> None:
    """A verifier outside RFC 7636 §4.1 is refused rather than weakly hashed."""
    assert not is_valid_verifier(verifier)
    with pytest.raises(ValueError, match="code_verifier"):
        challenge_s256(verifier)


@given(st.text(alphabet="ABCabc019-._~", min_size=43, max_size=128))
def test_f04_challenge_is_unpadded_base64url_of_sha256(verifier: str) -> None:
    """Any valid verifier's challenge decodes back to the SHA-256 of its ASCII bytes."""
    challenge = challenge_s256(verifier)
    assert "=" not in challenge
    assert len(challenge) == 43
    decoded = base64.urlsafe_b64decode(challenge + "=")
    assert decoded == hashlib.sha256(verifier.encode("ascii")).digest()
