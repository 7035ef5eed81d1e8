"""Steps 1 and 2 of starting a webflow (DESIGN.md §7): checks that change nothing, then the
sign-in token consumed — in one write transaction, so any refusal rolls back and leaves the
token unused (K-02).

1. the sign-in token exists, is unexpired and unused (else the 403 page, as Cyclr);
2. the account connector belongs to the token's account (else 404);
3. ``targetOrigin`` is allowed (else 400, W-01, W-02);
4. every required property is set (else 400 naming each);

then one conditional update consumes the token: of any number of concurrent uses exactly one
goes on, the others get the 403 page.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenward.catalog.schema import Connector, OAuth1Auth, OAuth2Auth
from tokenward.crypto.hashing import hash_token
from tokenward.domain.models import Account, AccountConnector
from tokenward.errors import Forbidden, InvalidRequest, NotFound, StateConflict
from tokenward.services.catalog import connector_for
from tokenward.services.context import ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.provider_setup import ProviderSetup, load_setup
from tokenward.services.webflow_completion import Completion
from tokenward.services.webflow_params import (
    MAX_MESSAGE,
    FlowParams,
    canonical_allowlist,
    resolve_target,
)

__all__ = ["FORBIDDEN_MESSAGE", "Checked", "allowed_origins", "check_and_consume"]

FORBIDDEN_MESSAGE = "403 - Forbidden: Access is denied."


@dataclass(frozen=True)
class Checked:
    """A flow that passed every check and consumed its sign-in token."""

    account: Account
    item: AccountConnector
    username: str
    setup: ProviderSetup
    completion: Completion


def allowed_origins(ctx: ServiceContext, tx: Tx | None = None) -> frozenset[str]:
    """The partner's effective ``AllowedTargetOrigins`` (database and settings), canonical."""
    if tx is None:
        with ctx.db.read() as read_tx:
            return allowed_origins(ctx, read_tx)
    return canonical_allowlist(
        [*tx.partner.get().allowed_target_origins, *ctx.allowed_target_origins]
    )


def _forbidden() -> Forbidden:
    return Forbidden(FORBIDDEN_MESSAGE, "signin_token_invalid")


def _check_token(tx: Tx, token: str | None, ctx: ServiceContext) -> tuple[str, int, str]:
    """(token hash, account pk, username) of a usable sign-in token; else the 403 page."""
    if not token or len(token) > 200:
        raise _forbidden()
    token_hash = hash_token(token.strip())
    found = tx.signin_tokens.get(token_hash)
    if found is None or found.used_utc is not None or found.expires_utc <= ctx.clock.now():
        raise _forbidden()
    return token_hash, found.account_pk, found.username


def _check_item(tx: Tx, account_pk: int, raw_id: str | None) -> AccountConnector:
    text = (raw_id or "").strip()
    item = None
    if text.isdigit() and text.isascii() and len(text) <= 18:
        item = tx.account_connectors.get(account_pk, int(text))
    if item is None:
        raise NotFound("The account connector was not found in this account.", "not_found")
    return item


def _check_messages(params: FlowParams) -> None:
    for name, value in (
        ("callbackMessage", params.callback_message),
        ("errorCallbackMessage", params.error_callback_message),
    ):
        if value is not None and len(value) > MAX_MESSAGE:
            raise InvalidRequest(
                f"{name} is longer than {MAX_MESSAGE} characters.", "invalid_message"
            )


def _is_set(item: AccountConnector, name: str) -> bool:
    lowered = name.lower()
    return any(
        p.name.lower() == lowered and (p.sealed is not None or bool(p.value))
        for p in item.properties
    )


def _browser_entry(connector: Connector, item: AccountConnector) -> OAuth2Auth | OAuth1Auth:
    """The authentication entry, when the browser flow can authenticate it (OAuth 2, OAuth 1.0a)."""
    entry = connector.auth(item.authentication_id)
    if entry is None:
        raise InvalidRequest(
            "The account connector's authentication method is not part of its connector.",
            "unknown_authentication",
        )
    if isinstance(entry, OAuth2Auth | OAuth1Auth):
        return entry
    if entry.AuthType in ("ApiKey", "Basic"):
        reason = "is authenticated through the API (AuthValue), not in the browser"
    elif entry.AuthType == "None":
        reason = "needs no authentication"
    else:
        reason = f"uses {entry.AuthType}, which this sign-in page does not support yet"
    raise InvalidRequest(f"This connector {reason}.", "unsupported_auth_type")


def _missing(
    item: AccountConnector, connector: Connector, entry: OAuth2Auth | OAuth1Auth
) -> list[str]:
    names = [
        p.property_name
        for p in connector.property_parameters()
        if not p.IsOptional and not _is_set(item, p.property_name)
    ]
    if isinstance(entry, OAuth2Auth) and entry.OAuth2Type == "PasswordCredentials":
        names += [n for n in ("Username", "Password") if not _is_set(item, n)]
    return names


def _missing_error(names: list[str]) -> InvalidRequest:
    listed = ", ".join(dict.fromkeys(names))
    return InvalidRequest(
        f"These required properties of the account connector are not set: {listed}.",
        "missing_properties",
    )


def _check_setup(ctx: ServiceContext, tx: Tx, item: AccountConnector) -> ProviderSetup:
    """The provider setup, or a 400 naming every required property that is not set."""
    connector = connector_for(ctx, tx, item.connector_id)
    if connector is None:
        raise InvalidRequest(
            "The connector of this account connector is no longer available.",
            "connector_missing",
        )
    entry = _browser_entry(connector, item)
    missing = _missing(item, connector, entry)
    try:
        setup = load_setup(ctx, tx, item)
    except (StateConflict, InvalidRequest) as exc:
        raise (
            _missing_error(missing) if missing else InvalidRequest(exc.message, exc.code)
        ) from None
    if not setup.client_id:
        missing.append("ClientId")
    # OAuth 1.0a always signs with the consumer secret (RFC 5849 §3.4)
    needs_secret = isinstance(entry, OAuth1Auth) or entry.ClientAuthMethod != "none"
    if needs_secret and not setup.client_secret:
        missing.append("ClientSecret")
    if missing:
        raise _missing_error(missing)
    return setup


def check_and_consume(
    ctx: ServiceContext, params: FlowParams, extra_origins: frozenset[str] = frozenset()
) -> Checked:
    """Steps 1 and 2 in one write transaction: any refusal rolls back, the token stays unused.
    ``extra_origins`` (canonical) are allowed targets besides the partner's allowlist: the
    service's own origin for flows its connect page starts."""
    with ctx.db.write() as tx:
        token_hash, account_pk, username = _check_token(tx, params.token, ctx)
        item = _check_item(tx, account_pk, params.id)
        target = resolve_target(
            params.target_origin,
            params.callback_message,
            allowed_origins(ctx, tx) | extra_origins,
        )
        _check_messages(params)
        setup = _check_setup(ctx, tx, item)
        if tx.signin_tokens.consume(token_hash, ctx.clock.now()) is None:
            raise _forbidden()  # a concurrent use won (K-02)
        account = tx.accounts.get_by_pk(account_pk)
        assert account is not None  # the token's account (rows cascade with it)
    completion = Completion.of(target, params.callback_message, params.error_callback_message)
    return Checked(account, item, username, setup, completion)
