"""The provider double's RFC 8414 authorization server metadata document."""

from __future__ import annotations

from typing import Any

from tokenward.testing.provider_behaviour import ProviderBehaviour

__all__ = ["metadata"]


def metadata(base_url: str, issuer: str, behaviour: ProviderBehaviour) -> dict[str, Any]:
    """The document served at ``/.well-known/oauth-authorization-server``; it advertises ``iss``
    in authorization responses and PAR exactly when the behaviour enables them, so clients that
    trust metadata (C-04, F-09) see the same switches the endpoints obey. ``issuer`` differs from
    ``base_url`` only when a test sets ``issuer_override`` (F-10)."""
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{base_url}/authorize",
        "token_endpoint": f"{base_url}/token",
        "revocation_endpoint": f"{base_url}/revoke",
        "response_types_supported": ["code"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": behaviour.send_iss,
    }
    if behaviour.enable_par or behaviour.require_par:
        document["pushed_authorization_request_endpoint"] = f"{base_url}/par"
        document["require_pushed_authorization_requests"] = behaviour.require_par
    return document
