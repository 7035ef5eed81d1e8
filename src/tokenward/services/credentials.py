"""Credentials over time: a usable credential for every caller, refreshed exactly once.

DESIGN.md §8 and SECURITY.md §3.2. A caller asks for a credential (:func:`fresh_for_caller`);
most of the time the stored one is usable and the answer is one read (:func:`peek`). Otherwise
the credential is *renewed* (:func:`renew`): refreshed with its refresh token, or minted with
the client-credentials or password grant (``"{}"`` AuthValue, expired client-credential tokens).

Exactly one renewal per credential version runs at a time:

1. inside a process, concurrent callers share one flight (:class:`~.single_flight.Flights`);
2. across processes and hosts, the flight first takes the *lease* on the credential row — a
   guarded update that succeeds only while nobody else holds it — and writes an attempt id
   before anything is sent (:mod:`tokenward.services.refresh` does the exchange). The lease
   outlives the whole refresh deadline (:attr:`LifecyclePolicy.lease`). Callers elsewhere poll
   the row until its version changes, and keep using a still-valid token meanwhile.

The outcome is written with a compare-and-swap on the version (R-10, R-11), the new tokens are
committed before anyone uses them (R-07), and each state change emits one event. A credential
with a secondary token set (a hook's, :mod:`~tokenward.services.secondary_tokens`) is due when
either set is; each lease refreshes one set, so every version still comes from one refresh.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import anyio
import anyio.to_thread

from tokenward.catalog.schema import OAuth2Auth
from tokenward.crypto.fields import credential_aad
from tokenward.domain.models import Account, AccountConnector, AuthState, Credential
from tokenward.errors import (
    CredentialCorrupted,
    NotFound,
    ProviderUnavailable,
    StateConflict,
)
from tokenward.oauth.decisions import refresh_decision
from tokenward.oauth.requests import HttpRequest
from tokenward.oauth.response_rules import rules_for
from tokenward.oauth.responses import TokenSet, parse_token_response
from tokenward.services.account_access import account_header_id, account_not_found, check_access
from tokenward.services.account_connector_views import (
    account_connector_not_found,
    load_account_connector,
)
from tokenward.services.auth_values import authentication_entry
from tokenward.services.catalog import connector_for
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credential_documents import (
    TokenDocument,
    document_from_tokens,
    margin_for,
    next_refresh,
    read_document,
    secondary_due,
    secondary_expiry,
    with_secondary,
)
from tokenward.services.events import EventType, emit, event_for_transition
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.provider_setup import ProviderSetup, load_setup

__all__ = [
    "PRIMARY",
    "SECONDARY",
    "FreshCredential",
    "Lease",
    "Mode",
    "Peeked",
    "Renewal",
    "blocked",
    "emit_transition",
    "fresh_for_caller",
    "fresh_view",
    "mark_failed",
    "new_credential",
    "new_secondary_credential",
    "open_secret",
    "peek",
    "peek_item",
    "read_item",
    "refresh_now",
    "renew",
    "send_token_request",
    "store_token_set",
]

log = logging.getLogger("tokenward.credentials")

_USABLE = {AuthState.ACTIVE, AuthState.REFRESHING}
_BLOCKED_MESSAGES = {
    AuthState.NEEDS_REAUTH: (
        "needs_reauth",
        "The account connector must be re-authenticated: the provider no longer accepts its "
        "credential.",
    ),
    AuthState.ERROR_CONFIG: (
        "error_config",
        "The provider refused the connector's client configuration (ClientId, ClientSecret or "
        "scopes); fix it in the application connector, then refresh.",
    ),
    AuthState.EXHAUSTED: (
        "exhausted",
        "Refreshing the credential failed for too long; refresh it manually or re-authenticate.",
    ),
}


class Mode(StrEnum):
    """Why a renewal is asked for."""

    DEMAND = "demand"  # a caller needs a token: renew only if expired (or about to be)
    BACKGROUND = "background"  # the refresher: renew ahead of expiry, keep idle tokens alive
    FORCE = "force"  # a manual refresh, or the provider answered 401 to the current token


#: The token sets of a credential: its own, and the second one a hook may keep beside it.
PRIMARY = "primary"
SECONDARY = "secondary"


@dataclass(frozen=True)
class FreshCredential:
    """A usable credential for one call. Secrets stay out of repr."""

    account_connector_id: int
    auth_type: str
    version: int
    access_token: str | None = field(default=None, repr=False)
    token_type: str | None = None
    token_secret: str | None = field(default=None, repr=False)
    expires_utc: datetime | None = None
    scopes: tuple[str, ...] = ()
    #: the access token of the secondary set a hook keeps (methods with ``TokenSet: secondary``)
    secondary_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Renewal:
    """The stored credential cannot be used as it is: renew it (see :func:`renew`)."""

    account_id: str
    account_pk: int
    account_connector_id: int
    version: int


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


#: What a first read found: a usable credential, what to renew, or why none can be served.
Peeked = FreshCredential | Renewal | StateConflict


def not_authenticated() -> StateConflict:
    return StateConflict("The account connector is not authenticated.", "not_authenticated")


def blocked(cred: Credential) -> StateConflict:
    code, message = _BLOCKED_MESSAGES[cred.state]
    if cred.error_code:
        message = f"{message} Last error: {cred.error_code}."
    return StateConflict(message, code)


def open_secret(ctx: ServiceContext, cred: Credential) -> str:
    assert cred.secret_sealed is not None
    try:
        return ctx.sealer.open(cred.secret_sealed, credential_aad(cred.account_connector_id))
    except CredentialCorrupted:
        raise StateConflict(
            "The stored credential could not be decrypted (credential corrupted); it is not "
            "served. Write a new AuthValue or re-authenticate the connector.",
            "credential_corrupted",
        ) from None


def _scopes(cred: Credential, doc: TokenDocument) -> tuple[str, ...]:
    granted = doc.scope or cred.scope
    return tuple(granted.split()) if granted else ()


def fresh_view(auth_type: str, cred: Credential, doc: TokenDocument) -> FreshCredential:
    if auth_type == "OAuth2":
        return FreshCredential(
            account_connector_id=cred.account_connector_id,
            auth_type=auth_type,
            version=cred.version,
            access_token=doc.access_token,
            token_type=doc.token_type or "Bearer",
            expires_utc=doc.expires_utc,
            scopes=_scopes(cred, doc),
            secondary_token=doc.secondary.access_token if doc.secondary else None,
        )
    return FreshCredential(
        account_connector_id=cred.account_connector_id,
        auth_type=auth_type,
        version=cred.version,
        access_token=doc.access_token if auth_type == "OAuth1" else doc.secret,
        token_secret=doc.token_secret,
    )


def _usable(doc: TokenDocument, now: datetime, margin: timedelta) -> bool:
    """An access token that can be sent now (unknown expiry counts: refreshed on 401, T-04),
    and a secondary set, when there is one to renew, that is not due either."""
    return _primary_usable(doc, now, margin) and not secondary_due(doc, now, margin)


def _primary_usable(doc: TokenDocument, now: datetime, margin: timedelta) -> bool:
    if doc.access_token is None:
        return False
    return doc.expires_utc is None or doc.expires_utc - margin > now


def _auth_type(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, catalog_version: str | None = None
) -> str:
    return str(_entry(ctx, tx, item, catalog_version).AuthType)


def _entry(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, catalog_version: str | None = None
) -> Any:
    """The account connector's authentication entry (its knobs: RefreshMargin, …)."""
    connector = connector_for(ctx, tx, item.connector_id, catalog_version)
    return authentication_entry(connector, item.authentication_id)


