"""The webflow's pure parts: state and binding values, parameter parsing, the targetOrigin
allowlist, the completion's redirect and message, RFC 8414 metadata, PAR, the rate limit."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import pytest

from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import InvalidRequest, OAuthError
from tokenward.oauth.metadata import metadata_url, parse_metadata
from tokenward.oauth.par import par_redirect_url, parse_par_response, pushed_authorization_request
from tokenward.services.webflow_code import new_binding, new_state, valid_binding
from tokenward.services.webflow_completion import (
    Completion,
    Result,
    message_of,
    redirect_location,
)
from tokenward.services.webflow_params import (
    Target,
    canonical_allowlist,
    parse_flow_params,
    resolve_target,
)
from tokenward.web.webflow.ratelimit import RateLimiter

ALLOWED = canonical_allowlist(["https://partner.example", "HTTPS://App.Partner.Example:443/"])
W01_REJECTED = [
    "https://partner.example.evil.com",
    "https://evil.com/partner.example",
    "https://partner.example@evil.com",
    "https://partner.example:8443",
    "http://partner.example",
    "null",
    "*",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://partner.example/path",
    "https://partner.example?x=1",
    "https://partner.example#x",
    "//partner.example",
    "https://partner.example\\@evil.com",
    "https://evil.com\\partner.example",
    " https://partner.example x",
    "https://partner.example</script>",
]


def _decoded_bytes(value: str) -> int:
    return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_F01_a_thousand_states_are_distinct_and_carry_256_random_bits() -> None:
    """1,000 states: all different, each base64url of 32 random bytes (≥ 16 required)."""
    states = [new_state() for _ in range(1000)]
    assert len(set(states)) == 1000
    assert all(_decoded_bytes(s) == 32 for s in states)
    assert all(
        set(s) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for s in states
    )


def test_F02_binding_values_are_256_bit_and_only_well_formed_ones_are_reused() -> None:
    """A binding cookie is 32 random bytes; only values of that shape are ever reused."""
    values = {new_binding() for _ in range(100)}
    assert len(values) == 100
    assert all(valid_binding(v) and _decoded_bytes(v) == 32 for v in values)
    for bad in (None, "", "short", "x" * 44, "a" * 42 + "!"):
        assert not valid_binding(bad)


@pytest.mark.parametrize("origin", ["https://partner.example", "HTTPS://PARTNER.example:443/"])
def test_W01_registered_origin_is_accepted_in_its_canonical_form(origin: str) -> None:
    """postMessage mode: the origin, canonicalised, matches the registered one exactly."""
    target = resolve_target(origin, "done", ALLOWED)
    assert target == Target("postMessage", "https://partner.example", "https://partner.example")


@pytest.mark.parametrize("origin", W01_REJECTED)
def test_W01_matrix_postmessage_mode_rejects_all_but_exact_origins(origin: str) -> None:
    """No prefix, suffix, user-info, port, scheme, wildcard, null or script trick passes."""
    with pytest.raises(InvalidRequest) as refused:
        resolve_target(origin, "done", ALLOWED)
    assert refused.value.code == "invalid_target_origin"


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example.evil.com/done",
        "https://evil.com/partner.example",
        "https://partner.example@evil.com/done",
        "https://partner.example:8443/done",
        "http://partner.example/done",
        "javascript:alert(1)//https://partner.example",
        "data:text/html,https://partner.example",
        "//partner.example/done",
        "https://partner.example\\@evil.com/",
        "null",
        "*",
    ],
)
def test_W01_matrix_redirect_mode_needs_a_url_on_a_registered_origin(url: str) -> None:
    """Redirect mode: the URL's origin must be registered exactly."""
    with pytest.raises(InvalidRequest):
        resolve_target(url, None, ALLOWED)


def test_W01_redirect_mode_keeps_the_partners_path_and_query() -> None:
    """A URL on a registered origin is kept as given (its origin canonical)."""
    target = resolve_target("https://APP.partner.example/done?x=1#top", None, ALLOWED)
    assert target == Target(
        "redirect", "https://app.partner.example", "https://APP.partner.example/done?x=1#top"
    )


def test_W02_missing_target_origin_is_refused() -> None:
    """targetOrigin is required in both modes."""
    for message in ("done", None):
        with pytest.raises(InvalidRequest):
            resolve_target(None, message, ALLOWED)


def test_parameters_bind_case_insensitively_and_tolerate_unencoded_values() -> None:
    """Names in any case; a '+' in the token stays; an unencoded '&' stays in the message; a
    redirect URL keeps its own unencoded query; the first of a repeated name wins."""
    query = (
        "ID=12&TOKEN=ab+cd/ef=&TargetOrigin=https://partner.example/done?x=1&y=2"
        "&CALLBACKMESSAGE=Tom%20&%20Jerry&token=second&errorcallbackmessage=no+luck&utm=1"
    )
    params = parse_flow_params(query)
    assert params.id == "12"
    assert params.token == "ab+cd/ef="
    assert params.target_origin == "https://partner.example/done?x=1&y=2"
    assert params.callback_message == "Tom & Jerry"
    assert params.error_callback_message == "no luck"


def test_form_fields_fill_what_the_query_lacks() -> None:
    """POST bodies carry parameters too; the query wins on a clash."""
    params = parse_flow_params("id=1", {"Id": "2", "Token": "t", "targetOrigin": "https://x.y"})
    assert (params.id, params.token, params.target_origin) == ("1", "t", "https://x.y")


