"""OAuth 1.0a requests and responses as data (RFC 5849 §2, §3.1, §3.5.1), sans-IO.

* :func:`sign_request` — any request (a temporary-credential or token request, a method or proxy
  call) signed in an ``Authorization: OAuth …`` header; the signature covers the method, the
  URL, its query and a form body (:mod:`.oauth1`). Each signing takes a fresh nonce of 128 bits
  from the CSPRNG and the current Unix time in seconds (SECURITY.md O-05); tests inject both.
* :func:`temporary_credentials_request` (§2.1, with ``oauth_callback``: O-03),
  :func:`authorize_url` (§2.2), :func:`token_request` (§2.3, with ``oauth_verifier``);
* :func:`parse_credentials` — the form-encoded answers of §2.1 and §2.3; a temporary-credential
  answer without ``oauth_callback_confirmed=true`` is refused (O-03).

PLAINTEXT sends the secrets themselves, so it is refused for any URL that is not https (O-02).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tokenward.errors import Failure, OAuthConfigError, OAuthError
from tokenward.oauth.oauth1 import (
    SignatureMethod,
    collect_parameters,
    header_value,
    sign,
    signature_base_string,
)
from tokenward.oauth.requests import HttpRequest

__all__ = [
    "Consumer",
    "Credentials",
    "authorize_url",
    "new_nonce",
    "parse_credentials",
    "sign_request",
    "temporary_credentials_request",
    "token_request",
]

_FORM = "application/x-www-form-urlencoded"
_MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class Consumer:
    """The client credentials (RFC 5849 §1.1): the key, and the secret (for RSA-SHA1 the PEM
    private key). ``send_version``: add the optional ``oauth_version="1.0"`` (RFC 5849 §3.1),
    which some providers still require. Secrets stay out of repr."""

    key: str
    secret: str = field(repr=False)
    signature_method: SignatureMethod = "HMAC-SHA1"
    send_version: bool = True


@dataclass(frozen=True)
class Credentials:
    """Temporary or token credentials as the provider issued them; ``extra`` holds the answer's
    other parameters (e.g. a user id), ``oauth_callback_confirmed`` excluded."""

    token: str = field(repr=False)
    secret: str = field(repr=False)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)


def new_nonce() -> str:
    """128 bits from the CSPRNG, hex (O-05)."""
    return secrets.token_hex(16)


def _check_transport(consumer: Consumer, url: str) -> None:
    if consumer.signature_method == "PLAINTEXT" and urlsplit(url).scheme.lower() != "https":
        raise OAuthConfigError("PLAINTEXT signatures are sent only over https (RFC 5849 §3.4.4)")


def sign_request(
    request: HttpRequest,
    consumer: Consumer,
    *,
    token: str | None = None,
    token_secret: str | None = None,
    extra: Mapping[str, str] | None = None,
    realm: str | None = None,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> HttpRequest:
    """``request`` with its ``Authorization`` header replaced by a signed OAuth one.

    ``extra`` adds protocol parameters (``oauth_callback``, ``oauth_verifier``). The request may
    not carry ``oauth_*`` parameters of its own in its query or form body: they would be sent
    twice, or replace ours."""
    _check_transport(consumer, request.url)
    content_type = request.header("content-type")
    own = collect_parameters(request.url, body=request.body, content_type=content_type)
    if any(name.startswith("oauth_") for name, _ in own):
        raise OAuthConfigError("the request already carries OAuth protocol parameters")
    oauth: dict[str, str] = {
        "oauth_consumer_key": consumer.key,
        "oauth_signature_method": consumer.signature_method,
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_nonce": nonce or new_nonce(),
    }
    if consumer.send_version:
        oauth["oauth_version"] = "1.0"
    if token is not None:
        oauth["oauth_token"] = token
    oauth.update(extra or {})
    base = signature_base_string(request.method, request.url, [*own, *oauth.items()])
    oauth["oauth_signature"] = sign(consumer.signature_method, base, consumer.secret, token_secret)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    headers["Authorization"] = header_value(oauth, realm)
    return HttpRequest(request.method, request.url, MappingProxyType(headers), request.body)


def _post(url: str) -> HttpRequest:
    headers = {"Accept": "application/x-www-form-urlencoded, */*;q=0.5", "Content-Type": _FORM}
    return HttpRequest("POST", url, MappingProxyType(headers), b"")


def temporary_credentials_request(
    url: str,
    consumer: Consumer,
    *,
    callback: str,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> HttpRequest:
    """RFC 5849 §2.1: a signed POST to the temporary-credential endpoint with
    ``oauth_callback`` (O-03)."""
    extra = {"oauth_callback": callback}
    return sign_request(_post(url), consumer, extra=extra, nonce=nonce, timestamp=timestamp)


def token_request(
    url: str,
    consumer: Consumer,
    temporary: Credentials,
    *,
    verifier: str,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> HttpRequest:
    """RFC 5849 §2.3: a POST signed with the temporary credentials and ``oauth_verifier``."""
    return sign_request(
        _post(url),
        consumer,
        token=temporary.token,
        token_secret=temporary.secret,
        extra={"oauth_verifier": verifier},
        nonce=nonce,
        timestamp=timestamp,
    )


def authorize_url(url: str, token: str) -> str:
    """RFC 5849 §2.2: the resource owner authorization URL with ``oauth_token`` added (an
    existing query is kept; one ``oauth_token`` of its own is replaced)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "oauth_token"]
    query = urlencode([*kept, ("oauth_token", token)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _failure(status: int) -> Failure:
    if status in (429,) or status >= 500:
        return Failure.TRANSIENT
    if status in (400, 401, 403):
        return Failure.CONFIG if status == 401 else Failure.PERMANENT
    return Failure.INVALID_RESPONSE


def _problem(body: bytes) -> str | None:
    """The OAuth Problem Reporting extension's ``oauth_problem``, if the answer has one."""
    try:
        fields = dict(parse_qsl(body[:4096].decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None
    problem = fields.get("oauth_problem")
    return problem[:100] if problem and problem.replace("_", "").isalnum() else None


def parse_credentials(status: int, body: bytes, *, temporary: bool) -> Credentials:
    """The credentials of a §2.1 (``temporary``) or §2.3 answer; ``OAuthError`` otherwise.
    Never echoes a value of the answer, only names."""
    if not 200 <= status < 300:
        problem = _problem(body)
        error = problem or f"http_{status}"
        raise OAuthError(
            error, "the provider refused the request", failure=_failure(status), status=status
        )
    if len(body) > _MAX_ANSWER:
        raise OAuthError(
            "invalid_response",
            "the answer is too large",
            failure=Failure.INVALID_RESPONSE,
            status=status,
        )
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        pairs = []
    fields = dict(pairs)
    token, secret = fields.pop("oauth_token", ""), fields.pop("oauth_token_secret", None)
    if not token or secret is None or len(fields) + 2 != len(pairs):
        raise OAuthError(
            "invalid_response",
            "the answer is not a form with one oauth_token and one oauth_token_secret",
            failure=Failure.INVALID_RESPONSE,
            status=status,
        )
    confirmed = fields.pop("oauth_callback_confirmed", None)
    if temporary and confirmed != "true":
        raise OAuthError(
            "callback_not_confirmed",
            "the provider did not confirm oauth_callback (oauth_callback_confirmed is not "
            '"true"): it speaks OAuth 1.0, not 1.0a',
            failure=Failure.INVALID_RESPONSE,
            status=status,
        )
    return Credentials(token, secret, MappingProxyType(fields))
