"""The lease: deciding, in one write transaction, whether a credential needs renewing.

Part of :mod:`tokenward.services.credentials`: :func:`_take_in` runs as one group-commit unit
(:mod:`~tokenward.services.group_commit`) and either returns the usable credential, takes the
lease (a guarded update with a fresh attempt id, written before anything is sent), reports
that someone else holds it, or records a dead end. The mode (:class:`Mode`) says who asks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tokenward.catalog.schema import OAuth2Auth
from tokenward.domain.models import AccountConnector, AuthState, Credential
from tokenward.errors import (
    NotFound,
    ProviderUnavailable,
    StateConflict,
)
from tokenward.oauth.decisions import refresh_decision
from tokenward.services.context import ServiceContext
from tokenward.services.credential_documents import (
    TokenDocument,
    margin_for,
    next_refresh,
    read_document,
    secondary_due,
    secondary_expiry,
)
from tokenward.services.credential_views import (
    _BLOCKED_MESSAGES,
    _USABLE,
    PRIMARY,
    SECONDARY,
    FreshCredential,
    Renewal,
    _entry,
    _primary_usable,
    _usable,
    blocked,
    fresh_view,
    not_authenticated,
    open_secret,
)
from tokenward.services.credential_writes import (
    mark_failed,
)
from tokenward.services.ports import Tx
from tokenward.services.provider_setup import ProviderSetup, load_setup

__all__ = [
    "Lease",
    "Mode",
]


class Mode(StrEnum):
    """Why a renewal is asked for."""

    DEMAND = "demand"  # a caller needs a token: renew only if expired (or about to be)
    BACKGROUND = "background"  # the refresher: renew ahead of expiry, keep idle tokens alive
    FORCE = "force"  # a manual refresh, or the provider answered 401 to the current token


@dataclass(frozen=True)
class Lease:
    """This flight owns the refresh of one credential until ``taken.lease_until``."""

    account_id: str
    item: AccountConnector
    before: Credential  # as it was before the lease was taken
    taken: Credential  # with the lease
    setup: ProviderSetup
    document: TokenDocument
    grant: str  # refresh_token | client_credentials | password
    lost: bool  # an earlier attempt never finished: its answer may be lost
    target: str = PRIMARY  # the token set this lease refreshes (one per lease and version)
    more: bool = False  # the secondary set is due too: look again once this one is written


@dataclass(frozen=True)
class _Refused:
    """The credential was marked failed in the transaction; raise this once it committed."""

    error: StateConflict


@dataclass(frozen=True)
class _Busy:
    """Someone else holds the lease until ``lease_until`` (version ``version``)."""

    version: int
    lease_until: datetime | None


def _watch(ctx: ServiceContext, renewal: Renewal) -> _Busy:
    """The row as a waiter sees it; the lease counts as gone once it has expired."""
    with ctx.db.read() as tx:
        cred = tx.credentials.get(renewal.account_connector_id)
    if cred is None:
        return _Busy(-1, None)
    until = cred.lease_until if cred.leased(ctx.clock.now()) else None
    return _Busy(cred.version, until)


def _take(
    ctx: ServiceContext, renewal: Renewal, mode: Mode, stale_version: int | None, owner: str
) -> FreshCredential | Lease | _Busy | _Refused:
    """:func:`_take_in` in a write transaction of its own."""
    with ctx.db.write() as tx:
        return _take_in(ctx, renewal, mode, stale_version, owner, tx)


def _take_in(
    ctx: ServiceContext,
    renewal: Renewal,
    mode: Mode,
    stale_version: int | None,
    owner: str,
    tx: Tx,
    token_set: str = PRIMARY,
) -> FreshCredential | Lease | _Busy | _Refused:
    """In the write transaction ``tx`` (a group-commit unit): decide whether the credential
    needs renewing and, if so, take its lease (for one token set: ``token_set`` when forced).
    Returns the usable credential, the lease, or "busy"."""
    item = tx.account_connectors.get(renewal.account_pk, renewal.account_connector_id)
    if item is None:
        raise NotFound(
            f"Account connector {renewal.account_connector_id} not found.",
            "account_connector_not_found",
        )
    cred = tx.credentials.get(item.id)
    if cred is None or cred.secret_sealed is None:
        if cred is not None and cred.state in _BLOCKED_MESSAGES:
            raise blocked(cred)
        raise not_authenticated()
    now = ctx.clock.now()
    entry = _entry(ctx, tx, item)
    auth_type = str(entry.AuthType)
    doc = read_document(auth_type, open_secret(ctx, cred))
    ready = _ready(ctx, cred, doc, auth_type, mode, stale_version, now, entry)
    if ready is not None:
        if mode is Mode.BACKGROUND:
            _reschedule(ctx, tx, cred, doc, now, entry)
        return ready
    if cred.leased(now):
        meanwhile = _serve_meanwhile(ctx, cred, doc, auth_type, mode, now)
        return meanwhile or _Busy(cred.version, cred.lease_until)
    setup = load_setup(ctx, tx, item)
    target, more = _target(ctx, cred, doc, mode, now, entry, token_set)
    grant = "refresh_token" if target == SECONDARY else _grant(setup, doc, now)
    if grant is None:
        return _dead_end(ctx, tx, renewal.account_id, cred, doc, setup, mode, now)
    if mode is not Mode.FORCE and cred.retry_after_utc and now < cred.retry_after_utc:
        meanwhile = _serve_meanwhile(ctx, cred, doc, auth_type, mode, now)
        if meanwhile is not None:
            return meanwhile
        wait = max(1, int((cred.retry_after_utc - now).total_seconds() + 0.999))
        raise ProviderUnavailable(
            "The provider is unavailable and the access token has expired; retry later.",
            "provider_unavailable",
            retry_after=wait,
        )
    taken = replace(
        cred,
        state=AuthState.REFRESHING if cred.state is AuthState.ACTIVE else cred.state,
        lease_owner=owner,
        lease_until=now + ctx.lifecycle.lease,
        attempt_id=uuid.uuid4().hex,
        attempt_started_utc=now,
    )
    if not tx.credentials.swap(taken, now, expected_version=cred.version, lease_free_at=now):
        return _Busy(-1, None)  # changed under us: look again at once
    return Lease(
        account_id=renewal.account_id,
        item=item,
        before=cred,
        taken=taken,
        setup=setup,
        document=doc,
        grant=grant,
        lost=cred.attempt_id is not None,
        target=target,
        more=more,
    )


def _ready(
    ctx: ServiceContext,
    cred: Credential,
    doc: TokenDocument,
    auth_type: str,
    mode: Mode,
    stale_version: int | None,
    now: datetime,
    entry: Any = None,
) -> FreshCredential | None:
    """The credential as it is, when this mode has no reason to renew it; raises when the
    state forbids any use. ``entry``: the authentication entry (its ``RefreshMargin``)."""
    if cred.state is AuthState.NEEDS_REAUTH:
        raise blocked(cred)
    if cred.state in _BLOCKED_MESSAGES and mode is not Mode.FORCE:
        raise blocked(cred)
    if cred.state is AuthState.UNAUTHENTICATED and not doc.pending:
        raise not_authenticated()
    if auth_type != "OAuth2":
        return fresh_view(auth_type, cred, doc)
    usable_state = cred.state in _USABLE
    if mode is Mode.FORCE:
        if usable_state and stale_version is not None and cred.version != stale_version:
            return fresh_view(auth_type, cred, doc)
        return None
    if mode is Mode.DEMAND:
        if usable_state and _usable(doc, now, ctx.lifecycle.hard_margin):
            return fresh_view(auth_type, cred, doc)
        return None
    due = _primary_due(ctx, cred, doc, now, entry) or secondary_due(
        doc, now, margin_for(entry, None)
    )
    if usable_state and not due and (doc.access_token or doc.pending):
        return fresh_view(auth_type, cred, doc)
    if not usable_state and not doc.pending:
        return fresh_view(auth_type, cred, doc)
    return None


def _primary_due(
    ctx: ServiceContext, cred: Credential, doc: TokenDocument, now: datetime, entry: Any
) -> bool:
    """The background refresher's decision for the credential's own token set."""
    lifetime = (
        doc.expires_utc - cred.last_refreshed_utc
        if doc.expires_utc and cred.last_refreshed_utc
        else None
    )
    decision = refresh_decision(
        now=now,
        expires_at=doc.expires_utc if doc.access_token else now,
        refresh_token_present=doc.refresh_token is not None,
        last_refreshed=cred.last_refreshed_utc,
        margin=margin_for(entry, lifetime),
        keepalive_after=ctx.lifecycle.keepalive,
    )
    return decision.refresh


def _target(
    ctx: ServiceContext,
    cred: Credential,
    doc: TokenDocument,
    mode: Mode,
    now: datetime,
    entry: Any,
    wanted: str,
) -> tuple[str, bool]:
    """The token set a lease refreshes — one set per lease, so one refresh per version — and
    whether the secondary set is due as well (it then gets the next lease). A forced renewal
    refreshes the set the caller's refused token came from (``wanted``)."""
    if doc.secondary is None or doc.secondary.refresh_token is None:
        return PRIMARY, False
    if mode is Mode.FORCE:
        return wanted, False
    if mode is Mode.DEMAND:
        first = not _primary_usable(doc, now, ctx.lifecycle.hard_margin)
        second = secondary_due(doc, now, ctx.lifecycle.hard_margin)
    else:
        first = _primary_due(ctx, cred, doc, now, entry)
        second = secondary_due(doc, now, margin_for(entry, None))
    if first or not second:
        return PRIMARY, first and second
    return SECONDARY, False


