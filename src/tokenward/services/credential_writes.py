"""Writing credentials: new token sets, failures and their events.

Part of :mod:`tokenward.services.credentials`: sealing a token response into a new credential
version, recording a failed state with its ``AuthError``, the one event each state change
emits, and sending a token request through the one transport.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from tokenward.catalog.schema import OAuth2Auth
from tokenward.crypto.fields import credential_aad
from tokenward.domain.models import AccountConnector, AuthState, Credential
from tokenward.oauth.requests import HttpRequest
from tokenward.oauth.response_rules import rules_for
from tokenward.oauth.responses import TokenSet, parse_token_response
from tokenward.services.context import ServiceContext
from tokenward.services.credential_documents import (
    TokenDocument,
    document_from_tokens,
    next_refresh,
    read_document,
    secondary_expiry,
    with_secondary,
)
from tokenward.services.credential_views import (
    _USABLE,
    open_secret,
)
from tokenward.services.events import EventType, emit, event_for_transition
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "emit_transition",
    "mark_failed",
    "new_credential",
    "new_secondary_credential",
    "send_token_request",
    "store_token_set",
]


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