def test_W03_redirect_location_adds_only_the_result_to_the_partners_query() -> None:
    """status, AccountConnectorId and error are added (replacing the partner's own), the rest
    of the URL is kept."""
    completion = Completion(
        "redirect",
        "https://partner.example",
        "https://partner.example/done?x=1&status=old#frag",
        None,
        None,
    )
    ok = redirect_location(completion, Result(7))
    failed = redirect_location(completion, Result(7, "access_denied"))
    assert ok == "https://partner.example/done?x=1&status=success&AccountConnectorId=7#frag"
    parts = urlsplit(failed)
    assert dict(parse_qsl(parts.query)) == {
        "x": "1",
        "status": "error",
        "AccountConnectorId": "7",
        "error": "access_denied",
    }


def test_W05_messages_carry_the_partners_text_or_a_status_only() -> None:
    """Success posts callbackMessage verbatim; failure errorCallbackMessage, else a JSON
    status with type, status, error and AccountConnectorId only."""
    plain = Completion("postMessage", "https://p.example", "https://p.example", "ok!", None)
    custom = Completion("postMessage", "https://p.example", "https://p.example", "ok!", "bad!")
    assert message_of(plain, Result(3)) == "ok!"
    assert message_of(custom, Result(3, "expired")) == "bad!"
    assert json.loads(message_of(plain, Result(3, "expired"))) == {
        "type": "tokenward.connect",
        "status": "error",
        "error": "expired",
        "AccountConnectorId": 3,
    }


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://as.example", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/", "https://as.example/.well-known/oauth-authorization-server"),
        (
            "https://as.example/tenant/1/",
            "https://as.example/.well-known/oauth-authorization-server/tenant/1",
        ),
    ],
)
def test_F10_well_known_goes_between_host_and_path(issuer: str, expected: str) -> None:
    """RFC 8414 §3: the suffix is inserted after the host, the path's trailing '/' dropped."""
    assert metadata_url(issuer) == expected


def test_F10_issuer_must_match_exactly() -> None:
    """A document for another issuer (even by a trailing '/') is refused; a matching one read."""
    doc = {
        "issuer": "https://as.example",
        "authorization_endpoint": "https://as.example/auth",
        "token_endpoint": "https://as.example/token",
        "require_pushed_authorization_requests": True,
        "pushed_authorization_request_endpoint": "https://as.example/par",
        "authorization_response_iss_parameter_supported": True,
    }
    body = json.dumps(doc).encode()
    meta = parse_metadata(200, body, expected_issuer="https://as.example")
    assert meta.token_endpoint == "https://as.example/token"
    assert meta.require_pushed_authorization_requests
    assert meta.authorization_response_iss_parameter_supported
    for expected in ("https://as.example/", "https://AS.example", "https://other.example"):
        with pytest.raises(OAuthError):
            parse_metadata(200, body, expected_issuer=expected)
    with pytest.raises(OAuthError):
        parse_metadata(200, b"[1]", expected_issuer="https://as.example")


def _auth() -> OAuth2Auth:
    return OAuth2Auth.model_validate(
        {
            "Id": "6f1c2a52-0d2e-4c8e-9a59-3d7c0b4b5c11",
            "AuthName": "OAuth 2.0",
            "AuthType": "OAuth2",
            "AuthoriseUrl": "https://as.example/auth",
            "AccessTokenUrl": "https://as.example/token",
        }
    )


def test_F09_pushed_request_carries_every_parameter_with_client_authentication() -> None:
    """The PAR body holds the authorization parameters; the client authenticates with Basic
    (form-encoded id and secret); the browser then gets only client_id and request_uri."""
    url = "https://as.example/auth?response_type=code&client_id=c%3A1&state=s&code_challenge=x"
    request = pushed_authorization_request(
        _auth(),
        "https://as.example/par",
        authorization_url=url,
        client_id="c:1",
        client_secret="s: +%",
    )
    body = dict(parse_qsl(request.body.decode()))
    assert body == {
        "response_type": "code",
        "state": "s",
        "code_challenge": "x",
        "client_id": "c:1",
    }
    basic = base64.b64decode(str(request.header("authorization"))[6:]).decode()
    assert [unquote_plus(part) for part in basic.split(":")] == ["c:1", "s: +%"]
    redirect = par_redirect_url("https://as.example/auth?x=1", client_id="c:1", request_uri="urn:r")
    assert dict(parse_qsl(urlsplit(redirect).query)) == {"client_id": "c:1", "request_uri": "urn:r"}


def test_F09_only_a_201_with_request_uri_is_accepted() -> None:
    """200, 400 or a 201 without request_uri all fail."""
    assert parse_par_response(201, b'{"request_uri":"urn:x","expires_in":60}') == "urn:x"
    for status, body in ((200, b'{"request_uri":"urn:x"}'), (400, b'{"error":"x"}'), (201, b"{}")):
        with pytest.raises(OAuthError):
            parse_par_response(status, body)


def test_C10_token_bucket_refuses_a_burst_and_refills() -> None:
    """A client gets its budget at once, then waits; other clients are not affected."""
    now = [0.0]
    limiter = RateLimiter(3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == 20  # one request every 20 s at 3 a minute
    assert limiter.take("b") is None
    now[0] += 20
    assert limiter.take("a") is None
