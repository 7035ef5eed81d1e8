"""Token responses: parsing, error classification and Retry-After (RFC 6749 §5.1-§5.2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.errors import Failure, OAuthError, ProtocolError
from tokenward.oauth.responses import (
    TokenSet,
    classify_error,
    parse_retry_after,
    parse_token_response,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}


def _parse(
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> TokenSet:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    defaults: dict[str, Any] = {"default_expires_in": None, "previous_refresh_token": "old-rt"}
    return parse_token_response(
        status, JSON if headers is None else headers, raw, now=NOW, **(defaults | options)
    )


def _outcome(body: Any, status: int, **options: Any) -> TokenSet | OAuthError:
    """The parse result or the typed error; any other exception propagates and fails the test."""
    try:
        return _parse(body, status, **options)
    except OAuthError as error:
        return error


def _failure(body: Any, status: int = 200, **options: Any) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        _parse(body, status, **options)
    return caught.value


def test_successful_response_becomes_a_token_set() -> None:
    """A complete response gives the token, its type, rotated refresh token, expiry and scope."""
    tokens = _parse(
        {
            "access_token": "at-1",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "rt-2",
            "scope": "read",
        }
    )
    assert tokens.access_token == "at-1"
    assert tokens.token_type == "Bearer"
    assert tokens.refresh_token == "rt-2"
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert tokens.scope == "read"
    assert "at-1" not in repr(tokens)
    assert "rt-2" not in repr(tokens)


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "bearer"},
        {"access_token": "", "token_type": "bearer"},
        {"access_token": 42, "token_type": "bearer"},
        {"access_token": "at"},
        {"access_token": "at", "token_type": "mac"},
        {"access_token": "at", "token_type": "bearer", "expires_in": -5},
        {"access_token": "at", "token_type": "bearer", "expires_in": "soon"},
        {"access_token": "at", "token_type": "bearer", "expires_in": True},
        {"access_token": "at", "token_type": "bearer", "expires_in": 10**400},
        {"access_token": "at", "token_type": "bearer", "expires_in": float("nan")},
        ["access_token", "at"],
    ],
)
def test_t03_unusable_success_is_invalid_response(body: Any) -> None:
    """A 200 without a usable access_token, a declared token_type or a sane expiry is refused."""
    assert _failure(body).failure is Failure.INVALID_RESPONSE


def test_t03_declared_token_type_accepted() -> None:
    """A non-bearer token_type is accepted when the connector declares it."""
    body = {"access_token": "at", "token_type": "DPoP"}
    assert _parse(body, token_types=("bearer", "dpop")).token_type == "DPoP"


@pytest.mark.parametrize(
    ("expires_in", "default", "expected"),
    [
        (None, None, None),
        (None, 7200, NOW + timedelta(hours=2)),
        ("3600", None, NOW + timedelta(hours=1)),
        (59.9, None, NOW + timedelta(seconds=59)),
        (0, None, None),
        ("", 60, NOW + timedelta(minutes=1)),
    ],
)
def test_t04_expiry(expires_in: Any, default: int | None, expected: datetime | None) -> None:
    """Missing (or zero) expires_in means unknown expiry unless DefaultExpiresIn is set."""
    body = {"access_token": "at", "token_type": "bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    assert _parse(body, default_expires_in=default).expires_at == expected


def test_t04_granted_scope_kept_even_when_it_differs() -> None:
    """The granted scope is stored as the provider gave it (a list becomes space-separated)."""
    body = {"access_token": "at", "token_type": "bearer", "scope": ["read", "admin"]}
    assert _parse(body).scope == "read admin"


@pytest.mark.parametrize(
    ("refresh", "expected"), [("rt-new", "rt-new"), (None, "old-rt"), ("", "old-rt")]
)
def test_rt02_refresh_token_rotation(refresh: str | None, expected: str) -> None:
    """A new refresh token replaces the old one; none (or empty) keeps the previous one."""
    body: dict[str, Any] = {"access_token": "at", "token_type": "bearer"}
    if refresh is not None:
        body["refresh_token"] = refresh
    assert _parse(body).refresh_token == expected


def test_t05_unknown_members_kept_in_raw() -> None:
    """Members the engine does not know are kept in raw for the sealed credential blob."""
    body = {"access_token": "at", "token_type": "bearer", "instance_url": "https://x", "n": [1]}
    assert _parse(body).raw == body


def test_form_encoded_response_parsed() -> None:
    """A provider answering form-encoded (declared by Content-Type) is understood."""
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    tokens = _parse(b"access_token=a%2Bt&token_type=bearer&scope=x", headers=headers)
    assert (tokens.access_token, tokens.scope) == ("a+t", "x")


def test_t06_error_response_parsed() -> None:
    """error, error_description and error_uri are read; invalid_grant is permanent."""
    error = _failure(
        {"error": "invalid_grant", "error_description": "revoked", "error_uri": "https://e/x"},
        400,
    )
    assert (error.error, error.description, error.error_uri) == (
        "invalid_grant",
        "revoked",
        "https://e/x",
    )
    assert (error.failure, error.status) == (Failure.PERMANENT, 400)
    assert isinstance(error, ProtocolError)
    assert str(error) == "invalid_grant: revoked"


@pytest.mark.parametrize(
    ("status", "body", "failure", "code"),
    [
        (400, {"error": "invalid_grant"}, Failure.PERMANENT, "invalid_grant"),
        (401, {"error": "invalid_grant"}, Failure.PERMANENT, "invalid_grant"),
        (200, {"error": "invalid_grant"}, Failure.PERMANENT, "invalid_grant"),
        (400, {"error": "invalid_client"}, Failure.CONFIG, "invalid_client"),
        (401, {"error": "invalid_client"}, Failure.CONFIG, "invalid_client"),
        (400, {"error": "unauthorized_client"}, Failure.CONFIG, "unauthorized_client"),
        (400, {"error": "server_error"}, Failure.TRANSIENT, "server_error"),
        (200, {"error": "temporarily_unavailable"}, Failure.TRANSIENT, "temporarily_unavailable"),
        (400, {"error": "something_new"}, Failure.PERMANENT, "something_new"),
        (500, b"<html>oops</html>", Failure.TRANSIENT, "server_error"),
        (502, b"", Failure.TRANSIENT, "server_error"),
        (503, {"error": "invalid_grant"}, Failure.TRANSIENT, "invalid_grant"),
        (429, {"message": "slow down"}, Failure.TRANSIENT, "server_error"),
        (401, b"", Failure.CONFIG, "invalid_response"),
        (403, b"<html>", Failure.INVALID_RESPONSE, "invalid_response"),
        (302, b"", Failure.INVALID_RESPONSE, "invalid_response"),
        (200, b"<html>login</html>", Failure.INVALID_RESPONSE, "invalid_response"),
        (200, {"token_type": "bearer"}, Failure.INVALID_RESPONSE, "invalid_response"),
    ],
)
def test_rt03_rt04_rt05_error_classification(
    status: int, body: Any, failure: Failure, code: str
) -> None:
    """Each answer is classified permanent, config, transient or invalid (errors in 200s too)."""
    error = _failure(body, status)
    assert (error.failure, error.error, error.status) == (failure, code, status)


def test_classify_error_status_wins_for_server_failures() -> None:
    """A 5xx or 429 is transient whatever code it carries; codes are case-insensitive."""
    assert classify_error("invalid_grant", 503) is Failure.TRANSIENT
    assert classify_error("INVALID_CLIENT", 400) is Failure.CONFIG


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120),
        (" 0 ", 0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30),
        ("-5", None),
        ("soon", None),
        ("1.5", None),
        (None, None),
    ],
)
def test_rt05_retry_after_both_forms(value: str | None, expected: int | None) -> None:
    """Retry-After is read as delay-seconds or an HTTP-date; anything else is ignored."""
    assert parse_retry_after(value, now=NOW) == expected


def test_rt05_retry_after_reaches_the_error() -> None:
    """A 429 or 503 carries the provider's Retry-After as seconds."""
    headers = {"retry-after": format_datetime(NOW + timedelta(minutes=2), usegmt=True)}
    with pytest.raises(OAuthError) as caught:
        parse_token_response(
            503, headers, b"", now=NOW, default_expires_in=None, previous_refresh_token=None
        )
    assert (caught.value.failure, caught.value.retry_after) == (Failure.TRANSIENT, 120)


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
)
_TOKEN_DOCS = st.dictionaries(
    st.sampled_from(
        ["access_token", "token_type", "expires_in", "refresh_token", "scope", "error", "x"]
    ),
    _JSON_VALUES,
)


@given(status=st.integers(100, 599), body=st.binary(max_size=200), retry=st.text(max_size=30))
def test_parse_raises_only_typed_errors_on_arbitrary_bytes(
    status: int, body: bytes, retry: str
) -> None:
    """Arbitrary statuses, bodies and Retry-After values give a TokenSet or an OAuthError."""
    outcome = _outcome(body, status, headers={"Retry-After": retry})
    if isinstance(outcome, OAuthError):
        assert outcome.retry_after is None or outcome.retry_after >= 0


@given(status=st.sampled_from([200, 201, 400, 401, 500]), doc=_TOKEN_DOCS)
def test_parse_raises_only_typed_errors_on_arbitrary_members(
    status: int, doc: dict[str, Any]
) -> None:
    """Arbitrary member types (NaN, huge numbers, lists) never escape as foreign exceptions."""
    outcome = _outcome(doc, status)
    if isinstance(outcome, TokenSet):
        assert outcome.access_token
        assert outcome.expires_at is None or outcome.expires_at >= NOW
