"""The Python client's bearer token bookkeeping (tokenward.client.models.BearerToken): when a
token from ``POST /oauth/token`` stops being used (docs/python-client.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tokenward.client.models import BearerToken

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def test_expires_is_read_from_the_rfc1123_date() -> None:
    """``.expires`` (RFC 1123, as Cyclr sends it) sets the end, whatever ``expires_in`` says."""
    body = {"access_token": "t", "expires_in": 60, ".expires": "Wed, 15 May 2030 12:00:00 GMT"}
    token = BearerToken.from_answer(body, NOW)
    assert token.expires == datetime(2030, 5, 15, 12, 0, tzinfo=UTC)


def test_expires_in_is_the_fallback() -> None:
    """Without a readable ``.expires`` the end is now + ``expires_in``."""
    for stamp in (None, "not a date"):
        body = {"access_token": "t", "expires_in": 3600, ".expires": stamp}
        assert BearerToken.from_answer(body, NOW).expires == NOW + timedelta(hours=1)


def test_token_is_replaced_a_minute_before_it_expires() -> None:
    """A token is used until 60 seconds before its end, so none expires on the way."""
    token = BearerToken("secret-bearer", NOW + timedelta(minutes=2))
    assert token.usable(NOW + timedelta(seconds=59))
    assert not token.usable(NOW + timedelta(seconds=60))
    assert "secret-bearer" not in repr(token)  # never printed in logs or tracebacks
