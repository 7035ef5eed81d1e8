"""Pushed authorization requests (RFC 9126), sans-IO.

When the authorization server requires PAR (SECURITY.md F-09) every authorization parameter —
state, PKCE challenge, redirect URI, scope — is POSTed to the PAR endpoint with client
authentication; the answer must be **201** with a ``request_uri`` (and ``expires_in``), and the
browser is then sent to the authorization endpoint with only ``client_id`` and ``request_uri``.
Any other answer fails the flow: no redirect happens.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import Failure, OAuthConfigError, OAuthError
from tokenward.oauth.requests import (
    HttpRequest,
    _client_auth,  # the one client-authentication rule (T-01) shared with token requests
)

__all__ = ["par_redirect_url", "parse_par_response", "pushed_authorization_request"]

_MAX_BODY = 64 * 1024


def pushed_authorization_request(
    auth: OAuth2Auth,
    endpoint: str,
    *,
    authorization_url: str,
    client_id: str,
    client_secret: str | None,
) -> HttpRequest:
    """The PAR POST carrying every parameter of ``authorization_url`` (as built by
    :func:`tokenward.oauth.requests.authorization_url`) in the body, with client
    authentication as the token endpoint uses it (RFC 9126 §2.1)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise OAuthConfigError("the PAR endpoint must be an absolute http(s) URL")
    params = parse_qsl(urlsplit(authorization_url).query, keep_blank_values=True)
    headers, client_params = _client_auth(auth, client_id, client_secret)
    pairs = [(k, v) for k, v in params if k != "client_id"] + client_params
    if not any(k == "client_id" for k, _ in pairs):
        pairs.append(("client_id", client_id))
    headers["Accept"] = "application/json"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return HttpRequest(
        "POST", endpoint, MappingProxyType(headers), urlencode(pairs).encode("ascii")
    )


def parse_par_response(status: int, body: bytes) -> str:
    """The ``request_uri`` of a 201 answer (RFC 9126 §2.2); anything else is an
    ``OAuthError`` (the provider's ``error`` when it sent one)."""
    doc: object = None
    if len(body) <= _MAX_BODY:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            doc = None
    if status != 201:
        code = doc.get("error") if isinstance(doc, dict) else None
        error = code if isinstance(code, str) and code else "invalid_par_response"
        raise OAuthError(error[:100], f"HTTP {status}", failure=Failure.INVALID_RESPONSE)
    uri = doc.get("request_uri") if isinstance(doc, dict) else None
    if not isinstance(uri, str) or not uri:
        raise OAuthError(
            "invalid_par_response",
            "the answer has no request_uri",
            failure=Failure.INVALID_RESPONSE,
            status=status,
        )
    return uri


def par_redirect_url(authorization_endpoint: str, *, client_id: str, request_uri: str) -> str:
    """The authorization endpoint with only ``client_id`` and ``request_uri`` (RFC 9126 §4)."""
    parts = urlsplit(authorization_endpoint)
    query = urlencode([("client_id", client_id), ("request_uri", request_uri)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
