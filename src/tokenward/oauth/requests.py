"""OAuth 2.0 requests as data: the authorization URL, the token-endpoint requests and token
revocation (RFC 7009).

Nothing here sends anything (STYLE.md habit 1): builders turn ``OAuth2Auth`` knobs (DESIGN.md
§6, QUIRKS.md) into a URL or an :class:`HttpRequest` for the one transport module. Parameters are
encoded by ``urllib.parse``, never concatenated; secrets travel only in a header or a body, never
in a URL (RFC 6749 §2.3.1, SECURITY.md T-01, F-05).

Endpoint URLs must have their ``{{Merge}}`` fields resolved (``catalog/urls.py``) beforehand:
pass a copy, e.g. ``auth.model_copy(update={"AccessTokenUrl": url})``; unresolved ones are refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from tokenward.catalog.schema import MERGE_FIELD, OAuth2Auth
from tokenward.errors import OAuthConfigError
from tokenward.oauth.pkce import CHALLENGE_METHOD, is_valid_verifier

__all__ = [
    "HttpRequest",
    "authorization_url",
    "refresh_scope",
    "revocation_request",
    "token_request_authorization_code",
    "token_request_client_credentials",
    "token_request_password",
    "token_request_refresh",
]

Pairs = list[tuple[str, str]]

# Names the protocol owns: a knob (AuthoriseParams, TokenParams, RefreshParams) or a
# pre-existing query string may not set them, or it could replace our state, redirect URI or
# PKCE challenge (RFC 6749 §10.12, RFC 7636 §4.3).
_AUTHORISE_OWNED = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state"}
    | {"code_challenge", "code_challenge_method"}
)
_TOKEN_OWNED = frozenset(
    {"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope"}
    | {"client_id", "client_secret", "username", "password"}
)

# Kept literally in an unencoded scope: separators and the characters scope URIs use.
_RAW_SCOPE_SAFE = ",+:/.!*'()~-_"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request for the transport to send. Headers and body may hold secrets: not in repr."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def authorization_url(
    auth: OAuth2Auth,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str | None,
    scopes: Sequence[str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The URL the browser is sent to (RFC 6749 §4.1.1; PKCE per RFC 7636 §4.3).

    An existing query string of ``AuthoriseUrl`` is kept verbatim and ours is appended (RFC 6749
    §3.1, F-08). ``scopes`` defaults to the connector's ``Scopes``, joined with ``ScopeSeparator``.
    With ``Pkce: S256`` a challenge is required; with ``Pkce: none`` none is sent.
    """
    if not auth.AuthoriseUrl:
        raise OAuthConfigError("the connector has no AuthoriseUrl")
    params: Pairs = [("response_type", "code"), ("client_id", client_id)]
    params += [("redirect_uri", redirect_uri), *_scope_pair(auth, scopes), ("state", state)]
    if auth.Pkce == "S256":
        if not code_challenge:
            raise OAuthConfigError("Pkce is S256 but no code_challenge was given")
        params += [("code_challenge", code_challenge), ("code_challenge_method", CHALLENGE_METHOD)]
    params += _knob_pairs(auth.AuthoriseParams, _AUTHORISE_OWNED, "AuthoriseParams")
    params += _knob_pairs(extra or {}, _AUTHORISE_OWNED, "extra")
    renamed = [(auth.AuthoriseUrlRenames.get(name, name), value) for name, value in params]
    return _append_query(auth.AuthoriseUrl, renamed, raw_scope=auth.ScopeEncoding == "unencoded")


