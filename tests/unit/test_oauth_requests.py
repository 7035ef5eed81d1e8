"""Authorization URL and token requests built from connector knobs (RFC 6749 §2.3.1, §4, §6)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import OAuthConfigError
from tokenward.oauth.pkce import challenge_s256, new_verifier
from tokenward.oauth.requests import (
    HttpRequest,
    authorization_url,
    refresh_scope,
    token_request_authorization_code,
    token_request_client_credentials,
    token_request_password,
    token_request_refresh,
)

AUTHORISE = "https://idp.example.com/oauth/authorize"
TOKEN = "https://idp.example.com/oauth/token"
REDIRECT = "https://tokenward.example.com/connector/callback"
SECRET = "s3:cr+t%2F 1"  # ':' '+' '%' and a space: each breaks a naive Basic header
_FORM_ENCODED = re.compile(r"[A-Za-z0-9%+\-._*]*")
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


def _auth(**knobs: Any) -> OAuth2Auth:
    base = {
        "Id": "6f1c2a52-0d2e-4c8e-9a59-3d7c0b4b5c11",
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "AuthoriseUrl": AUTHORISE,
        "AccessTokenUrl": TOKEN,
        "Scopes": ["read", "write"],
    }
    return OAuth2Auth.model_validate(base | knobs)


def _url(auth: OAuth2Auth, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "client_id": "client-1",
        "redirect_uri": REDIRECT,
        "state": "st4te",
        "code_challenge": challenge_s256(new_verifier()),
        "scopes": None,
        "extra": None,
    }
    return authorization_url(auth, **(args | overrides))


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


def _form(request: HttpRequest) -> dict[str, str]:
    pairs = parse_qsl(request.body.decode("ascii"), strict_parsing=True)
    assert len(pairs) == len(dict(pairs)), "no parameter twice"
    return dict(pairs)


def _strict_basic(request: HttpRequest) -> tuple[str, str]:
    """Decode client_secret_basic the way a strict authorization server does."""
    scheme, _, encoded = (request.header("authorization") or "").partition(" ")
    assert scheme == "Basic"
    decoded = base64.b64decode(encoded, validate=True).decode("ascii")
    user, secret = decoded.split(":")  # exactly one ':' survives form-encoding
    assert _FORM_ENCODED.fullmatch(user)
    assert _FORM_ENCODED.fullmatch(secret)
    return unquote_plus(user), unquote_plus(secret)


def _code_request(auth: OAuth2Auth, **overrides: Any) -> HttpRequest:
    args: dict[str, Any] = {
        "client_id": "client-1",
        "client_secret": SECRET,
        "code": "c0de",
        "redirect_uri": REDIRECT,
        "code_verifier": new_verifier(),
    }
    return token_request_authorization_code(auth, **(args | overrides))


def test_authorization_url_carries_the_protocol_parameters() -> None:
    """The URL has response_type=code, client, redirect URI, scopes, state and an S256 challenge."""
    verifier = new_verifier()
    url = _url(_auth(), code_challenge=challenge_s256(verifier))
    assert _query(url) == {
        "response_type": ["code"],
        "client_id": ["client-1"],
        "redirect_uri": [REDIRECT],
        "scope": ["read write"],
        "state": ["st4te"],
        "code_challenge": [challenge_s256(verifier)],
        "code_challenge_method": ["S256"],
    }
    assert verifier not in url  # F-05: only the challenge goes to the browser


def test_f08_existing_query_preserved_verbatim() -> None:
    """An endpoint's own query string is kept byte for byte and ours is appended after it."""
    url = _url(_auth(AuthoriseUrl=AUTHORISE + "?tenant=a%2Fb&flag"))
    assert url.startswith(AUTHORISE + "?tenant=a%2Fb&flag&response_type=code&")
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)  # 'flag' has no '='
    assert query["tenant"] == ["a/b"]
    assert query["flag"] == [""]


@given(state=_TEXT, hint=_TEXT)
def test_f08_values_are_encoded_by_the_library(state: str, hint: str) -> None:
    """Any state or extra value parses back exactly: nothing is string-concatenated."""
    url = _url(_auth(AuthoriseUrl=AUTHORISE + "?a=1"), state=state, extra={"login_hint": hint})
    query = _query(url)
    assert query["state"] == [state]
    assert query["login_hint"] == [hint]
    assert query["a"] == ["1"]


