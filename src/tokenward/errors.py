"""The one exception tree of tokenward.

::

    TokenwardError
    ├── ConfigurationError        settings, key file or catalog unusable: the process must not start
    │   └── CatalogInvalid        connector definitions with every problem listed
    ├── CryptoError
    │   └── CredentialCorrupted   a ciphertext failed authentication (tampered, moved, wrong key)
    ├── StoreError                the database failed (translated from SQLAlchemy at the boundary)
    ├── ProtocolError             an OAuth exchange cannot be built, or its answer cannot be used
    │   ├── OAuthConfigError      the connector definition or the call cannot make a safe request
    │   ├── OAuthError            the provider answered an error or an unusable token; ``failure``
    │   │                         classifies it (permanent, config, transient, invalid_response)
    │   └── TransportError        a request could not be sent or answered; ``kind`` says why and
    │                             ``sent`` whether the provider may have received it (R-07)
    └── ServiceError              a use case refused a request; the web layer maps each to a status
        ├── InvalidRequest        400  validation failures, duplicates (Cyclr answers 400 for both)
        ├── Unauthenticated       401  no, bad or expired credentials; missing account header
        ├── Forbidden             403  a token restricted to another account
        ├── NotFound              404  unknown object, or one that belongs to another account
        ├── StateConflict         409  the account connector's state forbids the call
        ├── PayloadTooLarge       413
        ├── IdempotencyMismatch   422  an Idempotency-Key reused with another body
        ├── RateLimited           429
        ├── UpstreamError         502  a method or proxy call could not reach the provider
        └── ProviderUnavailable   503

Every ``ServiceError`` carries a human ``message`` (Cyclr's ``Message``) and a stable snake_case
``code``. Messages never contain secrets.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = [
    "CatalogInvalid",
    "ConfigurationError",
    "CredentialCorrupted",
    "CryptoError",
    "Failure",
    "Forbidden",
    "IdempotencyMismatch",
    "InvalidRequest",
    "NotFound",
    "OAuthConfigError",
    "OAuthError",
    "PayloadTooLarge",
    "ProtocolError",
    "ProviderUnavailable",
    "RateLimited",
    "ServiceError",
    "StateConflict",
    "StoreError",
    "TokenwardError",
    "TransportError",
    "TransportFailure",
    "Unauthenticated",
    "UpstreamError",
]


class TokenwardError(Exception):
    """Base of every error tokenward raises on purpose."""


class ConfigurationError(TokenwardError):
    """The configuration cannot work; ``problems`` lists every reason."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class CatalogInvalid(ConfigurationError):
    """One or more connector definitions are invalid."""


class CryptoError(TokenwardError):
    """A cryptographic operation failed."""


class CredentialCorrupted(CryptoError):
    """A sealed value does not open: tampered, moved to another row, or under an unknown key."""


class StoreError(TokenwardError):
    """The database failed."""


class ProtocolError(TokenwardError):
    """An OAuth exchange could not be built, or the provider's answer cannot be used."""


class OAuthConfigError(ProtocolError):
    """The connector definition or the call cannot produce a safe request (e.g. a knob that
    would override ``state``, an endpoint with a fragment or an unresolved merge field)."""


class Failure(StrEnum):
    """How a failed token exchange should be handled (SECURITY.md §3.2 item 4, RT-03…RT-05).

    ``PERMANENT``: the grant is gone (``invalid_grant``) → ``needs_reauth``, no retry.
    ``CONFIG``: the client or request is wrong for this provider (``invalid_client``,
    ``unauthorized_client``) → ``error_config`` at the integration level.
    ``TRANSIENT``: 5xx, 429, ``server_error``, ``temporarily_unavailable`` → retry with backoff.
    ``INVALID_RESPONSE``: the provider answered something unusable (T-03) → the token is not used.
    """

    PERMANENT = "permanent"
    CONFIG = "config"
    TRANSIENT = "transient"
    INVALID_RESPONSE = "invalid_response"


class OAuthError(ProtocolError):
    """The provider answered a token request with an error or an unusable response (RFC 6749
    §5.2). ``error`` is the provider's code (or ours for unusable answers), ``description`` its
    text, ``retry_after`` seconds to wait when the provider said so. Never carries a secret."""

    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        failure: Failure,
        status: int | None = None,
        retry_after: int | None = None,
        error_uri: str | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.failure = failure
        self.status = status
        self.retry_after = retry_after
        self.error_uri = error_uri
        super().__init__(f"{error}: {description}" if description else error)


TransportFailure = Literal[
    "timeout", "connect", "reset", "refused_destination", "too_large", "invalid_request"
]


class TransportError(ProtocolError):
    """An outbound request failed below HTTP (translated from the HTTP client at the boundary).

    ``kind``: ``timeout``, ``connect`` (no connection, TLS failure), ``reset`` (the connection
    broke), ``refused_destination`` (T-07/P-03 policy; nothing was sent), ``too_large`` (the
    answer exceeded the cap), ``invalid_request`` (a header that would break the request, such
    as a line break in its value; nothing was sent). ``sent`` is True when the request may have
    reached the provider, so its answer (e.g. a rotated refresh token) may be lost (R-07). The
    message names the host at most: never headers, bodies or query strings.
    """

    def __init__(self, kind: TransportFailure, message: str, *, sent: bool) -> None:
        self.kind: TransportFailure = kind
        self.sent = sent
        super().__init__(f"{kind}: {message}")


class ServiceError(TokenwardError):
    """A use case refused the request."""

    default_code = "error"

    def __init__(self, message: str, code: str | None = None, *, retry_after: int | None = None):
        self.message = message
        self.code = code or self.default_code
        self.retry_after = retry_after
        super().__init__(message)


class InvalidRequest(ServiceError):
    default_code = "invalid_request"


class Unauthenticated(ServiceError):
    default_code = "unauthenticated"


class Forbidden(ServiceError):
    default_code = "forbidden"


class NotFound(ServiceError):
    default_code = "not_found"


class StateConflict(ServiceError):
    default_code = "state_conflict"


class PayloadTooLarge(ServiceError):
    default_code = "payload_too_large"


class IdempotencyMismatch(ServiceError):
    default_code = "idempotency_key_reused"


class RateLimited(ServiceError):
    default_code = "rate_limited"


class UpstreamError(ServiceError):
    """A method or proxy call could not reach the provider's API (timeout, connection, refused
    destination); the message names the host at most."""

    default_code = "upstream_unreachable"


class ProviderUnavailable(ServiceError):
    default_code = "provider_unavailable"
