"""The OAuth 1.0a provider double's memory and rules: an ``oauthlib`` ``RequestValidator``
(RFC 5849 as oauthlib's server classes enforce it) over plain dictionaries.

One consumer is registered with one callback URI (compared exactly), its secret (or, for
RSA-SHA1, its public key) and the signature method it must use. Temporary credentials are single
use; a nonce is accepted once per consumer, timestamp and token (RFC 5849 §3.3); every nonce and
timestamp seen is kept for tests (SECURITY.md O-05).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from oauthlib.oauth1 import RequestValidator

__all__ = ["Consumer1", "OAuth1State", "Validator"]

_DUMMY = "dummyclientkey0000000"


@dataclass(frozen=True)
class Consumer1:
    """The consumer the double knows. ``secret`` is the shared secret for HMAC and PLAINTEXT;
    ``rsa_public_key`` (PEM) verifies RSA-SHA1."""

    key: str = "tokenwardconsumerkey01"
    secret: str = "consumer secret: &+%"  # noqa: S105 - a test secret that needs encoding
    callback: str = "http://127.0.0.1/callback"
    signature_method: str = "HMAC-SHA1"
    rsa_public_key: str | None = None


@dataclass
class _Temporary:
    secret: str
    client_key: str
    callback: str
    verifier: str | None = None
    user: str | None = None


@dataclass
class _Access:
    secret: str
    client_key: str
    user: str


@dataclass
class OAuth1State:
    """Everything the double issued and saw; read it under ``lock``."""

    consumer: Consumer1
    users: dict[str, str]
    confirm_callback: bool = True  # False: answer like an OAuth 1.0 (not 1.0a) provider
    temporary: dict[str, _Temporary] = field(default_factory=dict)
    access: dict[str, _Access] = field(default_factory=dict)
    nonces: list[tuple[str, str]] = field(default_factory=list)  # (timestamp, nonce) in order
    lock: threading.RLock = field(default_factory=threading.RLock)


class Validator(RequestValidator):  # type: ignore[misc]  # oauthlib ships no type hints
    """oauthlib's hooks, answered from :class:`OAuth1State`."""

    def __init__(self, state: OAuth1State) -> None:
        super().__init__()
        self.state = state

    # -- formats: tokenward's nonce is 32 hex characters; ours are oauthlib's 30 --------------

    @property
    def enforce_ssl(self) -> bool:
        return False  # the double runs on plain loopback http

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return (self.state.consumer.signature_method,)

    @property
    def nonce_length(self) -> tuple[int, int]:
        return 16, 64

    @property
    def dummy_client(self) -> str:
        return _DUMMY

    @property
    def dummy_request_token(self) -> str:
        return "dummyrequesttoken000000"

    @property
    def dummy_access_token(self) -> str:
        return "dummyaccesstoken0000000"

    # -- secrets ------------------------------------------------------------------------------

    def get_client_secret(self, client_key: str, request: Any) -> str:
        consumer = self.state.consumer
        return consumer.secret if client_key == consumer.key else "dummy"

    def get_rsa_key(self, client_key: str, request: Any) -> str | None:
        return self.state.consumer.rsa_public_key

    def get_request_token_secret(self, client_key: str, token: str, request: Any) -> str:
        with self.state.lock:
            found = self.state.temporary.get(token)
        return found.secret if found and found.client_key == client_key else "dummy"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        with self.state.lock:
            found = self.state.access.get(token)
        return found.secret if found and found.client_key == client_key else "dummy"

    # -- checks -------------------------------------------------------------------------------

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return bool(client_key == self.state.consumer.key)

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        with self.state.lock:
            if (timestamp, nonce) in self.state.nonces:
                return False  # a replay
            self.state.nonces.append((timestamp, nonce))
        return True

    def validate_redirect_uri(self, client_key: str, redirect_uri: str, request: Any) -> bool:
        return bool(redirect_uri == self.state.consumer.callback)

    def validate_requested_realms(self, client_key: str, realms: Any, request: Any) -> bool:
        return True

    def validate_realms(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def verify_realms(self, token: str, realms: Any, request: Any) -> bool:
        return True

    def get_default_realms(self, client_key: str, request: Any) -> list[str]:
        return []

    def get_realms(self, token: str, request: Any) -> list[str]:
        return []

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        with self.state.lock:
            found = self.state.temporary.get(token)
        return found is not None and found.client_key == client_key

    def verify_request_token(self, token: str, request: Any) -> bool:
        with self.state.lock:
            return token in self.state.temporary

    def validate_verifier(self, client_key: str, token: str, verifier: str, request: Any) -> bool:
        with self.state.lock:
            found = self.state.temporary.get(token)
        if found is None or found.verifier is None or found.verifier != verifier:
            return False
        request.user = found.user
        return True

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        with self.state.lock:
            found = self.state.access.get(token)
        if found is None or found.client_key != client_key:
            return False
        request.user = found.user
        return True

    def get_redirect_uri(self, token: str, request: Any) -> str:
        with self.state.lock:
            return self.state.temporary[token].callback

    # -- what is issued -----------------------------------------------------------------------

    def save_request_token(self, token: dict[str, str], request: Any) -> None:
        with self.state.lock:
            self.state.temporary[token["oauth_token"]] = _Temporary(
                token["oauth_token_secret"], request.client_key, request.redirect_uri
            )

    def save_verifier(self, token: str, verifier: dict[str, str], request: Any) -> None:
        with self.state.lock:
            self.state.temporary[token].verifier = verifier["oauth_verifier"]

    def invalidate_request_token(self, client_key: str, request_token: str, request: Any) -> None:
        with self.state.lock:
            self.state.temporary.pop(request_token, None)  # temporary credentials: single use

    def save_access_token(self, token: dict[str, str], request: Any) -> None:
        with self.state.lock:
            self.state.access[token["oauth_token"]] = _Access(
                token["oauth_token_secret"], request.client_key, request.user or "alice"
            )
