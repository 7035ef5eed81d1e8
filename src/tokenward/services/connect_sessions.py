"""Connect sessions (DESIGN.md §7 "Connect page"): ``/account/signinwithtoken`` turns a sign-in
token into a 30-minute session of one account and user, carried by a cookie.

The session is not stored: the cookie holds it sealed (AES-256-GCM under the service's keys,
its associated data naming what it is), so it cannot be read, forged or moved to another use.
It names the account by Id *and* primary key (an account deleted and created again under the
same Id does not inherit sessions), the user, its expiry, a CSRF token for the page's forms and
links, and whether the page connects in popups (Cyclr's ``inline=false``, the default).

The sign-in token is consumed by the same conditional update the webflow uses (SECURITY.md
K-02): exactly one of any number of concurrent uses succeeds; an unknown, used or expired token
gets Cyclr's 403 page. The ``returnUrl`` must be a path on this service (``/…``, not ``//…``);
anything else falls back to the connect page.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote, urlsplit

from tokenward.crypto.aead import associated_data
from tokenward.crypto.hashing import hash_token
from tokenward.errors import CredentialCorrupted, Forbidden
from tokenward.services.context import ServiceContext
from tokenward.services.webflow_checks import FORBIDDEN_MESSAGE

__all__ = [
    "CONNECT_PATH",
    "SESSION_LIFETIME",
    "ConnectSession",
    "SignedIn",
    "open_session",
    "parse_signin_query",
    "safe_return_url",
    "seal_session",
    "sign_in",
]

CONNECT_PATH = "/connect"
SESSION_LIFETIME = timedelta(minutes=30)
MAX_RETURN_URL = 2048
_AAD = associated_data("connect_sessions", "cookie", "session")


@dataclass(frozen=True)
class ConnectSession:
    account_pk: int
    account_id: str
    username: str
    expires_utc: datetime
    csrf: str
    popup: bool  # connect in a popup (inline=false) rather than by redirecting this window


@dataclass(frozen=True)
class SignedIn:
    session: ConnectSession
    cookie: str  # the sealed session
    location: str  # where the browser goes next (a path of this service)


def seal_session(ctx: ServiceContext, session: ConnectSession) -> str:
    data = asdict(session)
    data["expires_utc"] = session.expires_utc.isoformat()
    return ctx.sealer.seal(json.dumps(data, separators=(",", ":")), _AAD)


def open_session(ctx: ServiceContext, sealed: str | None) -> ConnectSession | None:
    """The session in a cookie; None when absent, not ours, tampered with or expired."""
    if not sealed or len(sealed) > 4096:
        return None
    try:
        data = json.loads(ctx.sealer.open(sealed, _AAD))
        session = ConnectSession(
            account_pk=int(data["account_pk"]),
            account_id=str(data["account_id"]),
            username=str(data["username"]),
            expires_utc=datetime.fromisoformat(data["expires_utc"]),
            csrf=str(data["csrf"]),
            popup=bool(data["popup"]),
        )
    except (CredentialCorrupted, ValueError, KeyError, TypeError):
        return None
    return session if session.expires_utc > ctx.clock.now() else None


def parse_signin_query(query: str) -> tuple[str | None, str | None]:
    """(token, returnUrl) of ``/account/signinwithtoken``'s raw query, read tolerantly: names in
    any case, a ``+`` in the token kept (Cyclr-era tokens were base64), and an unencoded
    ``returnUrl`` whose own query was split at ``&`` glued back together."""
    token: str | None = None
    return_url: str | None = None
    gluing = False
    for segment in query.split("&"):
        key, sep, value = segment.partition("=")
        name = unquote(key).strip().lower() if sep else ""
        if name == "token" and token is None:
            token, gluing = unquote(value), False
        elif name == "returnurl" and return_url is None:
            return_url = unquote(value.replace("+", " "))
            gluing = "?" in return_url
        elif gluing and return_url is not None and segment:
            return_url = f"{return_url}&{segment}"
    return token, return_url


def safe_return_url(return_url: str | None) -> str:
    """A path of this service, or the connect page: never another origin (open redirect)."""
    text = (return_url or "").strip()
    if (
        not text.startswith("/")
        or text.startswith("//")
        or len(text) > MAX_RETURN_URL
        or any(c == "\\" or c.isspace() or not c.isprintable() for c in text)
    ):
        return CONNECT_PATH
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return CONNECT_PATH
    return text


def _popup(location: str) -> bool:
    """``inline=true`` in the page's query asks for redirects; otherwise popups."""
    flags = {k.lower(): v.lower() for k, v in parse_qsl(urlsplit(location).query)}
    return flags.get("inline") != "true"


def sign_in(ctx: ServiceContext, token: str | None, return_url: str | None) -> SignedIn:
    """Consume the sign-in token and open a session; the 403 page when the token is unusable."""
    if not token or len(token) > 200:
        raise Forbidden(FORBIDDEN_MESSAGE, "signin_token_invalid")
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        found = tx.signin_tokens.consume(hash_token(token.strip()), now)
        account = tx.accounts.get_by_pk(found.account_pk) if found else None
    if found is None or account is None:
        raise Forbidden(FORBIDDEN_MESSAGE, "signin_token_invalid")
    location = safe_return_url(return_url)
    session = ConnectSession(
        account_pk=account.pk,
        account_id=account.id,
        username=found.username,
        expires_utc=now + SESSION_LIFETIME,
        csrf=secrets.token_urlsafe(24),
        popup=_popup(location),
    )
    return SignedIn(session, seal_session(ctx, session), location)
