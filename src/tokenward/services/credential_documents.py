"""The sealed credential document and the pure rules about it.

A stored OAuth 2 document is the AuthValue JSON (``AccessToken``, ``RefreshToken``, ``Expires``,
``RefreshExpires``) plus, after a token exchange, the token type, the granted scope and the
provider's other response members (``TokenType``, ``Scope``, ``Raw``; SECURITY.md T-04, T-05)
and, when a hook keeps one, a second token set of the grant with its own refresh token and expiry
(``Secondary``: ``AccessToken``, ``RefreshToken``, ``Expires``, ``TokenType``, ``Scope``). Other
auth types store their AuthValue as it was written.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tokenward.catalog.schema import OAuth2Auth
from tokenward.domain.authvalue import format_utc, mask_document
from tokenward.oauth.decisions import refresh_margin
from tokenward.oauth.responses import TokenSet
from tokenward.services.context import LifecyclePolicy

__all__ = [
    "TokenDocument",
    "document_from_tokens",
    "margin_for",
    "next_refresh",
    "read_document",
    "secondary_due",
    "secondary_expiry",
    "with_secondary",
]

_OWN_MEMBERS = frozenset({"access_token", "refresh_token", "token_type", "expires_in", "scope"})
GRANTS = frozenset({"client_credentials"})  # the shapes a hook may give a credential


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
    grant: str | None = None  # "client_credentials": re-minted, not refreshed (a hook said so)
    #: a second token set (a hook's): refreshed on its own, with its own refresh token
    secondary: TokenDocument | None = None

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
    return _opened(fields)


def _opened(fields: dict[str, Any]) -> TokenDocument:
    nested = fields.get("Secondary")
    return TokenDocument(
        access_token=_text(fields.get("AccessToken")),
        refresh_token=_text(fields.get("RefreshToken")),
        expires_utc=_date(fields.get("Expires")),
        refresh_expires_utc=_date(fields.get("RefreshExpires")),
        token_type=_text(fields.get("TokenType")),
        scope=_text(fields.get("Scope")),
        token_secret=_text(fields.get("AccessTokenSecret")),
        grant=_text(fields.get("Grant")),
        secondary=_opened(nested) if isinstance(nested, dict) else None,
    )


def _set_member(
    access: str | None,
    refresh: str | None,
    expires: datetime | None,
    token_type: str | None,
    scope: str | None,
) -> dict[str, Any]:
    """A token set as stored (the AuthValue field names), members that are None left out."""
    member = {
        "AccessToken": access,
        "RefreshToken": refresh,
        "Expires": format_utc(expires) if expires is not None else None,
        "TokenType": token_type,
        "Scope": scope,
    }
    return {k: v for k, v in member.items() if v is not None}


def _secondary_member(tokens: TokenSet | None, previous: TokenDocument | None) -> Any:
    """The ``Secondary`` member: the new set, else the stored one unchanged (refreshing one set
    never touches the other), else None."""
    if tokens is not None:
        old = previous.refresh_token if previous is not None else None
        return _set_member(
            tokens.access_token,
            tokens.refresh_token or old,
            tokens.expires_at,
            tokens.token_type,
            tokens.scope,
        )
    if previous is None:
        return None
    return _set_member(
        previous.access_token,
        previous.refresh_token,
        previous.expires_utc,
        previous.token_type,
        previous.scope,
    )


def document_from_tokens(tokens: TokenSet, previous: TokenDocument | None) -> tuple[str, str]:
    """(document, masked) for a token response. Without a new refresh token the previous one
    is kept, and so is its expiry (RT-02); a new one replaces it and the old is never sent
    again."""
    refresh = tokens.refresh_token
    refresh_expires = tokens.refresh_expires_at  # RefreshExpiresInField
    if refresh is None and previous is not None:
        refresh = previous.refresh_token
        refresh_expires = previous.refresh_expires_utc
    elif previous is not None and refresh == previous.refresh_token and refresh_expires is None:
        refresh_expires = previous.refresh_expires_utc  # the same token keeps its expiry
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
    grant = tokens.grant or (previous.grant if previous is not None else None)
    if grant is not None:
        document["Grant"] = grant
    extra = {k: v for k, v in tokens.raw.items() if k not in _OWN_MEMBERS}
    if extra:
        document["Raw"] = extra
    secondary = _secondary_member(
        tokens.secondary, previous.secondary if previous is not None else None
    )
    if secondary is not None:
        document["Secondary"] = secondary
    text = json.dumps(document, separators=(",", ":"))
    return text, mask_document("OAuth2", text)


def with_secondary(
    document: str, tokens: TokenSet, previous: TokenDocument | None
) -> tuple[str, str]:
    """(document, masked): the opened ``document`` with its secondary set replaced by
    ``tokens`` (without a new refresh token the previous one is kept, RT-02); everything else,
    the top-level set included, stays as it was."""
    fields = json.loads(document)
    fields["Secondary"] = _secondary_member(tokens, previous)
    text = json.dumps(fields, separators=(",", ":"))
    return text, mask_document("OAuth2", text)


def secondary_expiry(doc: TokenDocument) -> datetime | None:
    """When the secondary set must be refreshed by: its expiry, when it has one and a refresh
    token to renew it with (None otherwise: nothing to schedule)."""
    second = doc.secondary
    if second is None or second.refresh_token is None:
        return None
    return second.expires_utc


def secondary_due(doc: TokenDocument, now: datetime, margin: timedelta) -> bool:
    """Whether the secondary set is inside ``margin`` of its expiry (or past it)."""
    expires = secondary_expiry(doc)
    return expires is not None and expires - margin <= now


def margin_for(auth: Any, lifetime: timedelta | None) -> timedelta:
    """How early to refresh: the connector's ``RefreshMargin`` (seconds) when it sets one —
    providers that refuse early refreshes need a small one, others a large one — else the
    default rule of :func:`~tokenward.oauth.decisions.refresh_margin`."""
    if isinstance(auth, OAuth2Auth) and auth.RefreshMargin is not None:
        return timedelta(seconds=auth.RefreshMargin)
    return refresh_margin(lifetime)


def next_refresh(
    policy: LifecyclePolicy,
    now: datetime,
    *,
    expires_utc: datetime | None,
    renewable: bool,
    last_refreshed_utc: datetime | None,
    rand: random.Random | None = None,
    auth: Any = None,
    refresh_expires_utc: datetime | None = None,
    secondary_expires_utc: datetime | None = None,
) -> datetime | None:
    """When the background refresher should look at a credential next (None: never).

    A token with a known lifetime is refreshed ahead of expiry at a random point of the window
    before its margin (``auth``'s ``RefreshMargin`` when set; full jitter, so a mass import
    does not stampede a provider); an idle one is kept alive (R-13), and a refresh token with
    its own expiry (``RefreshExpiresInField``) is used before it runs out. ``renewable``: a
    refresh token (or a grant that can mint) exists. A connector with ``ReauthOnExpiry`` has
    its unrenewable credential looked at when the token expires, so ``needs_reauth`` (and its
    event) comes on time rather than at the next use. A secondary token set
    (``secondary_expires_utc``, :func:`secondary_expiry`) is looked at its own margin
    (``RefreshMargin``, else the default floor) before it expires: the earlier of the two wins.
    """
    if isinstance(auth, OAuth2Auth) and auth.NoRefresh and auth.OAuth2Type == "AuthorisationCode":
        renewable = False  # a refresh token it may hold is never used
    second = (
        None if secondary_expires_utc is None else secondary_expires_utc - margin_for(auth, None)
    )
    if not renewable:
        reauth = isinstance(auth, OAuth2Auth) and auth.ReauthOnExpiry
        looks = [max(now, expires_utc)] if reauth and expires_utc is not None else []
        looks += [max(now, second)] if second is not None else []
        return min(looks) if looks else None
    pick = (rand or random).random()
    candidates: list[datetime] = []
    if expires_utc is not None:
        lifetime = expires_utc - (last_refreshed_utc or now)
        margin = margin_for(auth, lifetime if lifetime > timedelta(0) else None)
        due = expires_utc - margin
        window = min(policy.refresh_window, max(timedelta(0), due - now))
        if isinstance(auth, OAuth2Auth) and auth.RefreshMargin is not None:
            window = timedelta(0)  # an exact margin: jitter could land before it is allowed
        candidates.append(due - window * pick)
    if refresh_expires_utc is not None:
        candidates.append(max(now, refresh_expires_utc - refresh_margin(None)))
    if second is not None:
        candidates.append(second)
    if policy.keepalive is not None:
        candidates.append((last_refreshed_utc or now) + policy.keepalive * (1 - 0.1 * pick))
    return max(now, min(candidates)) if candidates else None
