"""The OAuth 1.0a engine (SECURITY.md O-01, O-02, O-03, O-05): RFC 5849's worked examples and
oauthlib's test vectors reproduced byte for byte, and oauthlib's own client agreeing with ours
on random requests."""

from __future__ import annotations

import time
from types import MappingProxyType
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oauthlib.oauth1 import Client as OAuthlibClient

from tokenward.errors import OAuthConfigError, OAuthError
from tokenward.oauth.oauth1 import (
    authorization_params,
    base_string_uri,
    collect_parameters,
    encode,
    normalize_parameters,
    sign,
    signature_base_string,
    signing_key,
)
from tokenward.oauth.oauth1_requests import (
    Consumer,
    Credentials,
    authorize_url,
    parse_credentials,
    sign_request,
    temporary_credentials_request,
    token_request,
)
from tokenward.oauth.requests import HttpRequest

# RFC 5849 §3.4.1.1 (and the tables of §3.4.1.3.1, §3.4.1.3.2), as oauthlib's tests use them
EG_URL = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
EG_BODY = b"c2&a3=2+q"
EG_HEADER = (
    'OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2",'
    ' oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1",'
    ' oauth_timestamp="137131201", oauth_nonce="7d8f3e4a",'
    ' oauth_signature="djosJKDKJSD8743243%2Fjdk33klY%3D"'
)
EG_PARAMS = [
    ("b5", "=%3D"),
    ("a3", "a"),
    ("c@", ""),
    ("a2", "r b"),
    ("oauth_consumer_key", "9djdj82h48djs9d2"),
    ("oauth_token", "kkk9d7dh3k39sjv7"),
    ("oauth_signature_method", "HMAC-SHA1"),
    ("oauth_timestamp", "137131201"),
    ("oauth_nonce", "7d8f3e4a"),
    ("c2", ""),
    ("a3", "2 q"),
]
EG_NORMALIZED = (
    "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2"
    "&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201"
    "&oauth_token=kkk9d7dh3k39sjv7"
)
EG_BASE_STRING = (
    "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
    "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
    "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
    "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
    "9d7dh3k39sjv7"
)
# oauthlib tests/oauth1/rfc5849/test_signatures.py
CLIENT_SECRET = "ECrDNoq1VYzzzzzzzzzyAK7TwZNtPnkqatqZZZZ"
TOKEN_SECRET = "just-a-string    asdasd"
RSA_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDk1/bxyS8Q8jiheHeYYp/4rEKJopeQRRKKpZI4s5i+UPwVpupG
AlwXWfzXwSMaKPAoKJNdu7tqKRniqst5uoHXw98gj0x7zamu0Ck1LtQ4c7pFMVah
5IYGhBi2E9ycNS329W27nJPWNCbESTu7snVlG8V8mfvGGg3xNjTMO7IdrwIDAQAB
AoGBAOQ2KuH8S5+OrsL4K+wfjoCi6MfxCUyqVU9GxocdM1m30WyWRFMEz2nKJ8fR
p3vTD4w8yplTOhcoXdQZl0kRoaDzrcYkm2VvJtQRrX7dKFT8dR8D/Tr7dNQLOXfC
DY6xveQczE7qt7Vk7lp4FqmxBsaaEuokt78pOOjywZoInjZhAkEA9wz3zoZNT0/i
rf6qv2qTIeieUB035N3dyw6f1BGSWYaXSuerDCD/J1qZbAPKKhyHZbVawFt3UMhe
542UftBaxQJBAO0iJy1I8GQjGnS7B3yvyH3CcLYGy296+XO/2xKp/d/ty1OIeovx
C60pLNwuFNF3z9d2GVQAdoQ89hUkOtjZLeMCQQD0JO6oPHUeUjYT+T7ImAv7UKVT
Suy30sKjLzqoGw1kR+wv7C5PeDRvscs4wa4CW9s6mjSrMDkDrmCLuJDtmf55AkEA
kmaMg2PNrjUR51F0zOEFycaaqXbGcFwe1/xx9zLmHzMDXd4bsnwt9kk+fe0hQzVS
JzatanQit3+feev1PN3QewJAWv4RZeavEUhKv+kLe95Yd0su7lTLVduVgh4v5yLT
Ga6FHdjGPcfajt+nrpB1n8UQBEH9ZxniokR/IPvdMlxqXA==
-----END RSA PRIVATE KEY-----
"""
FORM = MappingProxyType({"Content-Type": "application/x-www-form-urlencoded"})

# RFC 5849 §1.2: the printer and the photo site
PRINTER = Consumer("dpf43f3p2l4k3l03", "kd94hf93k423kf44", send_version=False)


def _auth(request: HttpRequest) -> dict[str, str]:
    return dict(authorization_params(request.header("authorization")))


def test_O01_rfc5849_3_4_1_base_string_reproduced() -> None:
    """O-01: the §3.4.1.1 request gives the RFC's parameters, normalized string and base string."""
    params = collect_parameters(
        EG_URL,
        authorization=EG_HEADER,
        body=EG_BODY,
        content_type="application/x-www-form-urlencoded",
    )
    assert sorted(params) == sorted(EG_PARAMS)
    assert normalize_parameters(params) == EG_NORMALIZED
    assert signature_base_string("POST", EG_URL, params) == EG_BASE_STRING


