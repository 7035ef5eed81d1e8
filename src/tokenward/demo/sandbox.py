"""The demo's sandbox provider: the provider double (``tokenward.testing.ProviderDouble``) with
its login form, one registered client whose only redirect URI is the service's callback, one
user, and the connector definition that points at it.

Nothing leaves the machine: the double is a real OAuth 2.0 server on a loopback port, so the
connect flow is the real one (authorization code, PKCE, state, the binding cookie).
"""

from __future__ import annotations

import secrets
from typing import Any

from tokenward.testing import ProviderBehaviour, ProviderDouble, RegisteredClient

__all__ = [
    "CONNECTOR_NAME",
    "METHOD_NAME",
    "SANDBOX_PASSWORD",
    "SANDBOX_USER",
    "connector_definition",
    "sandbox_provider",
]

CONNECTOR_NAME = "Sandbox provider"
METHOD_NAME = "Get Me"
SANDBOX_USER = "demo"
SANDBOX_PASSWORD = "demo"  # noqa: S105 - the sandbox's published demo password
CLIENT_ID = "tokenward-demo"


def sandbox_provider(service_url: str) -> ProviderDouble:
    """The double (not yet started) with a fresh client secret for this run."""
    registered = RegisteredClient(
        client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(24),
        redirect_uri=f"{service_url}/connector/callback",
    )
    return ProviderDouble(
        ProviderBehaviour(login_form=True),
        clients=[registered],
        users={SANDBOX_USER: SANDBOX_PASSWORD},
    )


def connector_definition(provider_url: str) -> dict[str, Any]:
    """A custom connector (docs/authoring-connectors.md) for the running double: OAuth 2.0
    authorization code, and one method, ``GET /api/me`` (who the token speaks for)."""
    return {
        "Name": CONNECTOR_NAME,
        "Version": "1.0",
        "Description": "The demo's sandbox OAuth 2.0 provider (tokenward's provider double).",
        "BaseUrl": provider_url,
        "Authentication": [
            {
                "AuthName": "OAuth 2.0",
                "AuthType": "OAuth2",
                "OAuth2Type": "AuthorisationCode",
                "AuthoriseUrl": f"{provider_url}/authorize",
                "AccessTokenUrl": f"{provider_url}/token",
                "Scopes": ["read"],
            }
        ],
        "Methods": [{"Name": METHOD_NAME, "HttpMethod": "GET", "EndPoint": "/api/me"}],
    }
