"""The credential of an account connector as the partner API sees it: written as an AuthValue,
sealed at rest, read back masked (or revealed for partner integration connectors), dropped.

State rules (DESIGN.md §5, §8): a written token, key or Basic value makes the credential
``active``. ``"{}"`` stores a *pending* credential — ``unauthenticated`` until the first
successful token fetch at the next method call (client credentials, password grant) — so
``Authenticated`` stays false for it. ``Authenticated`` is true only for an ``active`` (or
``refreshing``) credential whose sealed secret opens; a ciphertext that does not open
(moved from another row, tampered, unknown key: SECURITY.md S-03) is never served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tokenward.catalog.schema import Connector
from tokenward.crypto.fields import credential_aad
from tokenward.domain.authvalue import ParsedAuthValue, public_document
from tokenward.domain.models import AccountConnector, AuthState, Credential
from tokenward.domain.text import shown
from tokenward.errors import CredentialCorrupted, InvalidRequest, StateConflict
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credential_documents import next_refresh
from tokenward.services.events import EventType, emit, event_for_transition
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "CORRUPTED_MESSAGE",
    "CredentialReading",
    "authentication_entry",
    "deauthenticated_event",
    "drop_credential",
    "read_credential",
    "store_auth_value",
]

CORRUPTED_MESSAGE = (
    "The stored credential could not be decrypted (credential corrupted); it is not served. "
    "Write a new AuthValue or re-authenticate the connector."
)
_USABLE = {AuthState.ACTIVE, AuthState.REFRESHING}


@dataclass(frozen=True)
class CredentialReading:
    """What an account connector response says about its credential."""

    auth_value: str | None
    authenticated: bool
    state: AuthState
    error: tuple[str, str] | None = None  # (Code, Message) of the last failure
    expires_utc: datetime | None = None
    last_refreshed_utc: datetime | None = None


def authentication_entry(connector: Connector | None, authentication_id: str | None) -> Any:
    """The connector's authentication method with this Id (its first when None); 400 if unknown."""
    if connector is None:
        raise StateConflict(
            "The connector of this account connector is no longer in the catalog.",
            "connector_missing",
        )
    entry = connector.auth(authentication_id.strip() if authentication_id else None)
    if entry is None:
        quoted = shown(authentication_id or "", 100)
        raise InvalidRequest(
            f"AuthenticationId '{quoted}' is not an authentication method of connector "
            f"{connector.Id}.",
            "unknown_authentication",
        )
    return entry


def _audit(
    tx: Tx,
    now: datetime,
    actor: Principal,
    account_id: str,
    ac_id: int,
    action: str,
    detail: str | None = None,
) -> None:
    tx.audit.add([AuditEntry(now, actor.actor, action, account_id, ac_id, detail)])


def store_auth_value(
    ctx: ServiceContext,
    tx: Tx,
    item: AccountConnector,
    parsed: ParsedAuthValue,
    actor: Principal,
    account_id: str,
) -> None:
    """Seal and store a validated AuthValue as the credential's next version (audited)."""
    now = ctx.clock.now()
    state = AuthState.UNAUTHENTICATED if parsed.pending else AuthState.ACTIVE
    before = tx.credentials.get(item.id) or Credential(account_connector_id=item.id)
    renewable = '"RefreshToken"' in parsed.document
    written = Credential(
        account_connector_id=item.id,
        state=state,
        version=before.version + 1,
        secret_sealed=ctx.sealer.seal(parsed.document, credential_aad(item.id)),
        masked=parsed.masked,
        expires_utc=parsed.expires_utc,
        refresh_expires_utc=parsed.refresh_expires_utc,
        # K-04: a written credential enters the same refresh machinery as a flow's
        next_refresh_utc=next_refresh(
            ctx.lifecycle,
            now,
            expires_utc=parsed.expires_utc,
            renewable=renewable,
            last_refreshed_utc=None,
        ),
    )
    tx.account_connectors.put_credential(written, now)
    event = event_for_transition(before.state, before.failures > 0, state, False)
    if event is not None:
        emit(
            tx,
            now,
            event,
            account_id=account_id,
            account_connector_id=item.id,
            data={"AuthState": state.value},
        )
    _audit(tx, now, actor, account_id, item.id, "credential.write", f"state={state.value}")