@pytest.mark.parametrize("method", ["POST", "Post", "post", "pOST"])
def test_O01_method_is_upper_case(method: str) -> None:
    """O-01: the method is upper-cased in the base string, whatever case it came in."""
    assert signature_base_string(method, EG_URL, EG_PARAMS) == EG_BASE_STRING


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://EXAMPLE.COM:80/r%20v/X?id=123", "http://example.com/r%20v/X"),  # §3.4.1.2
        ("https://www.example.net:8080/?q=1", "https://www.example.net:8080/"),  # §3.4.1.2
        ("HTTPS://Www.Example.com:443/a#frag", "https://www.example.com/a"),
        ("http://example.com:443/", "http://example.com:443/"),
        ("https://example.com", "https://example.com/"),
        ("https://user:pw@example.com/p", "https://example.com/p"),
        ("https://[2001:db8::5]:13000/x", "https://[2001:db8::5]:13000/x"),
    ],
)
def test_O01_base_string_uri(url: str, expected: str) -> None:
    """O-01: lower-case scheme and host, no default port, query, fragment or user info."""
    assert base_string_uri(url) == expected


def test_O01_percent_encoding_unreserved_set_and_upper_hex() -> None:
    """O-01: only A-Z a-z 0-9 - . _ ~ stay; everything else is UTF-8 %XX in upper-case hex."""
    assert encode("AZaz09-._~") == "AZaz09-._~"
    assert encode(" !*'()+/:=&%") == "%20%21%2A%27%28%29%2B%2F%3A%3D%26%25"
    assert encode("é☃") == "%C3%A9%E2%98%83"


@given(st.text())
def test_O01_percent_encoding_round_trips(value: str) -> None:
    """O-01: encoding is reversible and leaves nothing but unreserved characters and %XX."""
    encoded = encode(value)
    assert unquote(encoded) == value
    stripped = encoded.replace("%", "")
    assert all(c.isascii() and (c.isalnum() or c in "-._~") for c in stripped)
    hex_digits = [encoded[i + 1 : i + 3] for i, c in enumerate(encoded) if c == "%"]
    assert all(h == h.upper() for h in hex_digits)


