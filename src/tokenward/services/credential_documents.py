"""The sealed credential document and the pure rules about it.

A stored OAuth 2 document is the AuthValue JSON (``AccessToken``, ``RefreshToken``, ``Expires``,
``RefreshExpires``) plus, after a token exchange, the token type, the granted scope and the
provider's other response members (``TokenType``, ``Scope``, ``Raw``; SECURITY.md T-04, T-05).
Other auth types store their AuthValue as it was written.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tokenward.domain.authvalue import format_utc, mask_document
from tokenward.oauth.decisions import refresh_margin
from tokenward.oauth.responses import TokenSet
from tokenward.services.context import LifecyclePolicy

__all__ = ["TokenDocument", "document_from_tokens", "next_refresh", "read_document"]

_OWN_MEMBERS = frozenset({"access_token", "refresh_token", "token_type", "expires_in", "scope"})


@dataclass(frozen=True)
class TokenDocument:
    """An opened OAuth 2 document (or the plain secret of another auth type)."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_utc: datetime | None = None
    refresh_expires_utc: datetime | None = None
    token_type: str | None = None
    scope: str | None = None
    secret: str | None = field(default=None, repr=False)  # ApiKey, Basic: the whole value
    token_secret: str | None = field(default=None, repr=False)  # OAuth 1

    @property
    def pending(self) -> bool:
        """``"{}"``: nothing yet; authenticate at first use."""
        return self.access_token is None and self.refresh_token is None and self.secret is None


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_document(auth_type: str, document: str) -> TokenDocument:
    """Parse an opened document; never raises (a malformed one reads as empty)."""
    if auth_type not in {"OAuth2", "OAuth1"}:
        return TokenDocument(secret=document or None)
    try:
        fields = json.loads(document)
    except ValueError:
        return TokenDocument()
    if not isinstance(fields, dict):
        return TokenDocument()
    return TokenDocument(
        access_token=_text(fields.get("AccessToken")),
        refresh_token=_text(fields.get("RefreshToken")),
        expires_utc=_date(fields.get("Expires")),
        refresh_expires_utc=_date(fields.get("RefreshExpires")),
        token_type=_text(fields.get("TokenType")),
        scope=_text(fields.get("Scope")),
        token_secret=_text(fields.get("AccessTokenSecret")),
    )


def document_from_tokens(tokens: TokenSet, previous: TokenDocument | None) -> tuple[str, str]:
    """(document, masked) for a token response. Without a new refresh token the previous one
    is kept, and so is its expiry (RT-02); a new one replaces it and the old is never sent
    again."""
    refresh = tokens.refresh_token
    refresh_expires = None
    if refresh is None and previous is not None:
        refresh = previous.refresh_token
        refresh_expires = previous.refresh_expires_utc
    document: dict[str, Any] = {"AccessToken": tokens.access_token}
    if refresh is not None:
        document["RefreshToken"] = refresh
    if tokens.expires_at is not None:
        document["Expires"] = format_utc(tokens.expires_at)
    if refresh_expires is not None:
        document["RefreshExpires"] = format_utc(refresh_expires)
    document["TokenType"] = tokens.token_type
    if tokens.scope is not None:
        document["Scope"] = tokens.scope
    extra = {k: v for k, v in tokens.raw.items() if k not in _OWN_MEMBERS}
    if extra:
        document["Raw"] = extra
    text = json.dumps(document, separators=(",", ":"))
    return text, mask_document("OAuth2", text)


def next_refresh(
    policy: LifecyclePolicy,
    now: datetime,
    *,
    expires_utc: datetime | None,
    renewable: bool,
    last_refreshed_utc: datetime | None,
    rand: random.Random | None = None,
) -> datetime | None:
    """When the background refresher should look at a credential next (None: never).

    A token with a known lifetime is refreshed ahead of expiry at a random point of the window
    before its margin (full jitter, so a mass import does not stampede a provider); an idle one
    is kept alive (R-13). ``renewable``: a refresh token (or a grant that can mint) exists.
    """
    if not renewable:
        return None
    pick = (rand or random).random()
    candidates: list[datetime] = []
    if expires_utc is not None:
        lifetime = expires_utc - (last_refreshed_utc or now)
        margin = refresh_margin(lifetime if lifetime > timedelta(0) else None)
        due = expires_utc - margin
        window = min(policy.refresh_window, max(timedelta(0), due - now))
        candidates.append(due - window * pick)
    if policy.keepalive is not None:
        candidates.append((last_refreshed_utc or now) + policy.keepalive * (1 - 0.1 * pick))
    return max(now, min(candidates)) if candidates else None