def deauthenticated_event(
    tx: Tx, now: datetime, item: AccountConnector, account_id: str, reason: str
) -> None:
    """Emit ``accountconnector.deauthenticated`` if ``item``'s credential was in any state but
    ``unauthenticated`` (DESIGN.md §8): exactly one event per change, none for a connector that
    had nothing (or only a pending ``"{}"``) to lose."""
    before = item.credential.state if item.credential else AuthState.UNAUTHENTICATED
    failing = bool(item.credential and item.credential.failures)
    if event_for_transition(before, failing, AuthState.UNAUTHENTICATED, False) is None:
        return
    emit(
        tx,
        now,
        EventType.DEAUTHENTICATED,
        account_id=account_id,
        account_connector_id=item.id,
        data={"AuthState": AuthState.UNAUTHENTICATED.value, "Reason": reason},
    )


def drop_credential(
    ctx: ServiceContext,
    tx: Tx,
    item: AccountConnector,
    actor: Principal,
    account_id: str,
    *,
    reason: str = "deauthenticated",
) -> None:
    """Forget the credential locally: ``unauthenticated``, no secret, next version (audited),
    with its ``accountconnector.deauthenticated`` event in the same transaction.

    Revocation at the provider (SECURITY.md V-01) is queued by
    :func:`tokenward.services.revocation.end_credential`, which calls this after sealing the
    tokens into the revocation queue; call that one whenever the tokens are given up for good.
    """
    now = ctx.clock.now()
    previous = item.credential.version if item.credential else 0
    tx.account_connectors.put_credential(
        Credential(account_connector_id=item.id, version=previous + 1), now
    )
    _audit(tx, now, actor, account_id, item.id, "credential.deauthenticate")
    deauthenticated_event(tx, now, item, account_id, reason)


def _shown_state(state: AuthState) -> AuthState:
    return AuthState.ACTIVE if state is AuthState.REFRESHING else state


def read_credential(
    ctx: ServiceContext,
    item: AccountConnector,
    *,
    reveal: bool,
    strict: bool,
    actor: Principal,
    account_id: str,
    no_auth: bool = False,
) -> CredentialReading:
    """The credential as a response shows it.

    ``reveal``: the partner setting allows the unmasked AuthValue for this connector (each read
    audited). ``strict``: a credential that does not open is an error (409) instead of being
    reported in ``AuthError``. ``no_auth``: the connector needs no credential at all.
    """
    cred = item.credential
    if cred is None or (cred.secret_sealed is None and cred.error_code is None):
        state = AuthState.ACTIVE if no_auth else AuthState.UNAUTHENTICATED
        return CredentialReading(None, no_auth, state)
    error = (cred.error_code, cred.error_message or "") if cred.error_code else None
    document = None
    if cred.secret_sealed is not None:
        try:
            document = ctx.sealer.open(cred.secret_sealed, credential_aad(item.id))
        except CredentialCorrupted:
            if strict:
                raise
            return CredentialReading(
                None, False, _shown_state(cred.state), ("credential_corrupted", CORRUPTED_MESSAGE)
            )
    shown = cred.masked
    if reveal and document is not None:
        shown = public_document(document)
        ctx.audit.enqueue(
            AuditEntry(ctx.clock.now(), actor.actor, "credential.reveal", account_id, item.id)
        )
    return CredentialReading(
        auth_value=shown,
        authenticated=cred.state in _USABLE and document is not None,
        state=_shown_state(cred.state),
        error=error,
        expires_utc=cred.expires_utc,
        last_refreshed_utc=cred.last_refreshed_utc,
    )