def test_O01_body_counts_only_when_form_encoded() -> None:
    """O-01: a JSON (or multipart) body is not part of the signature; a form body is."""
    form = collect_parameters(
        "https://a.example/x",
        body=b"a=1",
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    json_body = collect_parameters(
        "https://a.example/x", body=b"a=1", content_type="application/json"
    )
    assert form == [("a", "1")]
    assert json_body == []


def test_O01_realm_and_signature_are_excluded() -> None:
    """O-01: the Authorization header's realm and oauth_signature are not signed."""
    names = [name for name, _ in collect_parameters("https://a.example/", authorization=EG_HEADER)]
    assert "realm" not in names
    assert "oauth_signature" not in names
    assert "oauth_nonce" in names


def test_O01_rfc5849_1_2_flow_reproduced() -> None:
    """O-01: the three signed requests of RFC 5849 §1.2 carry the RFC's signatures exactly."""
    initiate = temporary_credentials_request(
        "https://photos.example.net/initiate",
        PRINTER,
        callback="http://printer.example.com/ready",
        nonce="wIjqoS",
        timestamp=137131200,
    )
    assert _auth(initiate)["oauth_signature"] == "74KNZJeDHnMBp0EMJ9ZHt/XKycU="
    assert 'oauth_callback="http%3A%2F%2Fprinter.example.com%2Fready"' in str(
        initiate.header("authorization")
    )
    temporary = parse_credentials(
        200,
        b"oauth_token=hh5s93j4hdidpola&oauth_token_secret=hdhd0244k9j7ao03"
        b"&oauth_callback_confirmed=true",
        temporary=True,
    )
    assert (temporary.token, temporary.secret) == ("hh5s93j4hdidpola", "hdhd0244k9j7ao03")
    assert (
        authorize_url("https://photos.example.net/authorize", temporary.token)
        == "https://photos.example.net/authorize?oauth_token=hh5s93j4hdidpola"
    )
    exchange = token_request(
        "https://photos.example.net/token",
        PRINTER,
        temporary,
        verifier="hfdp7dh39dks9884",
        nonce="walatlh",
        timestamp=137131201,
    )
    assert _auth(exchange)["oauth_signature"] == "gKgrFCywp7rO0OXSjdot/IHF7IU="
    assert _auth(exchange)["oauth_verifier"] == "hfdp7dh39dks9884"
    token = parse_credentials(
        200, b"oauth_token=nnch734d00sl2jdk&oauth_token_secret=pfkkdhi9sl3r4s00", temporary=False
    )
    call = sign_request(
        HttpRequest("GET", "http://photos.example.net/photos?file=vacation.jpg&size=original", {}),
        PRINTER,
        token=token.token,
        token_secret=token.secret,
        nonce="chapoH",
        timestamp=137131202,
    )
    assert _auth(call)["oauth_signature"] == "MdpQcU8iPSUjWoN/UDMsK2sui9I="


def test_O02_hmac_key_and_oauthlib_vectors() -> None:
    """O-02: key = encoded client secret & encoded token secret; oauthlib's HMAC vectors."""
    assert (
        signing_key(CLIENT_SECRET, TOKEN_SECRET)
        == f"{CLIENT_SECRET}&just-a-string%20%20%20%20asdasd"
    )
    assert signing_key("a&b", None) == "a%26b&"
    assert (
        sign("HMAC-SHA1", EG_BASE_STRING, CLIENT_SECRET, TOKEN_SECRET)
        == "wsdNmjGB7lvis0UJuPAmjvX/PXw="
    )
    assert (
        sign("HMAC-SHA256", EG_BASE_STRING, CLIENT_SECRET, TOKEN_SECRET)
        == "wdfdHUKXHbOnOGZP8WFAWMSAmWzN3EVBWWgXGlC/Eo4="
    )


def test_O02_rsa_sha1_and_plaintext_oauthlib_vectors() -> None:
    """O-02: RSA-SHA1 with the consumer's private key and PLAINTEXT match oauthlib's vectors."""
    assert sign("RSA-SHA1", EG_BASE_STRING, RSA_KEY, None) == (
        "mFY2KOEnlYWsTvUA+5kxuBIcvBYXu+ljw9ttVJQxKduMueGSVPCB1tK1PlqVLK738"
        "HK0t19ecBJfb6rMxUwrriw+MlBO+jpojkZIWccw1J4cAb4qu4M81DbpUAq4j/1w/Q"
        "yTR4TWCODlEfN7Zfgy8+pf+TjiXfIwRC1jEWbuL1E="
    )
    assert sign("PLAINTEXT", "ignored", CLIENT_SECRET, TOKEN_SECRET) == (
        "ECrDNoq1VYzzzzzzzzzyAK7TwZNtPnkqatqZZZZ&just-a-string%20%20%20%20asdasd"
    )


@pytest.mark.parametrize("breaks", [" ", "\\n", "\r\n"])
def test_O02_rsa_key_on_one_line(breaks: str) -> None:
    """O-02: a PEM key kept on one line (breaks as spaces or a literal \\n) signs the same."""
    one_line = RSA_KEY.replace("\n", breaks)
    assert sign("RSA-SHA1", EG_BASE_STRING, one_line, None) == sign(
        "RSA-SHA1", EG_BASE_STRING, RSA_KEY, None
    )


def test_O02_rsa_sha1_needs_a_private_key() -> None:
    """O-02: an RSA-SHA1 consumer whose secret is not a PEM private key cannot sign."""
    with pytest.raises(OAuthConfigError, match="RSA private key"):
        sign("RSA-SHA1", EG_BASE_STRING, "not a key", None)


def test_O02_plaintext_only_over_https() -> None:
    """O-02: PLAINTEXT is refused for an http URL and allowed for https."""
    consumer = Consumer("key", "secret", "PLAINTEXT")
    with pytest.raises(OAuthConfigError, match="https"):
        sign_request(HttpRequest("GET", "http://api.example.com/me", {}), consumer)
    signed = sign_request(
        HttpRequest("GET", "https://api.example.com/me", {}), consumer, token="t", token_secret="s"
    )
    assert _auth(signed)["oauth_signature"] == "secret&s"


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"])
def test_O02_oauthlib_client_agrees(method: str) -> None:
    """O-02: oauthlib's client, given the same nonce and timestamp, signs exactly as we do."""
    secret = RSA_KEY if method == "RSA-SHA1" else "c s+%"
    consumer = Consumer("ck", secret, method)  # type: ignore[arg-type]
    url = "https://API.example.com:443/v1/items?q=a+b&z=%2F&q=0"
    body = b"name=J%C3%B8rn&x=1+2"
    ours = sign_request(
        HttpRequest("POST", url, FORM, body),
        consumer,
        token="tk",
        token_secret="t&s",
        nonce="n0nce",
        timestamp=1700000000,
    )
    theirs = OAuthlibClient(
        "ck",
        client_secret=None if method == "RSA-SHA1" else secret,
        resource_owner_key="tk",
        resource_owner_secret="t&s",
        signature_method=method,
        rsa_key=RSA_KEY if method == "RSA-SHA1" else None,
        nonce="n0nce",
        timestamp="1700000000",
    )
    _, headers, _ = theirs.sign(url, "POST", body.decode(), dict(FORM))
    assert (
        _auth(ours)["oauth_signature"]
        == dict(authorization_params(headers["Authorization"]))["oauth_signature"]
    )


def test_O02_request_with_own_oauth_parameters_is_refused() -> None:
    """O-02: a call whose query already names an oauth_ parameter is refused, never signed."""
    with pytest.raises(OAuthConfigError, match="OAuth protocol parameters"):
        sign_request(HttpRequest("GET", "https://a.example/x?oauth_token=evil", {}), PRINTER)


def test_O03_temporary_request_carries_oauth_callback() -> None:
    """O-03: the temporary-credential request is a signed POST with oauth_callback."""
    request = temporary_credentials_request(
        "https://p.example/initiate", PRINTER, callback="https://tw.example/connector/callback"
    )
    assert request.method == "POST"
    assert _auth(request)["oauth_callback"] == "https://tw.example/connector/callback"


@pytest.mark.parametrize(
    "body",
    [
        b"oauth_token=t&oauth_token_secret=s",
        b"oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=false",
        b"oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=TRUE",
    ],
)
def test_O03_missing_callback_confirmed_aborts(body: bytes) -> None:
    """O-03: a temporary-credential answer without oauth_callback_confirmed=true is refused."""
    with pytest.raises(OAuthError) as caught:
        parse_credentials(200, body, temporary=True)
    assert caught.value.error == "callback_not_confirmed"
    assert "s" not in str(caught.value).split(":")[0]  # the code names no value


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, b"oauth_problem=signature_invalid", "signature_invalid"),
        (503, b"busy", "http_503"),
        (200, b'{"oauth_token": "t"}', "invalid_response"),
        (200, b"oauth_token=t", "invalid_response"),
        (200, b"oauth_token=t&oauth_token=u&oauth_token_secret=s", "invalid_response"),
    ],
)
def test_unusable_answers_are_refused(status: int, body: bytes, error: str) -> None:
    """An error status, a non-form body or a missing/repeated credential is an OAuthError."""
    with pytest.raises(OAuthError) as caught:
        parse_credentials(status, body, temporary=False)
    assert caught.value.error == error


def test_token_answer_keeps_extra_parameters() -> None:
    """A token answer's other parameters (a user id) are kept; the credentials are read."""
    found = parse_credentials(200, b"oauth_token=a&oauth_token_secret=&user_id=42", temporary=False)
    assert found == Credentials("a", "", {"user_id": "42"})


def test_authorize_url_keeps_existing_query() -> None:
    """The authorize URL keeps its own query and gets exactly one oauth_token."""
    url = authorize_url("https://p.example/authorize?name=App&oauth_token=old", "t k")
    assert url == "https://p.example/authorize?name=App&oauth_token=t+k"


def test_O05_fresh_nonce_and_current_timestamp() -> None:
    """O-05: two signings never share a nonce, and the timestamp is the current Unix second."""
    request = HttpRequest("GET", "https://a.example/", {})
    before = int(time.time())
    first, second = (
        _auth(sign_request(request, PRINTER, token="t", token_secret="s")) for _ in range(2)
    )
    after = int(time.time())
    assert first["oauth_nonce"] != second["oauth_nonce"]
    assert len(first["oauth_nonce"]) == 32
    assert before <= int(first["oauth_timestamp"]) <= after
    assert first["oauth_signature"] != second["oauth_signature"]
