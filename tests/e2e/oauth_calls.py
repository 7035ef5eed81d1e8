"""Helpers of the provider double's tests: a minimal, correct OAuth client written with httpx
over real sockets (PKCE pair, strict Basic credentials, authorization, code exchange, refresh)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx

from tokenward.testing import ProviderDouble, RegisteredClient

__all__ = [
    "authorize",
    "basic",
    "code_tokens",
    "exchange",
    "pkce_pair",
    "redirect_params",
    "refresh",
]


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) as RFC 7636 §4.1 and §4.2 build them."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client: RegisteredClient) -> httpx.BasicAuth:
    """HTTP Basic with id and secret form-urlencoded first (RFC 6749 §2.3.1)."""
    return httpx.BasicAuth(quote_plus(client.client_id), quote_plus(client.client_secret))


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """The query of a 302's Location, one value per name."""
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


def authorize(provider: ProviderDouble, **params: str) -> httpx.Response:
    """GET /authorize for the registered client, ``params`` overriding the defaults."""
    client = provider.client
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "state": "st-1",
        "scope": "read write",
        **params,
    }
    return httpx.get(f"{provider.url}/authorize", params=query, follow_redirects=False)


def exchange(provider: ProviderDouble, code: str, **params: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": provider.client.redirect_uri,
        **params,
    }
    return httpx.post(f"{provider.url}/token", data=form, auth=basic(provider.client))


def code_tokens(provider: ProviderDouble) -> dict[str, Any]:
    """A full, correct authorization-code flow with PKCE; the token response."""
    verifier, challenge = pkce_pair()
    answer = redirect_params(
        authorize(provider, code_challenge=challenge, code_challenge_method="S256")
    )
    response = exchange(provider, answer["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def refresh(provider: ProviderDouble, token: str, **params: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, **params}
    return httpx.post(f"{provider.url}/token", data=form, auth=basic(provider.client))
