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
from tokenward.domain.authvalue import ParsedAuthValue
from tokenward.domain.models import AccountConnector, AuthState, Credential
from tokenward.domain.text import shown
from tokenward.errors import CredentialCorrupted, InvalidRequest, StateConflict
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "CORRUPTED_MESSAGE",
    "CredentialReading",
    "authentication_entry",
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
    previous = item.credential.version if item.credential else 0
    tx.account_connectors.put_credential(
        Credential(
            account_connector_id=item.id,
            state=state,
            version=previous + 1,
            secret_sealed=ctx.sealer.seal(parsed.document, credential_aad(item.id)),
            masked=parsed.masked,
            expires_utc=parsed.expires_utc,
            refresh_expires_utc=parsed.refresh_expires_utc,
        ),
        now,
    )
    _audit(tx, now, actor, account_id, item.id, "credential.write", f"state={state.value}")


def drop_credential(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, actor: Principal, account_id: str
) -> None:
    """Forget the credential locally: ``unauthenticated``, no secret, next version (audited).

    Revocation at the provider (SECURITY.md V-01, V-03) belongs here: before the secret is
    dropped, its refresh and access tokens are to be queued, sealed, for revocation. That queue
    comes with the credential machinery; until then the credential is only dropped locally.
    """
    now = ctx.clock.now()
    previous = item.credential.version if item.credential else 0
    tx.account_connectors.put_credential(
        Credential(account_connector_id=item.id, version=previous + 1), now
    )
    _audit(tx, now, actor, account_id, item.id, "credential.deauthenticate")


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
        shown = document
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
