"""Console users and their sign-in sessions (the partner console, docs/console.md).

A console user is an operator of the partner, created with ``tokenward admin create``; the
password is hashed with scrypt (:mod:`tokenward.services.passwords`). Signing in creates a session:
a 256-bit token for the browser's cookie (only its SHA-256 is stored) and a CSRF token bound to
that session (the synchronizer token every state-changing form must send back). Sessions expire
after :data:`SESSION_LIFETIME`; signing out deletes the row.

Everything the console does runs as a :class:`ConsolePrincipal`, so that the services' audit
entries name the console user (``console:{username}``) rather than an API client.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from tokenward.crypto.hashing import hash_token, new_token
from tokenward.domain.text import shown
from tokenward.errors import InvalidRequest, NotFound, Unauthenticated
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.passwords import hash_password, verify_password
from tokenward.services.ports.console import ConsoleSession, ConsoleUser
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "SESSION_LIFETIME",
    "ConsoleIdentity",
    "ConsolePrincipal",
    "SignedIn",
    "create_console_user",
    "csrf_matches",
    "list_console_users",
    "session_identity",
    "set_console_password",
    "sign_in",
    "sign_out",
]

SESSION_LIFETIME = timedelta(hours=8)
MIN_PASSWORD, MAX_PASSWORD = 12, 1000
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
_WRONG = "The user name or password is not correct."


@dataclass(frozen=True)
class ConsolePrincipal(Principal):
    """The console user as the services see a caller: partner-wide, audited by name."""

    @property
    def actor(self) -> str:
        return f"console:{self.client_id}"


@dataclass(frozen=True)
class ConsoleIdentity:
    """Who a session cookie belongs to, and the CSRF token its forms carry."""

    username: str
    csrf_token: str

    @property
    def principal(self) -> ConsolePrincipal:
        return ConsolePrincipal(client_id=self.username)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (shown this once) and the session's lifetime."""

    token: str
    identity: ConsoleIdentity
    max_age: int


def _valid_username(username: str) -> str:
    name = username.strip()
    if not _USERNAME.match(name):
        raise InvalidRequest(
            "A user name is 1 to 100 letters, digits and . _ @ + - (starting with a letter or "
            "digit).",
            "invalid_username",
        )
    return name


def _valid_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"A password is {MIN_PASSWORD} to {MAX_PASSWORD} characters.", "invalid_password"
        )
    return password


def create_console_user(ctx: ServiceContext, username: str, password: str) -> ConsoleUser:
    """A new console user; 400 when the name is taken or the password too short."""
    name, hashed = _valid_username(username), hash_password(_valid_password(password))
    with ctx.db.write() as tx:
        now = ctx.clock.now()
        user = ConsoleUser(name, hashed, now)
        if not tx.console_users.add(user):
            raise InvalidRequest(f"Console user '{name}' already exists.", "username_taken")
        tx.audit.add([AuditEntry(now, "cli", "console.user.create", detail=name)])
    return user


def set_console_password(ctx: ServiceContext, username: str, password: str) -> None:
    """Change a console user's password and end every session of that user."""
    name, hashed = _valid_username(username), hash_password(_valid_password(password))
    with ctx.db.write() as tx:
        if not tx.console_users.set_password(name, hashed):
            raise NotFound(f"Console user '{name}' was not found.", "console_user_not_found")
        tx.console_sessions.delete_for_user(name)
        now = ctx.clock.now()
        tx.audit.add([AuditEntry(now, "cli", "console.user.password", detail=name)])


def list_console_users(ctx: ServiceContext) -> list[ConsoleUser]:
    with ctx.db.read() as tx:
        return tx.console_users.list()


@cache
def _decoy_hash() -> str:
    """Checked when the user name is unknown, so that a wrong name costs as much as a wrong
    password and timing does not reveal which names exist."""
    return hash_password(new_token())


def sign_in(ctx: ServiceContext, username: str, password: str) -> SignedIn:
    """Check the password and open a session; 401 with one message for any failure."""
    name = username.strip()[:200]
    with ctx.db.read() as tx:
        user = tx.console_users.get(name) if name else None
    stored = user.password_hash if user else _decoy_hash()
    # an over-long password is wrong, but still costs one hash (no timing difference)
    matches = verify_password(stored, password[:MAX_PASSWORD])
    good = matches and user is not None and len(password) <= MAX_PASSWORD
    now = ctx.clock.now()
    actor = f"console:{shown(name, 100)}"
    if not good:
        with ctx.db.write() as tx:
            tx.audit.add([AuditEntry(now, actor, "console.login.failed")])
        raise Unauthenticated(_WRONG, "wrong_password")
    assert user is not None
    token, csrf = new_token(), new_token()
    expires = now + SESSION_LIFETIME
    with ctx.db.write() as tx:
        tx.console_sessions.purge(now)  # expired sessions of anyone: cheap and keeps it small
        tx.console_sessions.add(
            ConsoleSession(hash_token(token), user.username, csrf, now, expires)
        )
        tx.console_users.touch_login(user.username, now)
        tx.audit.add([AuditEntry(now, actor, "console.login")])
    identity = ConsoleIdentity(user.username, csrf)
    return SignedIn(token, identity, int(SESSION_LIFETIME.total_seconds()))


def session_identity(ctx: ServiceContext, token: str | None) -> ConsoleIdentity | None:
    """The signed-in user of a session cookie, or None (absent, unknown or expired)."""
    if not token or len(token) > 100:
        return None
    with ctx.db.read() as tx:
        found = tx.console_sessions.get(hash_token(token), ctx.clock.now())
    return ConsoleIdentity(found.username, found.csrf_token) if found else None


def csrf_matches(identity: ConsoleIdentity, presented: str | None) -> bool:
    """The form's token is the session's (constant-time comparison)."""
    return bool(presented) and hmac.compare_digest(
        identity.csrf_token.encode(), (presented or "").encode()
    )


def sign_out(ctx: ServiceContext, token: str) -> None:
    """End the session of this cookie (audited)."""
    with ctx.db.write() as tx:
        found = tx.console_sessions.get(hash_token(token), ctx.clock.now())
        tx.console_sessions.delete(hash_token(token))
        if found is not None:
            now = ctx.clock.now()
            tx.audit.add([AuditEntry(now, f"console:{found.username}", "console.logout")])
