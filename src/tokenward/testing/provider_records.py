"""The provider double's records: what it received (``RecordedRequest``), what it issued
(codes, grants, access and refresh tokens) and the OAuth error it answers (``Refused``)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AccessToken",
    "AuthCode",
    "Grant",
    "RecordedRequest",
    "RefreshToken",
    "Refused",
    "s256",
]


class Refused(Exception):
    """An OAuth error answer: ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the double received it; ``at`` is ``time.monotonic()`` (real time, so
    tests can measure the gap a client left after Retry-After)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    json: Any
    at: float
    body: bytes = field(default=b"", repr=False)  # the raw body as received


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    expires_at: float
    grant_id: str | None = None  # set when redeemed, so a replay can revoke what it issued
    subject: str = "alice"  # the user who signed in (the login form's username)


@dataclass
class Grant:
    client_id: str
    scope: str
    subject: str
    revoked: bool = False
    secondary: bool = False  # the second token set of a code exchange (a user's)


@dataclass
class RefreshToken:
    grant_id: str
    last_used_at: float
    superseded_at: float | None = None


@dataclass
class AccessToken:
    grant_id: str
    expires_at: float
    revoked: bool = False


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
