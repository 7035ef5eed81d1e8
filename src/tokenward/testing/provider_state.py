"""The provider double's memory: authorization codes, grants, access and refresh tokens, the
requests it received, and the OAuth rules applied to them (RFC 6749, RFC 7636, RFC 7009).

Free of HTTP: the app in ``provider_app`` parses requests and calls these methods, which either
return a JSON-ready answer or raise ``Refused`` with the RFC 6749 §5.2 error to send. Every
public method takes the lock, because tests call the double from several threads at once.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenward.clock import Clock, SystemClock
from tokenward.testing.provider_behaviour import Failure, ProviderBehaviour, RegisteredClient
from tokenward.testing.provider_records import (
    AccessToken,
    AuthCode,
    Grant,
    RecordedRequest,
    RefreshToken,
    Refused,
    s256,
)

__all__ = ["ProviderState"]


@dataclass
class ProviderState:
    """Everything the double remembers, behind one lock."""

    clients: Mapping[str, RegisteredClient]
    behaviour: ProviderBehaviour
    clock: Clock = field(default_factory=SystemClock)
    users: Mapping[str, str] = field(default_factory=lambda: {"alice": "wonderland"})
    requests: list[RecordedRequest] = field(default_factory=list)
    refresh_count: int = 0
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    pushed: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> float:
        return self.clock.now().timestamp()

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def take_failure(self, path: str) -> Failure | None:
        """Remove and return the first queued failure meant for ``path``."""
        with self.lock:
            queue = self.behaviour.fail_next
            for index, failure in enumerate(queue):
                if failure.path == path:
                    return queue.pop(index)
            return None

    # -- authorization endpoint ------------------------------------------------------------

    def signs_in(self, username: str, password: str) -> bool:
        """Whether ``username`` and ``password`` are one of the double's users (login form)."""
        with self.lock:
            known = self.users.get(username)
        if not username or known is None:
            return False
        return secrets.compare_digest(known.encode(), password.encode())

    def issue_code(self, client_id: str, params: Mapping[str, str], subject: str = "alice") -> str:
        """Store a code for validated authorization ``params`` on behalf of ``subject``; the
        PKCE challenge is kept whenever one was given (and required when the behaviour says
        so)."""
        challenge = params.get("code_challenge") or None
        if challenge is None and self.behaviour.require_pkce:
            raise Refused("invalid_request", "code_challenge required")
        if challenge is not None and params.get("code_challenge_method") != "S256":
            raise Refused("invalid_request", "only code_challenge_method=S256 is supported")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = AuthCode(
                client_id=client_id,
                redirect_uri=params["redirect_uri"],
                scope=params.get("scope", ""),
                challenge=challenge,
                expires_at=self.now() + self.behaviour.code_lifetime_seconds,
                subject=subject,
            )
        return code

    def push(self, params: dict[str, str]) -> str:
        """Keep pushed authorization parameters (RFC 9126) under a one-time ``request_uri``."""
        uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(16)}"
        with self.lock:
            self.pushed[uri] = (self.now() + 60, params)
        return uri

    def pull(self, uri: str, client_id: str) -> dict[str, str]:
        """The parameters pushed under ``uri``, once, for the client that pushed them."""
        with self.lock:
            expires_at, params = self.pushed.pop(uri, (0.0, {}))
        if expires_at < self.now() or params.get("client_id") != client_id:
            raise Refused("invalid_request_uri", "unknown, used or expired request_uri")
        return params

    # -- token endpoint --------------------------------------------------------------------

    def exchange_code(self, client_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Redeem a code once (RFC 6749 §4.1.3): same client, identical redirect URI, and the
        verifier whose S256 hash is the stored challenge. A replay revokes what it issued."""
        with self.lock:
            code = self.codes.get(params.get("code", ""))
            if code is None or code.client_id != client_id or code.expires_at < self.now():
                raise Refused("invalid_grant", "unknown or expired code")
            if code.grant_id is not None:
                self._revoke_grant(code.grant_id)
                raise Refused("invalid_grant", "code already used")
            if params.get("redirect_uri") != code.redirect_uri:
                raise Refused("invalid_grant", "redirect_uri differs from the authorization")
            self._check_verifier(code.challenge, params.get("code_verifier"))
            grant_id = self._new_grant(client_id, code.scope, code.subject)
            code.grant_id = grant_id
            answer = self._tokens(grant_id, with_refresh=True)
            nesting = self.behaviour.secondary_token_nesting
            if nesting is not None:
                second = self._new_grant(client_id, code.scope, code.subject)
                self.grants[second].secondary = True
                answer[nesting] = self._tokens(second, with_refresh=True)
            return answer

    def refresh(self, client_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Refresh (RFC 6749 §6) with rotation, grace window, reuse detection and idle expiry
        as the behaviour says."""
        with self.lock:
            token = params.get("refresh_token", "")
            record = self._usable_refresh(client_id, token)
            early = self.behaviour.min_refresh_interval_seconds
            if early is not None and self.now() - record.last_used_at < early:
                raise Refused("invalid_request", "the access token is not about to expire yet")
            grant = self.grants[record.grant_id]
            scope = params.get("scope")
            if scope is not None and not set(scope.split()) <= set(grant.scope.split()):
                raise Refused("invalid_scope", "scope exceeds the original grant")
            rotate = self.behaviour.rotate_refresh_tokens or record.superseded_at is not None
            if rotate and record.superseded_at is None:
                record.superseded_at = self.now()
            record.last_used_at = self.now()
            self.refresh_count += 1
            answer = self._tokens(record.grant_id, with_refresh=rotate)
            if scope is not None:
                answer["scope"] = scope
            return answer

    def client_credentials(self, client_id: str, scope: str) -> dict[str, Any]:
        with self.lock:
            return self._tokens(self._new_grant(client_id, scope, client_id), with_refresh=False)

    def password(self, client_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        username = params.get("username", "")
        if self.users.get(username) != params.get("password") or not username:
            raise Refused("invalid_grant", "wrong username or password")
        with self.lock:
            grant_id = self._new_grant(client_id, params.get("scope", ""), username)
            return self._tokens(grant_id, with_refresh=True)

    def issue_grants(self, client_id: str, count: int, scope: str = "") -> list[dict[str, Any]]:
        """``count`` new grants of ``client_id`` for alice, each with the token response a
        completed code flow would get (access and refresh token); for benchmarks and tests that
        need many live refresh tokens without as many HTTP round trips."""
        if client_id not in self.clients:
            raise ValueError(f"unknown client {client_id!r}")
        with self.lock:
            return [
                self._tokens(self._new_grant(client_id, scope, "alice"), with_refresh=True)
                for _ in range(count)
            ]

    # -- revocation and the protected resource ---------------------------------------------

    def revoke(self, client_id: str, token: str) -> None:
        """RFC 7009: a refresh token takes its whole grant with it; an access token goes alone;
        unknown tokens and other clients' tokens are ignored (the answer is 200 anyway)."""
        with self.lock:
            if token in self.refresh_tokens:
                grant_id = self.refresh_tokens[token].grant_id
                if self.grants[grant_id].client_id == client_id:
                    self._revoke_grant(grant_id)
            elif token in self.access_tokens:
                access = self.access_tokens[token]
                if self.grants[access.grant_id].client_id == client_id:
                    access.revoked = True

    def resource_owner(self, token: str) -> dict[str, str] | None:
        """Who a live access token speaks for, or None when unknown, expired or revoked."""
        with self.lock:
            access = self.access_tokens.get(token)
            if access is None or access.revoked or access.expires_at <= self.now():
                return None
            grant = self.grants[access.grant_id]
            if grant.revoked:
                return None
            owner = {"sub": grant.subject, "client_id": grant.client_id, "scope": grant.scope}
            return {**owner, "token_set": "secondary"} if grant.secondary else owner

    # -- internals (called with the lock held) ---------------------------------------------

    def _usable_refresh(self, client_id: str, token: str) -> RefreshToken:
        record = self.refresh_tokens.get(token)
        if record is None or self.grants[record.grant_id].client_id != client_id:
            raise Refused("invalid_grant", "unknown refresh token")
        if self.grants[record.grant_id].revoked:
            raise Refused("invalid_grant", "grant revoked")
        idle = self.behaviour.idle_refresh_expiry_seconds
        if idle is not None and self.now() - record.last_used_at > idle:
            raise Refused("invalid_grant", "refresh token expired from inactivity")
        superseded = record.superseded_at
        grace = self.behaviour.refresh_grace_seconds
        if superseded is not None and (grace <= 0 or self.now() - superseded > grace):
            if self.behaviour.reuse_revokes_grant:
                self._revoke_grant(record.grant_id)
            raise Refused("invalid_grant", "refresh token already rotated")
        return record

    @staticmethod
    def _check_verifier(challenge: str | None, verifier: str | None) -> None:
        if challenge is None and verifier is None:
            return
        if challenge is None or verifier is None or s256(verifier) != challenge:
            raise Refused("invalid_grant", "PKCE verification failed")

    def _new_grant(self, client_id: str, scope: str, subject: str) -> str:
        grant_id = secrets.token_hex(8)
        self.grants[grant_id] = Grant(client_id=client_id, scope=scope, subject=subject)
        return grant_id

    def _revoke_grant(self, grant_id: str) -> None:
        self.grants[grant_id].revoked = True

    def _tokens(self, grant_id: str, *, with_refresh: bool) -> dict[str, Any]:
        behaviour, now = self.behaviour, self.now()
        secondary = self.grants[grant_id].secondary
        access = _access_token(behaviour.access_token_claims)
        lifetime = behaviour.token_lifetime_seconds
        token_type = behaviour.token_type
        if secondary:
            lifetime = behaviour.secondary_token_lifetime_seconds
            token_type = behaviour.secondary_token_type
        self.access_tokens[access] = AccessToken(grant_id=grant_id, expires_at=now + lifetime)
        answer: dict[str, Any] = {"access_token": access, "token_type": token_type}
        if not behaviour.omit_expires_in:
            answer["expires_in"] = lifetime * behaviour.expires_in_scale
        if with_refresh:
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = RefreshToken(grant_id=grant_id, last_used_at=now)
            answer["refresh_token"] = refresh
            if behaviour.refresh_token_lifetime_seconds is not None:
                answer[behaviour.refresh_expires_field] = (
                    behaviour.refresh_token_lifetime_seconds * behaviour.expires_in_scale
                )
        if self.grants[grant_id].scope:
            answer["scope"] = self.grants[grant_id].scope
        if secondary:
            return answer  # nested as it is in a code exchange, at the top level in a refresh
        if behaviour.token_nesting is not None:
            answer = {"ok": True, behaviour.token_nesting: answer}
        return {**answer, **behaviour.extra_token_fields}


def _access_token(claims: Mapping[str, object] | None) -> str:
    """A random access token, or an (unsigned) JWT carrying ``claims`` and a random ``jti``."""
    if claims is None:
        return secrets.token_urlsafe(24)

    def part(value: Mapping[str, object]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload = {**claims, "jti": secrets.token_hex(8)}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}.{secrets.token_urlsafe(8)}"
