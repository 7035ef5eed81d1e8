"""The Python SDK of tokenward's partner API (docs/python-client.md): typed sync and async
clients on httpx, one exception tree, the bearer token cached until its ``.expires``.

::

    from tokenward.client import Client

    with Client("https://auth.example.com", client_id, client_secret) as tw:
        account = tw.create_account("Acme", account_id="acme")
"""

from tokenward.client._async import AsyncClient
from tokenward.client._operations import AuthValue, webflow_url
from tokenward.client._sync import Client
from tokenward.client.errors import (
    APIError,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    NotFound,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TokenwardClientError,
    TransportError,
)
from tokenward.client.models import (
    Account,
    AccountConnector,
    ApplicationConnector,
    Connector,
    CredentialToken,
    Event,
    Method,
    MethodResponse,
    PartnerSettings,
    Property,
    SignInToken,
)

__all__ = [
    "APIError",
    "Account",
    "AccountConnector",
    "ApplicationConnector",
    "AsyncClient",
    "AuthValue",
    "AuthenticationFailed",
    "BadRequest",
    "Client",
    "Conflict",
    "Connector",
    "CredentialToken",
    "Event",
    "Forbidden",
    "IdempotencyMismatch",
    "Method",
    "MethodResponse",
    "NotFound",
    "PartnerSettings",
    "Property",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "SignInToken",
    "TokenwardClientError",
    "TransportError",
    "webflow_url",
]