def _peek_item(
    ctx: ServiceContext,
    tx: Tx,
    account: Account,
    item: AccountConnector,
    catalog_version: str | None = None,
) -> FreshCredential | Renewal:
    auth_type = _auth_type(ctx, tx, item, catalog_version)
    if auth_type == "None":
        return FreshCredential(
            item.id, auth_type, item.credential.version if item.credential else 0
        )
    cred = item.credential
    if cred is None or cred.secret_sealed is None:
        if cred is not None and cred.state in _BLOCKED_MESSAGES:
            raise blocked(cred)
        raise not_authenticated()
    if cred.state in _BLOCKED_MESSAGES:
        raise blocked(cred)
    doc = read_document(auth_type, open_secret(ctx, cred))
    if auth_type != "OAuth2":
        if cred.state not in _USABLE:
            raise not_authenticated()
        return fresh_view(auth_type, cred, doc)
    if cred.state in _USABLE and _usable(doc, ctx.clock.now(), ctx.lifecycle.hard_margin):
        return fresh_view(auth_type, cred, doc)
    return Renewal(account.id, account.pk, item.id, cred.version)


def read_item(
    tx: Tx, principal: Principal, header: str | None, ac_id: int, *, properties: bool = True
) -> tuple[Account, AccountConnector, str | None]:
    """The caller's account connector ``ac_id`` in one statement, with the custom connectors'
    version (catalog.view). Authorizes like every account-level call (401 without the account
    header, 403 for a token restricted to another account, 404 for another account's
    connector: K-03). ``properties=False``: the item comes without its properties."""
    account_id = account_header_id(header)
    found = tx.account_connectors.read_for_account(account_id, ac_id, properties=properties)
    if found.account is None:
        raise account_not_found(account_id)
    account = check_access(principal, found.account)
    if found.item is None:
        raise account_connector_not_found(ac_id)
    return account, found.item, found.catalog_version