def _reschedule(
    ctx: ServiceContext,
    tx: Tx,
    cred: Credential,
    doc: TokenDocument,
    now: datetime,
    entry: Any = None,
) -> None:
    """Nothing to do yet: tell the background refresher when to look again."""
    later = next_refresh(
        ctx.lifecycle,
        now,
        expires_utc=doc.expires_utc,
        renewable=doc.refresh_token is not None,
        last_refreshed_utc=cred.last_refreshed_utc,
        auth=entry,
        refresh_expires_utc=doc.refresh_expires_utc,
        secondary_expires_utc=secondary_expiry(doc),
    )
    if later is not None and later <= now:
        later = now + ctx.lifecycle.cooldown
    if later != cred.next_refresh_utc:
        tx.credentials.swap(
            replace(cred, next_refresh_utc=later),
            now,
            expected_version=cred.version,
            lease_free_at=now,
        )


def _serve_meanwhile(
    ctx: ServiceContext,
    cred: Credential,
    doc: TokenDocument,
    auth_type: str,
    mode: Mode,
    now: datetime,
) -> FreshCredential | None:
    """While a refresh runs elsewhere or the provider is down, a token that has not expired
    yet keeps being served (RT-05, R-04) — except to a caller whose token was just refused."""
    if mode is Mode.FORCE or cred.state not in _USABLE:
        return None
    if doc.access_token is None or (doc.expires_utc is not None and doc.expires_utc <= now):
        return None
    return fresh_view(auth_type, cred, doc)


