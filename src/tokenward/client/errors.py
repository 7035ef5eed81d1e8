"""The Python client's one exception tree.

::

    TokenwardClientError            anything the client raises
     ├── TransportError             the service could not be reached (connection, timeout)
     └── APIError                   tokenward answered an error: .status, .message, .code
          ├── BadRequest            400  validation, duplicates ("ID already in use")
          ├── AuthenticationFailed  401  bad client credentials, or a bearer refused twice
          ├── Forbidden             403  a token restricted to another account
          ├── NotFound              404  unknown (or another account's) object
          ├── Conflict              409  the account connector cannot authenticate (.code says why)
          ├── IdempotencyMismatch   422  an Idempotency-Key reused with another body
          ├── RateLimited           429  .retry_after seconds
          ├── ServiceUnavailable    503  provider unavailable; .retry_after seconds
          └── ServerError           other 5xx

``message`` and ``code`` are the API's ``Message`` and ``Code`` (``error_description`` and
``error`` for ``POST /oauth/token``). A provider's own answer to a method call is never an
exception: it comes back as :class:`~tokenward.client.models.MethodResponse`.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIError",
    "AuthenticationFailed",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "IdempotencyMismatch",
    "NotFound",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "TokenwardClientError",
    "TransportError",
    "error_for",
]


class TokenwardClientError(Exception):
    """The root of every exception the client raises."""


class TransportError(TokenwardClientError):
    """The request did not get an answer (connection refused, timeout, broken connection)."""


class APIError(TokenwardClientError):
    """tokenward answered with an error status."""

    def __init__(self, status: int, message: str, code: str, retry_after: float | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after


class BadRequest(APIError):
    """400: the request is invalid; nothing was changed."""


class AuthenticationFailed(APIError):
    """401: the client credentials or the bearer token were refused."""


class Forbidden(APIError):
    """403: the token may not act on this account."""


class NotFound(APIError):
    """404: no such object (or it belongs to another account)."""


class Conflict(APIError):
    """409: the account connector's state forbids the call (not authenticated, needs_reauth)."""


class IdempotencyMismatch(APIError):
    """422: the Idempotency-Key was used before with another body."""


class RateLimited(APIError):
    """429: too many requests; wait ``retry_after`` seconds."""


class ServiceUnavailable(APIError):
    """503: the provider is unavailable and no valid token exists; retry after a while."""


class ServerError(APIError):
    """Another 5xx answer."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: IdempotencyMismatch,
    429: RateLimited,
    503: ServiceUnavailable,
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _fields(response: httpx.Response) -> tuple[str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return response.reason_phrase or "error", "error"
    message = body.get("Message") or body.get("error_description") or response.reason_phrase
    code = body.get("Code") or body.get("error") or "error"
    return str(message), str(code)


def error_for(response: httpx.Response) -> APIError:
    """The exception for an error answer of tokenward (status ≥ 400)."""
    status = response.status_code
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    message, code = _fields(response)
    return kind(status, message, code, _retry_after(response))
