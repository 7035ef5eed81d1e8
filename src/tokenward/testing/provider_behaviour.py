"""What the provider double is told to do: its registered clients, its behaviour switches and the
canned failures it answers next.

These are plain dataclasses so a test can change one switch in place
(``provider.behaviour.rotate_refresh_tokens = False``) or queue a failure
(``provider.fail_next(Failure.http(503, retry_after=2))``) between two calls of the code under
test. The double reads them on every request; queue changes go through its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AuthMethod", "Failure", "FailureKind", "ProviderBehaviour", "RegisteredClient"]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
FailureKind = Literal["http", "oauth_error", "delay", "drop_after_rotate", "stall_after_rotate"]


@dataclass(frozen=True)
class RegisteredClient:
    """A client the double knows: its id, secret, the one redirect URI it accepts (compared by
    exact string match) and the single client authentication method it allows (RFC 6749 §2.3)."""

    client_id: str = "tokenward-client"
    client_secret: str = "s3cret: +%value"  # noqa: S105 - a test secret that needs form-encoding
    redirect_uri: str = "http://127.0.0.1/callback"
    auth_method: AuthMethod = "client_secret_basic"


@dataclass(frozen=True)
class Failure:
    """One canned answer, used once by the next request to ``path`` instead of (or, for
    ``delay`` and ``drop_after_rotate``, around) the normal processing.

    Build it with the class methods; each says what a client will observe.
    """

    kind: FailureKind
    status: int = 500
    error: str = "server_error"
    retry_after: str | None = None
    seconds: float = 0.0
    path: str = "/token"

    @classmethod
    def http(
        cls, status: int, *, retry_after: float | str | None = None, path: str = "/token"
    ) -> Failure:
        """A bare status (500, 502, 503, 429…) with a non-OAuth body and optional Retry-After;
        the request is not processed."""
        after = None if retry_after is None else str(retry_after)
        return cls("http", status=status, retry_after=after, path=path)

    @classmethod
    def oauth_error(cls, error: str, *, status: int = 400, path: str = "/token") -> Failure:
        """An RFC 6749 §5.2 error body; ``status=200`` gives the "200 with an error" answer some
        providers send. The request is not processed."""
        return cls("oauth_error", status=status, error=error, path=path)

    @classmethod
    def invalid_grant(cls, *, path: str = "/token") -> Failure:
        """``400 {"error": "invalid_grant"}`` whatever the grant."""
        return cls.oauth_error("invalid_grant", path=path)

    @classmethod
    def delay(cls, seconds: float, *, path: str = "/token") -> Failure:
        """Wait ``seconds`` before processing and answering normally: a client with a shorter
        read timeout sees a timeout (the request may still be processed after it gave up)."""
        return cls("delay", seconds=seconds, path=path)

    @classmethod
    def stall_after_rotate(cls, seconds: float, *, path: str = "/token") -> Failure:
        """Process the request (tokens are issued, a refresh rotates) then wait ``seconds``
        before answering: the window in which a client process can be killed after the
        provider issued tokens but before it stored them (R-08)."""
        return cls("stall_after_rotate", seconds=seconds, path=path)

    @classmethod
    def drop_after_rotate(cls, *, path: str = "/token") -> Failure:
        """Process the request (a refresh rotates the token) then abort the connection without
        sending any response: the lost-response case of R-07."""
        return cls("drop_after_rotate", path=path)


@dataclass
class ProviderBehaviour:
    """The switches of the double, read on every request; change them freely between calls."""

    rotate_refresh_tokens: bool = True
    #: strict rotation: presenting a superseded refresh token (outside the grace window) revokes
    #: every token of the grant, as panva's oidc-provider does
    reuse_revokes_grant: bool = False
    #: how long a superseded refresh token is still accepted (0: never)
    refresh_grace_seconds: float = 0.0
    #: send ``iss`` in authorization responses and advertise it (RFC 9207)
    send_iss: bool = False
    #: an issuer other than the double's URL, in metadata and ``iss`` (mix-up / F-10 tests)
    issuer_override: str | None = None
    require_pkce: bool = False
    #: answer ``error=access_denied`` to the authorization request (after the sign-in, when
    #: ``login_form`` is on)
    deny_authorization: bool = False
    #: ``GET /authorize`` answers a minimal HTML sign-in form (username, password, "Sign in",
    #: "Cancel") instead of redirecting back at once; ``POST /authorize`` with it issues the
    #: code for that user (one of ``ProviderDouble(users=…)``), or ``access_denied`` on Cancel
    login_form: bool = False
    enable_par: bool = False
    require_par: bool = False
    token_lifetime_seconds: int = 3600
    #: leave ``expires_in`` out of token responses (tokens still expire after the lifetime)
    omit_expires_in: bool = False
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    #: members added to every token response (unknown fields a client must keep, T-05)
    extra_token_fields: dict[str, object] = field(default_factory=dict)
    #: a refresh token not used for this long stops working (R-13); None: never
    idle_refresh_expiry_seconds: float | None = None
    code_lifetime_seconds: int = 60
    fail_next: list[Failure] = field(default_factory=list)
    # -- provider quirks (QUIRKS.md) ---------------------------------------------------------
    #: the callback's name for the code (``CodeParam``)
    code_param: str = "code"
    #: send no code at all (an admin-consent answer carries other values instead)
    omit_code: bool = False
    #: values added to the callback's query (``CallbackMetadata``: ``realmId``, ``tenant``…)
    callback_extras: dict[str, str] = field(default_factory=dict)
    #: the token's members sit under this key of the response (``AccessTokenPath``)
    token_nesting: str | None = None
    #: ``expires_in`` multiplied by this (1000: milliseconds, ``ExpiresInUnit``)
    expires_in_scale: float = 1.0
    #: refreshes are accepted only at this path (``RefreshTokenUrl``), e.g. "/refresh"
    refresh_path: str | None = None
    #: a refresh sooner than this after the tokens were issued is refused (``RefreshMargin``)
    min_refresh_interval_seconds: float | None = None
    #: refresh tokens expire after this long, announced in ``refresh_expires_field``
    refresh_token_lifetime_seconds: int | None = None
    refresh_expires_field: str = "refresh_token_expires_in"
    #: access tokens are JWTs carrying these claims (hooks match on them)
    access_token_claims: dict[str, object] | None = None
    #: JSON documents served at ``GET /api/doc/{name}`` to a valid token, whatever the scheme
    #: (tenant lists, accessible resources, metadata and userinfo endpoints for hooks)
    api_documents: dict[str, object] = field(default_factory=dict)
    #: the code exchange also issues a second token set (a user's, beside the app's) nested
    #: under this key: its own grant, access token, refresh token (rotated, valid once) and
    #: expiry; refreshing it answers the new set at the top level and leaves the other alone
    secondary_token_nesting: str | None = None
    secondary_token_lifetime_seconds: int = 1800
    secondary_token_type: str = "user"  # noqa: S105 - a token type, not a secret
