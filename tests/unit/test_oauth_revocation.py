"""RFC 7009 requests and answers, sans-IO: the revocation request with client authentication
(T-01), and what an answer means (V-02, V-03, V-04)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import pytest

from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import OAuthConfigError
from tokenward.oauth.requests import revocation_request
from tokenward.oauth.revocation import classify_revocation

REVOKE = "https://idp.example.com/oauth/revoke?tenant=t1"
SECRET = "s3:cr+t%2F 1"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}


def _auth(**knobs: Any) -> OAuth2Auth:
    base = {
        "Id": "6f1c2a52-0d2e-4c8e-9a59-3d7c0b4b5c11",
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "AuthoriseUrl": "https://idp.example.com/oauth/authorize",
        "AccessTokenUrl": "https://idp.example.com/oauth/token",
        "RevokeUrl": REVOKE,
    }
    return OAuth2Auth.model_validate(base | knobs)


def _form(body: bytes) -> dict[str, str]:
    pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    assert len(pairs) == len(dict(pairs))
    return dict(pairs)


def test_V01_revocation_request_with_basic_client_authentication() -> None:
    """POST to RevokeUrl (its query kept) with token and hint in a form body; the client id and
    secret form-encoded before base64 in a Basic header, never in the URL (T-01)."""
    request = revocation_request(
        _auth(), client_id="client:1", client_secret=SECRET, token="rt-1", hint="refresh_token"
    )
    assert (request.method, request.url) == ("POST", REVOKE)
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert _form(request.body) == {"token": "rt-1", "token_type_hint": "refresh_token"}
    scheme, _, value = (request.header("authorization") or "").partition(" ")
    user, _, password = base64.b64decode(value).decode().partition(":")
    assert scheme == "Basic"
    assert (unquote_plus(user), unquote_plus(password)) == ("client:1", SECRET)
    assert SECRET not in request.url
    assert "rt-1" not in request.url


def test_V01_client_secret_post_and_public_clients() -> None:
    """client_secret_post puts id and secret in the body; ``none`` sends the id only."""
    post = revocation_request(
        _auth(ClientAuthMethod="client_secret_post"),
        client_id="c",
        client_secret=SECRET,
        token="at-1",
        hint="access_token",
    )
    assert _form(post.body) == {
        "token": "at-1",
        "token_type_hint": "access_token",
        "client_id": "c",
        "client_secret": SECRET,
    }
    assert post.header("authorization") is None
    public = revocation_request(
        _auth(ClientAuthMethod="none"), client_id="c", client_secret=None, token="t", hint=None
    )
    assert _form(public.body) == {"token": "t", "client_id": "c"}


def test_revocation_body_is_a_form_even_for_json_token_connectors() -> None:
    """RFC 7009 defines a form body only; TokenBodyFormat does not apply."""
    request = revocation_request(
        _auth(TokenBodyFormat="json"), client_id="c", client_secret="s", token="t", hint=None
    )
    assert request.header("content-type") == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("knobs", "token"),
    [
        ({"RevokeUrl": None}, "t"),
        ({}, ""),
        ({"RevokeUrl": "https://{{Subdomain}}.example.com/revoke"}, "t"),
        ({"ClientAuthMethod": "client_secret_basic"}, "t"),  # and no secret below
    ],
)
def test_unusable_revocation_setups_are_refused(knobs: dict[str, Any], token: str) -> None:
    """No endpoint, no token, an unresolved merge field or a missing secret: no request."""
    with pytest.raises(OAuthConfigError):
        revocation_request(
            _auth(**knobs), client_id="c", client_secret=None, token=token, hint=None
        )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b""),
        (200, b'{"error":"invalid_token"}'),
        (200, b"not json at all"),
        (204, b""),
    ],
)
def test_V02_200_is_success_whatever_the_body(status: int, body: bytes) -> None:
    """200 (and other 2xx) is success, also with an error body or for an invalid token."""
    assert classify_revocation(status, JSON, body, now=NOW).outcome == "revoked"


def test_V04_unsupported_token_type_is_not_retried() -> None:
    """``unsupported_token_type`` is its own outcome: the caller logs it and stops."""
    body = json.dumps({"error": "unsupported_token_type"}).encode()
    answer = classify_revocation(400, JSON, body, now=NOW)
    assert (answer.outcome, answer.detail) == ("unsupported", "unsupported_token_type")


def test_V03_503_is_retried_with_its_retry_after() -> None:
    """503 leaves the token presumed valid: retry, honouring Retry-After (seconds or date)."""
    seconds = classify_revocation(503, {"Retry-After": "120"}, b"busy", now=NOW)
    date = classify_revocation(503, {"retry-after": "Tue, 01 Jan 2030 00:01:00 GMT"}, b"", now=NOW)
    assert (seconds.outcome, seconds.retry_after, seconds.detail) == ("retry", 120, "HTTP 503")
    assert (date.outcome, date.retry_after) == ("retry", 60)


@pytest.mark.parametrize("status", [400, 401, 429, 500, 502])
def test_other_errors_are_retried(status: int) -> None:
    """Other answers (invalid_client, 5xx, 429) are retried, the error code kept as detail."""
    body = json.dumps({"error": "invalid_client"}).encode()
    answer = classify_revocation(status, JSON, body, now=NOW)
    assert answer.outcome == "retry"
    assert answer.detail == f"HTTP {status} invalid_client"
