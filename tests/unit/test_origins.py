"""Canonical origins for the targetOrigin allowlist (SECURITY.md W-01)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.domain.origins import canonical_origin, is_loopback

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)


@given(hosts, st.none() | st.integers(min_value=1, max_value=65535))
def test_w01_canonical_form_is_stable(host: str, port: int | None) -> None:
    """Canonicalising twice changes nothing; case and the default port never matter."""
    text = f"HTTPS://{host.upper()}" + (f":{port}" if port else "")
    once = canonical_origin(text)
    assert canonical_origin(once) == once
    assert once == once.lower()
    assert not once.endswith(":443")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://Partner.Example", "https://partner.example"),
        ("https://partner.example:443/", "https://partner.example"),
        ("http://localhost:80", "http://localhost"),
        ("https://münchen.example", "https://xn--mnchen-3ya.example"),
        ("https://[0:0:0:0:0:0:0:1]:8443", "https://[::1]:8443"),
    ],
)
def test_w01_canonical_examples(text: str, expected: str) -> None:
    """Lower case, default port dropped, IDN as punycode, IPv6 compressed."""
    assert canonical_origin(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://partner.example.evil.com/x",
        "https://evil.com/partner.example",
        "https://partner.example@evil.com",
        "http://partner.example",
        "null",
        "*",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://partner.example\\@evil.com",
        "https://partner.example%2f@evil.com",
        " https://a.example/ /",
    ],
)
def test_w01_matrix_is_refused(text: str) -> None:
    """What W-01 lists as non-origins (and http off loopback) is refused."""
    with pytest.raises(ValueError, match=r"."):
        canonical_origin(text)


def test_http_allowed_when_asked() -> None:
    """http for any host only when the caller allows it (insecure development mode)."""
    assert canonical_origin("http://partner.example", allow_http=True) == "http://partner.example"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.9", True), ("[::1]", True), ("10.0.0.1", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Loopback names and addresses are recognised."""
    assert is_loopback(host) is loopback
