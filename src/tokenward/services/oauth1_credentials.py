"""OAuth 1.0a credentials as tokenward keeps and uses them (SECURITY.md O-02, O-05, O-06).

* the consumer (RFC 5849's client credentials) is the connector's ``ClientId`` and
  ``ClientSecret`` — from the application connector library, or the account connector's own
  properties, sealed at rest like OAuth 2 client secrets — with the entry's ``SignatureMethod``
  (for ``RSA-SHA1`` the ``ClientSecret`` holds the consumer's PEM private key);
* the token credentials are sealed as the AuthValue document
  ``{"AccessToken", "AccessTokenSecret"}`` (plus the provider's other answer members, never
  shown), ``active`` with no expiry: OAuth 1.0a tokens live until revoked, nothing refreshes;
* :func:`sign_call` signs a method or proxy call: method, URL, query and form body, with a fresh
  nonce and timestamp each time it is sent (a retry is signed anew).
"""

from __future__ import annotations

import json
from typing import Any

from tokenward.crypto.fields import credential_aad
from tokenward.domain.authvalue import mask_document
from tokenward.domain.models import AccountConnector, AuthState, Credential
from tokenward.errors import OAuthConfigError, StateConflict
from tokenward.oauth.oauth1_requests import Consumer, Credentials, sign_request
from tokenward.oauth.requests import HttpRequest
from tokenward.services.context import ServiceContext
from tokenward.services.events import EventType, emit, event_for_transition
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.provider_setup import ProviderSetup

__all__ = ["consumer_of", "sign_call", "store_oauth1_credentials"]


def consumer_of(setup: ProviderSetup) -> Consumer:
    """The consumer credentials (the library's or the account connector's ClientId and
    ClientSecret) and the connector's signature method."""
    auth = setup.oauth1
    if not setup.client_id or not setup.client_secret:
        raise OAuthConfigError("the OAuth 1.0a consumer key or secret is not configured")
    return Consumer(setup.client_id, setup.client_secret, auth.SignatureMethod)


def store_oauth1_credentials(
    ctx: ServiceContext,
    tx: Tx,
    item: AccountConnector,
    account_id: str,
    credentials: Credentials,
    *,
    actor: str,
) -> Credential:
    """Seal token credentials as the credential's next version (O-06): ``active``, no expiry
    and nothing to refresh (OAuth 1.0a tokens live until revoked); one event; audited."""
    now = ctx.clock.now()
    before = tx.credentials.get(item.id) or Credential(account_connector_id=item.id)
    document: dict[str, Any] = {
        "AccessToken": credentials.token,
        "AccessTokenSecret": credentials.secret,
    }
    if credentials.extra:
        document["Raw"] = dict(credentials.extra)  # e.g. the provider's user id (kept sealed)
    text = json.dumps(document, separators=(",", ":"))
    fresh = Credential(
        account_connector_id=item.id,
        state=AuthState.ACTIVE,
        version=before.version + 1,
        secret_sealed=ctx.sealer.seal(text, credential_aad(item.id)),
        masked=mask_document("OAuth1", text),
        last_refreshed_utc=now,
    )
    tx.account_connectors.put_credential(fresh, now)
    transition = event_for_transition(before.state, before.failures > 0, AuthState.ACTIVE, False)
    emit(
        tx,
        now,
        transition or EventType.AUTHENTICATED,
        account_id=account_id,
        account_connector_id=item.id,
        data={"AuthState": AuthState.ACTIVE.value},
    )
    tx.audit.add([AuditEntry(now, actor, "credential.authorize", account_id, item.id)])
    return fresh


def sign_call(
    request: HttpRequest, consumer: Consumer, token: str | None, token_secret: str | None
) -> HttpRequest:
    """``request`` signed with the consumer and the token credentials (409 when the stored
    credential has no token, or the call cannot be signed safely)."""
    if not token:
        raise StateConflict(
            "The stored OAuth 1.0a credential has no AccessToken; write a new AuthValue.",
            "credential_unusable",
        )
    try:
        return sign_request(request, consumer, token=token, token_secret=token_secret)
    except OAuthConfigError as exc:
        raise StateConflict(f"The call cannot be signed: {exc}.", "oauth1_signing") from None