@pytest.mark.parametrize(
    "endpoint",
    [
        AUTHORISE + "?state=fixed",
        AUTHORISE + "?Redirect_Uri=https://evil.example",
        AUTHORISE + "#frag",
        "https://{{Subdomain}}.example.com/authorize",
        "/relative/authorize",
    ],
)
def test_f08_unsafe_endpoint_refused(endpoint: str) -> None:
    """An endpoint that presets a protocol parameter, has a fragment or is unresolved is refused."""
    with pytest.raises(OAuthConfigError):
        _url(_auth(AuthoriseUrl=endpoint))


def test_scope_separator_and_authorise_params_honoured() -> None:
    """ScopeSeparator joins the scopes and AuthoriseParams are appended."""
    auth = _auth(ScopeSeparator=",", AuthoriseParams={"access_type": "offline", "prompt": 1})
    query = _query(_url(auth))
    assert query["scope"] == ["read,write"]
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["1"]


def test_empty_scopes_send_no_scope() -> None:
    """Without scopes the scope parameter is left out rather than sent empty."""
    assert "scope" not in _query(_url(_auth(Scopes=[])))


@pytest.mark.parametrize(
    ("knobs", "extra"),
    [({"AuthoriseParams": {"state": "x"}}, None), ({}, {"Code_Challenge": "x"})],
)
def test_authorise_params_cannot_override_protocol(
    knobs: dict[str, Any], extra: dict[str, str] | None
) -> None:
    """A knob or extra value naming a protocol parameter is refused, not merged."""
    with pytest.raises(OAuthConfigError, match="protocol parameters"):
        _url(_auth(**knobs), extra=extra)


def test_f04_pkce_none_sends_no_challenge_and_s256_requires_one() -> None:
    """Pkce: none omits the challenge; Pkce: S256 without a challenge is refused."""
    query = _query(_url(_auth(Pkce="none"), code_challenge=None))
    assert "code_challenge" not in query
    assert "code_challenge_method" not in query
    with pytest.raises(OAuthConfigError, match="code_challenge"):
        _url(_auth(), code_challenge=None)


def test_t01_basic_auth_form_encodes_before_base64() -> None:
    """client_secret_basic survives ':' '+' '%' and space in id and secret under strict decoding."""
    request = _code_request(_auth(), client_id="app:id+1 %")
    assert _strict_basic(request) == ("app:id+1 %", SECRET)
    assert "client_secret" not in _form(request)
    assert "client_id" not in _form(request)


def test_t01_client_secret_post_puts_credentials_in_the_body() -> None:
    """client_secret_post sends id and secret in the body and no Authorization header."""
    request = _code_request(_auth(ClientAuthMethod="client_secret_post"))
    assert request.header("Authorization") is None
    assert _form(request)["client_id"] == "client-1"
    assert _form(request)["client_secret"] == SECRET


def test_t01_public_client_sends_only_its_id() -> None:
    """ClientAuthMethod none sends the client id and no secret anywhere."""
    request = _code_request(_auth(ClientAuthMethod="none"))
    assert request.header("Authorization") is None
    assert _form(request)["client_id"] == "client-1"
    assert SECRET not in request.body.decode("ascii")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_t01_confidential_method_without_secret_refused(method: str) -> None:
    """A confidential client auth method without a secret is a configuration error."""
    with pytest.raises(OAuthConfigError, match="client secret"):
        _code_request(_auth(ClientAuthMethod=method), client_secret=None)


def test_t02_code_exchange_body() -> None:
    """The code exchange sends grant_type, code, the identical redirect_uri and the verifier."""
    verifier = new_verifier()
    request = _code_request(_auth(TokenParams={"audience": "api"}), code_verifier=verifier)
    assert (request.method, request.url) == ("POST", TOKEN)
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert request.header("accept") == "application/json"
    assert _form(request) == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "audience": "api",
    }


def test_t02_pkce_none_sends_no_verifier_and_s256_requires_a_valid_one() -> None:
    """Pkce: none omits code_verifier; S256 refuses a missing or malformed verifier."""
    assert "code_verifier" not in _form(_code_request(_auth(Pkce="none"), code_verifier=None))
    with pytest.raises(OAuthConfigError, match="code_verifier"):
        _code_request(_auth(), code_verifier="too-short")


def test_json_body_with_basic_auth() -> None:
    """TokenBodyFormat json and client_secret_basic are independent switches (Notion)."""
    request = _code_request(_auth(TokenBodyFormat="json", Pkce="none"), code_verifier=None)
    assert request.header("Content-Type") == "application/json"
    assert json.loads(request.body) == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": REDIRECT,
    }
    assert _strict_basic(request) == ("client-1", SECRET)


