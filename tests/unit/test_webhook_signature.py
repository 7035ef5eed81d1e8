"""Webhook signatures (DESIGN.md §8): ``t={unix},v1={hex HMAC-SHA256 of "{t}.{body}"}``, checked
on the raw body, in constant time, within a tolerance of five minutes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.webhook_signature import sign, signature_header, verify_signature

SECRET = "whsec-0123456789abcdef"
BODY = b'{"Id":"e1","Type":"accountconnector.authenticated"}'
T = 1_900_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """The v1 value is exactly the documented HMAC, so any language can check it."""
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == expected
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    """The header built for a body verifies for that body at (about) the same time."""
    header = signature_header(SECRET, T, BODY)
    assert verify_signature(SECRET, header, BODY, T)
    assert verify_signature(SECRET, header, BODY, T + 299)
    assert verify_signature(SECRET.encode(), header, BODY, datetime.fromtimestamp(T, UTC))


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec-another-secret-value", BODY, T),  # another secret
        (SECRET, BODY + b" ", T),  # one byte more
        (SECRET, BODY.replace(b"e1", b"e2"), T),  # another event
        (SECRET, BODY, T + 301),  # replayed after the tolerance
        (SECRET, BODY, T - 301),  # from the future
    ],
)
def test_wrong_secret_body_or_time_does_not_verify(secret: str, body: bytes, now: int) -> None:
    """Any change of secret or body, or a t outside five minutes, fails."""
    assert not verify_signature(secret, signature_header(SECRET, T, BODY), body, now)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        f"t={T}",
        f"t={T},v2=abc",
        f"t=abc,v1={sign(SECRET, T, BODY)}",
        f"t={T},t={T},v1={sign(SECRET, T, BODY)}",
        f"t={T};v1={sign(SECRET, T, BODY)}",
        f"t={T},v1=é{sign(SECRET, T, BODY)[1:]}",
        "t=1," + "v1=" + "a" * 5000,
    ],
)
def test_malformed_headers_are_refused(header: str | None) -> None:
    """A header that cannot be read is simply not valid (no exception)."""
    assert not verify_signature(SECRET, header, BODY, T)


def test_one_matching_v1_among_several_is_enough() -> None:
    """Several v1 values (e.g. while a secret is being changed) verify if one matches."""
    header = f"t={T},v1={'0' * 64},v1={sign(SECRET, T, BODY)}"
    assert verify_signature(SECRET, header, BODY, T)


@given(secret=st.text(min_size=1, max_size=50), body=st.binary(max_size=300))
def test_round_trip_for_any_secret_and_body(secret: str, body: bytes) -> None:
    """Whatever the secret and body, signing then verifying agrees; another body never does."""
    header = signature_header(secret, T, body)
    assert verify_signature(secret, header, body, T)
    assert not verify_signature(secret, header, body + b"x", T)