def token_request_authorization_code(
    auth: OAuth2Auth,
    *,
    client_id: str,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> HttpRequest:
    """The code exchange (RFC 6749 §4.1.3, T-02): the identical ``redirect_uri`` and, unless
    ``Pkce: none``, the ``code_verifier`` (RFC 7636 §4.5) — the only place it is ever sent."""
    params: Pairs = [("grant_type", "authorization_code"), ("code", code)]
    params.append(("redirect_uri", redirect_uri))
    if auth.Pkce == "S256":
        if code_verifier is None or not is_valid_verifier(code_verifier):
            raise OAuthConfigError("Pkce is S256 but the code_verifier is missing or malformed")
        params += [("code_verifier", code_verifier)]
    return _token_request(auth, params, client_id, client_secret)


def token_request_refresh(
    auth: OAuth2Auth,
    *,
    client_id: str,
    client_secret: str | None,
    refresh_token: str,
    scopes: Sequence[str] | None = None,
    granted_scope: str | None = None,
) -> HttpRequest:
    """A refresh (RFC 6749 §6) at ``RefreshTokenUrl`` if set, else ``AccessTokenUrl``.

    ``scope`` is sent only when it narrows the original grant (RT-01, see :func:`refresh_scope`).
    """
    if not refresh_token:
        raise OAuthConfigError("no refresh token to refresh with")
    params: Pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    narrowed = refresh_scope(scopes, granted_scope, separator=auth.ScopeSeparator)
    params += [("scope", auth.ScopeSeparator.join(narrowed))] if narrowed else []
    return _token_request(auth, params, client_id, client_secret, refresh=True)


def token_request_client_credentials(
    auth: OAuth2Auth,
    *,
    client_id: str,
    client_secret: str | None,
    scopes: Sequence[str] | None = None,
) -> HttpRequest:
    """The client credentials grant (RFC 6749 §4.4.2); ``scopes`` defaults to ``Scopes``."""
    params: Pairs = [("grant_type", "client_credentials"), *_scope_pair(auth, scopes)]
    return _token_request(auth, params, client_id, client_secret)


def token_request_password(
    auth: OAuth2Auth,
    *,
    client_id: str,
    client_secret: str | None,
    username: str,
    password: str,
    scopes: Sequence[str] | None = None,
) -> HttpRequest:
    """The resource owner password grant (RFC 6749 §4.3.2), for ``PasswordCredentials``
    connectors only (RFC 9700 §2.4 deprecates it; Cyclr still offers it)."""
    params: Pairs = [("grant_type", "password"), ("username", username), ("password", password)]
    params += _scope_pair(auth, scopes)
    return _token_request(auth, params, client_id, client_secret)


def revocation_request(
    auth: OAuth2Auth,
    *,
    client_id: str,
    client_secret: str | None,
    token: str,
    hint: Literal["refresh_token", "access_token"] | None,
) -> HttpRequest:
    """Revoke ``token`` at ``RevokeUrl`` (RFC 7009 §2.1): a form POST with ``token`` and the
    ``token_type_hint``, authenticated as at the token endpoint (``ClientAuthMethod``, T-01).

    The body is always form-encoded, whatever ``TokenBodyFormat`` says: RFC 7009 defines no
    other encoding. ``TokenParams`` are not sent (they belong to the token endpoint).
    """
    if not auth.RevokeUrl:
        raise OAuthConfigError("the connector has no RevokeUrl")
    if not token:
        raise OAuthConfigError("no token to revoke")
    scheme, netloc, path, query = _checked_endpoint(auth.RevokeUrl)
    headers, client_params = _client_auth(auth, client_id, client_secret)
    pairs: Pairs = [("token", token)]
    pairs += [("token_type_hint", hint)] if hint else []
    headers["Accept"] = "application/json"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = urlencode(pairs + client_params).encode("ascii")
    target = urlunsplit((scheme, netloc, path, query, ""))
    return HttpRequest("POST", target, MappingProxyType(headers), body)


def refresh_scope(
    requested: Iterable[str] | None, granted: str | None, *, separator: str = " "
) -> list[str] | None:
    """The scopes to send on a refresh, or None to send no ``scope`` (RT-01).

    RFC 6749 §6 forbids asking for a scope not originally granted, and omitting ``scope`` means
    "the original grant". So a request is sent only when every scope is known to be granted;
    otherwise it is dropped and the provider re-issues the original grant.
    """
    wanted = list(dict.fromkeys(requested or []))
    if not wanted or granted is None:
        return None
    have = set(granted.replace(separator, " ").split()) if separator else set(granted.split())
    return wanted if set(wanted) <= have else None


def _scope_pair(auth: OAuth2Auth, scopes: Sequence[str] | None) -> Pairs:
    chosen = list(auth.Scopes if scopes is None else scopes)
    return [("scope", auth.ScopeSeparator.join(chosen))] if chosen else []


def _knob_pairs(values: Mapping[str, str], owned: frozenset[str], knob: str) -> Pairs:
    clash = sorted(k for k in values if k.lower() in owned)
    if clash:
        raise OAuthConfigError(f"{knob} may not set protocol parameters: {', '.join(clash)}")
    return [(str(k), str(v)) for k, v in values.items()]


def _checked_endpoint(url: str) -> tuple[str, str, str, str]:
    if MERGE_FIELD.search(url):
        raise OAuthConfigError("the endpoint still contains an unresolved merge field")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise OAuthConfigError("the endpoint must be an absolute http(s) URL")
    if parts.fragment or url.endswith("#"):
        raise OAuthConfigError("the endpoint may not include a fragment (RFC 6749 §3.1)")
    return parts.scheme, parts.netloc, parts.path, parts.query


def _append_query(url: str, params: Pairs, *, raw_scope: bool = False) -> str:
    scheme, netloc, path, query = _checked_endpoint(url)
    existing = {k.lower() for k, _ in parse_qsl(query, keep_blank_values=True)}
    clash = sorted(existing & _AUTHORISE_OWNED)
    if clash:
        raise OAuthConfigError(f"the endpoint's query may not set: {', '.join(clash)}")
    ours = "&".join(_query_pair(name, value, raw_scope=raw_scope) for name, value in params)
    return urlunsplit((scheme, netloc, path, f"{query}&{ours}" if query else ours, ""))


def _query_pair(name: str, value: str, *, raw_scope: bool) -> str:
    """``name=value`` form-encoded; with ``ScopeEncoding: unencoded`` the scope keeps its
    separators (``,`` ``+`` ``:`` ``/``) literally, for providers that reject ``%2C``. Only
    characters that would end the parameter or the URL (``&`` ``#`` ``=`` space, controls)
    are still escaped, so an unencoded scope can never add a parameter of its own."""
    if raw_scope and name == "scope":
        return f"{quote_plus(name)}={quote(value, safe=_RAW_SCOPE_SAFE)}"
    return urlencode([(name, value)])


def _client_auth(
    auth: OAuth2Auth, client_id: str, client_secret: str | None
) -> tuple[dict[str, str], Pairs]:
    """Client authentication (RFC 6749 §2.3.1): the header and the body parameters it adds."""
    method = auth.ClientAuthMethod
    if method == "none":
        return {}, [("client_id", client_id)]
    if not client_secret:
        raise OAuthConfigError(f"ClientAuthMethod {method} needs a client secret")
    if method == "client_secret_post":
        return {}, [("client_id", client_id), ("client_secret", client_secret)]
    # Each part is form-urlencoded *before* base64 (RFC 6749 §2.3.1, T-01), so a ':' in the
    # id or secret cannot move the split point and '+', '%' and spaces survive strict decoders.
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode("ascii")
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}, []


def _token_request(
    auth: OAuth2Auth,
    params: Pairs,
    client_id: str,
    client_secret: str | None,
    *,
    refresh: bool = False,
) -> HttpRequest:
    """The POST to the token endpoint (RFC 6749 §3.2); refreshes use their own URL and knob."""
    url = (auth.RefreshTokenUrl or auth.AccessTokenUrl) if refresh else auth.AccessTokenUrl
    knob = auth.RefreshParams if refresh else auth.TokenParams
    scheme, netloc, path, query = _checked_endpoint(url)
    headers, client_params = _client_auth(auth, client_id, client_secret)
    pairs = params + client_params + _knob_pairs(knob, _TOKEN_OWNED, "token parameters")
    headers["Accept"] = "application/json"
    if auth.TokenBodyFormat == "json":
        headers["Content-Type"] = "application/json"
        body = json.dumps(dict(pairs), separators=(",", ":")).encode("utf-8")
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(pairs).encode("ascii")
    target = urlunsplit((scheme, netloc, path, query, ""))
    return HttpRequest("POST", target, MappingProxyType(headers), body)