def _grant(setup: ProviderSetup, doc: TokenDocument, now: datetime | None = None) -> str | None:
    """How this credential can be renewed: its refresh token (unless past ``RefreshExpires``),
    or a grant that mints."""
    auth = setup.auth
    if not isinstance(auth, OAuth2Auth):
        return None
    refresh_expired = (
        now is not None and doc.refresh_expires_utc is not None and doc.refresh_expires_utc <= now
    )
    if doc.refresh_token is not None and not auth.NoRefresh and not refresh_expired:
        return "refresh_token"
    if auth.OAuth2Type == "ClientCredentials" or doc.grant == "client_credentials":
        return "client_credentials"
    if auth.OAuth2Type == "PasswordCredentials":
        return "password"
    return None


def _dead_end(
    ctx: ServiceContext,
    tx: Tx,
    account_id: str,
    cred: Credential,
    doc: TokenDocument,
    setup: ProviderSetup,
    mode: Mode,
    now: datetime,
) -> FreshCredential | _Refused:
    """Nothing can renew this credential. A still-valid token keeps being served; an expired
    one turns the credential to ``needs_reauth`` (one event) and the caller gets a 409."""
    if (
        mode is Mode.BACKGROUND
        and doc.access_token
        and (doc.expires_utc is None or doc.expires_utc > now)
    ):
        # ReauthOnExpiry: look again when the token expires, to report needs_reauth on time
        later = doc.expires_utc if getattr(setup.auth, "ReauthOnExpiry", False) else None
        tx.credentials.swap(
            replace(cred, next_refresh_utc=later), now, expected_version=cred.version
        )
        return fresh_view(setup.auth_type, cred, doc)
    if doc.pending:
        raise not_authenticated()
    expired_refresh = doc.refresh_token is not None and (
        doc.refresh_expires_utc is not None and doc.refresh_expires_utc <= now
    )
    code = "refresh_token_expired" if expired_refresh else "token_expired"
    message = "The access token expired and the provider gave no way to renew it."
    mark_failed(ctx, tx, account_id, cred, AuthState.NEEDS_REAUTH, code, message, now=now)
    # returned, not raised: raising inside the transaction would roll the failure back
    return _Refused(
        StateConflict(f"The account connector must be re-authenticated ({code}).", "needs_reauth")
    )