def peek_item(
    ctx: ServiceContext,
    tx: Tx,
    account: Account,
    item: AccountConnector,
    catalog_version: str | None = None,
) -> Peeked:
    """:func:`peek` of an account connector already read: a refusal is returned, not raised, so
    that the caller can validate its own input first."""
    try:
        return _peek_item(ctx, tx, account, item, catalog_version)
    except StateConflict as refusal:
        return refusal


def peek(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> FreshCredential | Renewal:
    """One read: the stored credential if it is usable now, else what to renew (401/403/404 as
    :func:`read_item`)."""
    # one statement (read_item); the catalog lookup that may follow is independent of it
    with ctx.db.read(snapshot=False) as tx:
        account, item, catalog_version = read_item(tx, principal, header, ac_id, properties=False)
        return _peek_item(ctx, tx, account, item, catalog_version)


async def fresh_for_caller(
    ctx: ServiceContext,
    principal: Principal,
    header: str | None,
    ac_id: int,
    *,
    force: bool = False,
    stale_version: int | None = None,
    inline_read: bool = False,
    peeked: Peeked | None = None,
    token_set: str = PRIMARY,
) -> FreshCredential:
    """A usable credential of account connector ``ac_id`` for this caller.

    ``force`` with ``stale_version``: the token of that version was refused by the provider
    (401); it is refreshed unless a newer version already exists (P-04). ``inline_read``: run
    the first read on the event loop (the embedded SQLite database, where a read is cheaper
    than the hop to a worker thread; see ``web.deps.run_read``). ``peeked``: the first read was
    already made (:func:`peek_item`, in the caller's own read). ``token_set``: the set whose
    token was refused (``secondary``: the one a hook keeps), refreshed when ``force``.
    """
    if isinstance(peeked, StateConflict):
        raise peeked
    if peeked is not None:
        found = peeked
    elif inline_read:
        found = peek(ctx, principal, header, ac_id)
    else:
        found = await anyio.to_thread.run_sync(peek, ctx, principal, header, ac_id)
    if isinstance(found, FreshCredential):
        if not force or (stale_version is not None and found.version != stale_version):
            return found
        if found.auth_type != "OAuth2":
            return found
        found = await anyio.to_thread.run_sync(_renewal_of, ctx, header, ac_id, found.version)
    mode = Mode.FORCE if force else Mode.DEMAND
    return await renew(ctx, found, mode=mode, stale_version=stale_version, token_set=token_set)


def _renewal_of(ctx: ServiceContext, header: str | None, ac_id: int, version: int) -> Renewal:
    account_id = account_header_id(header)
    with ctx.db.read() as tx:
        account = tx.accounts.get(account_id)
    if account is None:
        raise account_not_found(account_id)
    return Renewal(account.id, account.pk, ac_id, version)


async def renew(
    ctx: ServiceContext,
    renewal: Renewal,
    *,
    mode: Mode,
    stale_version: int | None = None,
    token_set: str = PRIMARY,
) -> FreshCredential:
    """Renew one credential (single flight in the process, lease across processes);
    ``token_set``: the set a forced renewal refreshes."""
    from tokenward.services.refresh import exchange

    async def flight() -> FreshCredential:
        owner = uuid.uuid4().hex
        limit = time.monotonic() + ctx.lifecycle.lease.total_seconds() + 5
        pause = 0.02
        while True:
            step = await ctx.writes.run(
                functools.partial(
                    _take_in, ctx, renewal, mode, stale_version, owner, token_set=token_set
                )
            )
            if isinstance(step, FreshCredential):
                return step
            if isinstance(step, _Refused):
                raise step.error
            if isinstance(step, Lease):
                result = await exchange(ctx, step)
                if result is not None and not step.more:
                    return result
                continue  # superseded by a newer version, or the other set is due: look again
            # Someone else holds the lease: watch the row (reads only) until its version
            # changes or the lease ends, then decide again (double-checked, SECURITY.md §3.2).
            seen = step
            while True:
                if time.monotonic() > limit:
                    raise ProviderUnavailable(
                        "The credential is being refreshed elsewhere and did not finish in time.",
                        "refresh_in_progress",
                        retry_after=5,
                    )
                await anyio.sleep(pause)
                pause = min(pause * 2, 0.25)
                now_seen = await anyio.to_thread.run_sync(_watch, ctx, renewal)
                if now_seen != seen:
                    break

    result = await ctx.flights.run(renewal.account_connector_id, flight)
    if mode is Mode.FORCE and stale_version is not None and result.version == stale_version:
        # joined a flight that had no reason to refresh this version: run our own
        result = await ctx.flights.run(renewal.account_connector_id, flight)
    return result


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


def mark_failed(
    ctx: ServiceContext,
    tx: Tx,
    account_id: str,
    cred: Credential,
    state: AuthState,
    code: str,
    message: str,
    *,
    now: datetime,
    before: Credential | None = None,
) -> bool:
    """Turn the credential to a final failure state (``needs_reauth``, ``error_config``,
    ``exhausted``) with its error, next version, lease released; one event."""
    failed = replace(
        cred,
        state=state,
        version=cred.version + 1,
        error_code=code,
        error_message=message[:500],
        lease_owner=None,
        lease_until=None,
        attempt_id=None,
        attempt_started_utc=None,
        retry_after_utc=None,
        next_refresh_utc=None,
    )
    if not tx.credentials.swap(failed, now, expected_version=cred.version):
        return False
    previous = before or cred
    emit_transition(tx, now, account_id, previous, failed)
    ctx.audit.enqueue(
        AuditEntry(
            now, "tokenward", "credential.failed", account_id, cred.account_connector_id, code
        )
    )
    return True


def _failing(cred: Credential) -> bool:
    return cred.failures > 0 or (cred.state in _USABLE and cred.error_code is not None)


def emit_transition(
    tx: Tx, now: datetime, account_id: str, before: Credential, after: Credential
) -> None:
    event_type = event_for_transition(before.state, _failing(before), after.state, _failing(after))
    if event_type is None:
        return
    data: dict[str, Any] = {"AuthState": _shown(after.state).value}
    if after.error_code:
        data["AuthError"] = {"Code": after.error_code, "Message": after.error_message or ""}
    emit(
        tx,
        now,
        event_type,
        account_id=account_id,
        account_connector_id=after.account_connector_id,
        data=data,
    )


def _shown(state: AuthState) -> AuthState:
    return AuthState.ACTIVE if state is AuthState.REFRESHING else state


async def send_token_request(
    ctx: ServiceContext,
    request: HttpRequest,
    auth: OAuth2Auth,
    *,
    previous_refresh_token: str | None = None,
) -> TokenSet:
    """Send a token request through the one transport and parse the answer (raises
    ``OAuthError`` for a refusal or an unusable answer, ``TransportError`` below HTTP)."""
    response = await ctx.transport.send(
        request, timeout=ctx.lifecycle.provider_timeout, fresh_connection=True
    )
    return parse_token_response(
        response.status,
        response.headers,
        response.body,
        now=ctx.clock.now(),
        default_expires_in=auth.DefaultExpiresIn,
        previous_refresh_token=previous_refresh_token,
        rules=rules_for(auth),
    )


def new_credential(
    ctx: ServiceContext,
    ac_id: int,
    version: int,
    tokens: TokenSet,
    previous: TokenDocument | None,
    *,
    renewable: bool,
    now: datetime,
    scope: str | None = None,
    auth: Any = None,
) -> Credential:
    """The credential row for a fresh token response: active, next version, no lease, no
    failure, the next background refresh scheduled (``auth``: the entry whose knobs —
    ``RefreshMargin``, ``ReauthOnExpiry`` — shape the schedule)."""
    document, masked = document_from_tokens(tokens, previous)
    opened = read_document("OAuth2", document)
    return Credential(
        account_connector_id=ac_id,
        state=AuthState.ACTIVE,
        version=version,
        secret_sealed=ctx.sealer.seal(document, credential_aad(ac_id)),
        masked=masked,
        expires_utc=tokens.expires_at,
        refresh_expires_utc=opened.refresh_expires_utc,
        last_refreshed_utc=now,
        scope=tokens.scope or scope,
        next_refresh_utc=next_refresh(
            ctx.lifecycle,
            now,
            expires_utc=tokens.expires_at,
            renewable=renewable and opened.refresh_token is not None,
            last_refreshed_utc=now,
            auth=auth,
            refresh_expires_utc=opened.refresh_expires_utc,
            secondary_expires_utc=secondary_expiry(opened),
        ),
    )


def new_secondary_credential(
    ctx: ServiceContext,
    before: Credential,
    tokens: TokenSet,
    previous: TokenDocument,
    *,
    now: datetime,
    auth: Any = None,
) -> Credential:
    """The credential row once its secondary set was refreshed: the credential's own token set
    and dates as they were, the new secondary set sealed with them; active, next version, no
    lease, no failure, the next look at the earlier expiry of the two."""
    ac_id = before.account_connector_id
    document, masked = with_secondary(open_secret(ctx, before), tokens, previous.secondary)
    opened = read_document("OAuth2", document)
    return Credential(
        account_connector_id=ac_id,
        state=AuthState.ACTIVE,
        version=before.version + 1,
        secret_sealed=ctx.sealer.seal(document, credential_aad(ac_id)),
        masked=masked,
        expires_utc=before.expires_utc,
        refresh_expires_utc=before.refresh_expires_utc,
        last_refreshed_utc=before.last_refreshed_utc,
        scope=before.scope,
        next_refresh_utc=next_refresh(
            ctx.lifecycle,
            now,
            expires_utc=opened.expires_utc,
            renewable=opened.refresh_token is not None,
            last_refreshed_utc=before.last_refreshed_utc,
            auth=auth,
            refresh_expires_utc=opened.refresh_expires_utc,
            secondary_expires_utc=secondary_expiry(opened),
        ),
    )


def store_token_set(
    ctx: ServiceContext,
    tx: Tx,
    item: AccountConnector,
    account_id: str,
    tokens: TokenSet,
    *,
    actor: str,
    auth: Any = None,
) -> Credential:
    """Store the tokens of a completed flow as the credential's next version (inside the
    caller's write transaction): active, lease and failures cleared, refresh scheduled; one
    ``authenticated`` (or ``recovered``) event; audited."""
    now = ctx.clock.now()
    before = tx.credentials.get(item.id) or Credential(account_connector_id=item.id)
    fresh = new_credential(
        ctx, item.id, before.version + 1, tokens, None, renewable=True, now=now, auth=auth
    )
    tx.account_connectors.put_credential(fresh, now)
    transition = event_for_transition(before.state, _failing(before), fresh.state, False)
    emit(
        tx,
        now,
        transition or EventType.AUTHENTICATED,  # a re-authentication is announced too
        account_id=account_id,
        account_connector_id=item.id,
        data={"AuthState": AuthState.ACTIVE.value},
    )
    tx.audit.add([AuditEntry(now, actor, "credential.authorize", account_id, item.id)])
    return fresh


async def refresh_now(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> None:
    """``POST …/refresh``: refresh now, forced but still single flight. Resets ``exhausted``
    and ``error_config`` when it succeeds (R-14); ``needs_reauth`` stays a 409."""

    def locate() -> Renewal:
        with ctx.db.read() as tx:
            account, item = load_account_connector(tx, principal, header, ac_id)
            if _auth_type(ctx, tx, item) != "OAuth2":
                raise StateConflict(
                    "Only OAuth 2.0 credentials can be refreshed.", "not_refreshable"
                )
            version = item.credential.version if item.credential else 0
            return Renewal(account.id, account.pk, item.id, version)

    renewal = await anyio.to_thread.run_sync(locate)
    await renew(ctx, renewal, mode=Mode.FORCE)