def test_token_params_cannot_override_protocol() -> None:
    """TokenParams naming grant_type (or any protocol parameter) are refused."""
    with pytest.raises(OAuthConfigError, match="protocol parameters"):
        _code_request(_auth(TokenParams={"Grant_Type": "password"}))


def test_token_endpoint_query_kept_and_secrets_stay_out_of_the_url() -> None:
    """A token endpoint's query is kept; no secret, code or verifier is ever put in the URL."""
    auth = _auth(AccessTokenUrl=TOKEN + "?api-version=2", ClientAuthMethod="client_secret_post")
    verifier = new_verifier()
    request = _code_request(auth, code_verifier=verifier)
    assert request.url == TOKEN + "?api-version=2"
    for secret in (SECRET, "c0de", verifier):
        assert secret not in request.url
        assert secret not in repr(request)


def test_rt01_refresh_request() -> None:
    """A refresh goes to RefreshTokenUrl with RefreshParams and a narrowing scope only."""
    auth = _auth(
        RefreshTokenUrl="https://idp.example.com/refresh",
        TokenParams={"audience": "api"},
        RefreshParams={"expiring": 1},
    )
    request = token_request_refresh(
        auth,
        client_id="client-1",
        client_secret=SECRET,
        refresh_token="rt-1",
        scopes=["read"],
        granted_scope="read write",
    )
    assert request.url == "https://idp.example.com/refresh"
    assert _form(request) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "scope": "read",
        "expiring": "1",
    }
    assert _strict_basic(request) == ("client-1", SECRET)


@pytest.mark.parametrize(
    ("requested", "granted", "expected"),
    [
        (["read"], "read write", ["read"]),
        (["read", "write"], "write read", ["read", "write"]),
        (["read", "admin"], "read write", None),
        (["read"], None, None),
        ([], "read", None),
        (None, "read", None),
        (["read", "write"], "read,write", ["read", "write"]),
    ],
)
def test_rt01_scope_only_if_subset_of_grant(
    requested: list[str] | None, granted: str | None, expected: list[str] | None
) -> None:
    """A refresh asks for a scope only when every scope is known to be granted."""
    assert refresh_scope(requested, granted, separator=",") == expected


def test_rt01_wider_scope_dropped_from_refresh() -> None:
    """A refresh asking beyond the grant sends no scope at all (the original grant is re-issued)."""
    request = token_request_refresh(
        _auth(),
        client_id="c",
        client_secret="s",
        refresh_token="rt",
        scopes=["admin"],
        granted_scope="read",
    )
    assert "scope" not in _form(request)
    assert request.url == TOKEN


def test_rt01_empty_refresh_token_refused() -> None:
    """Refreshing without a refresh token is refused before anything is sent."""
    with pytest.raises(OAuthConfigError):
        token_request_refresh(_auth(), client_id="c", client_secret="s", refresh_token="")


def test_client_credentials_request() -> None:
    """The client credentials grant sends the connector's scopes and TokenParams."""
    auth = _auth(OAuth2Type="ClientCredentials", AuthoriseUrl=None, TokenParams={"resource": "r"})
    request = token_request_client_credentials(auth, client_id="c", client_secret="s")
    assert _form(request) == {
        "grant_type": "client_credentials",
        "scope": "read write",
        "resource": "r",
    }


def test_password_request_keeps_the_password_out_of_the_url() -> None:
    """The password grant sends username and password in the body only."""
    auth = _auth(OAuth2Type="PasswordCredentials", ClientAuthMethod="client_secret_post")
    request = token_request_password(
        auth, client_id="c", client_secret="s", username="u@x", password="p w:d", scopes=[]
    )
    assert _form(request) == {
        "grant_type": "password",
        "username": "u@x",
        "password": "p w:d",
        "client_id": "c",
        "client_secret": "s",
    }
    assert "p w" not in request.url


@pytest.mark.parametrize("response_type", ["token", "id_token token", "code token"])
def test_f07_only_the_code_response_type_is_ever_requested(response_type: str) -> None:
    """No implicit or hybrid grant: ``response_type`` is ours, a knob cannot change it."""
    assert _query(_url(_auth()))["response_type"] == ["code"]
    with pytest.raises(OAuthConfigError):
        _url(_auth(AuthoriseParams={"response_type": response_type}))
    with pytest.raises(OAuthConfigError):
        _url(_auth(), extra={"response_type": response_type})
