"""One partner API call as data (sans-IO): what to send and how to read the answer.

The sync and the async client build the same :class:`Call` objects (``_operations``) and differ
only in how they send them, so every rule (paths, the account header, which answers are errors)
lives here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tokenward.client.errors import error_for
from tokenward.client.models import MethodResponse

__all__ = [
    "ACCOUNT_HEADER",
    "UPSTREAM_HEADER",
    "Call",
    "as_json",
    "as_method_response",
    "checked",
    "nothing",
    "segment",
    "token_form",
]

T = TypeVar("T")

ACCOUNT_HEADER = "X-Cyclr-Account"
UPSTREAM_HEADER = "X-Tokenward-Upstream"


def as_json(response: httpx.Response) -> Any:
    return response.json()


def nothing(response: httpx.Response) -> None:
    return None


def as_method_response(response: httpx.Response) -> MethodResponse:
    return MethodResponse(response.status_code, response.headers, response.content)


def segment(value: str | int) -> str:
    """A path segment, percent-encoded (an account Id may hold any character)."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request of the partner API and the parser of its successful answer.

    ``account`` adds ``X-Cyclr-Account`` (account-level calls); ``upstream`` marks a method call,
    whose relayed provider answers are returned whatever their status.
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    account: str | None = None
    params: Mapping[str, str] | None = None
    body: Any = None
    idempotency_key: str | None = None
    upstream: bool = False

    def request(
        self, http: httpx.Client | httpx.AsyncClient, base_url: str, bearer: str
    ) -> httpx.Request:
        """The HTTP request, with the bearer token."""
        headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/json"}
        if self.account is not None:
            headers[ACCOUNT_HEADER] = self.account
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return http.build_request(
            self.method,
            base_url + self.path,
            params=dict(self.params) if self.params else None,
            json=self.body,
            headers=headers,
        )


def is_upstream(response: httpx.Response) -> bool:
    """Whether the answer is a provider's, relayed by a method call (never tokenward's own)."""
    return bool(response.headers.get(UPSTREAM_HEADER) == "1")


def checked(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the API's error raised as an exception."""
    if response.status_code >= 400 and not (call.upstream and is_upstream(response)):
        raise error_for(response)
    return call.parse(response)


def token_form(client_id: str, client_secret: str, account: str | None) -> dict[str, str]:
    """The body of ``POST /oauth/token`` (client credentials; ``scope`` restricts the token)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }
    if account is not None:
        form["scope"] = f"account:{account}"
    return form


def paging(page: int | None, page_size: int | None, **extra: str | None) -> dict[str, str]:
    """List query parameters, only those given."""
    params = {"page": page, "pageSize": page_size, **extra}
    return {k: str(v) for k, v in params.items() if v is not None}


def present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A partial update's body: the fields given (None means "leave as it is")."""
    return {k: v for k, v in fields.items() if v is not None}
