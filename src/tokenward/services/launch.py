"""LAUNCH and Marketplace (DESIGN.md §4; cyclr-api.md §12): one call that prepares an account
for its user and returns a single-use URL to the connect page.

``POST /v1.0/accounts/{id}/launch|marketplace`` and ``POST /v1.0/users/launch|marketplace``
(the account in ``AccountId``, the user in ``Username``, optionally ``Password``):

1. the account is created if missing (``AccountName``, default its Id; ``AccountDescription``);
2. the user is created if missing (a ``Password`` given is set);
3. each partner connector (``ConnectorAuthentications``, or Cyclr's older ``PartnerConnector``)
   is found by ``Name`` (and ``Version``; the highest version without one) or ``Id``, then
   installed — or, when the account has it already, the installed one (the partner integration
   connector first, else the oldest) is updated — with its ``AuthenticationId``, ``AuthValue``
   and ``Properties``; either way it becomes ``IsPartnerIntegrationConnector``;
4. a sign-in token is issued (single use, the partner's sign-in token lifetime: 5 minutes).

Everything happens in one write transaction, each input validated before it is written: any
400 (a bad AuthValue, an unknown property or connector, a bad name…) rolls the whole call back,
so the account, the user, the connectors and the token are all there or none is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tokenward.catalog.schema import Connector
from tokenward.domain.models import Account, AccountConnector
from tokenward.domain.text import shown
from tokenward.errors import Forbidden, InvalidRequest, ServiceError
from tokenward.services.account_connector_changes import (
    AccountConnectorChanges,
    apply_update,
    plan_update,
)
from tokenward.services.accounts import (
    check_access,
    valid_account_id,
    valid_account_name,
)
from tokenward.services.catalog import resolve_connector, view
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.install import InstallRequest, apply_install, plan_install
from tokenward.services.launch_urls import LaunchFlags, Surface, launch_url
from tokenward.services.passwords import hash_password
from tokenward.services.ports import Tx
from tokenward.services.property_rules import PropertyInput
from tokenward.services.signin_tokens import issue_signin_token
from tokenward.services.users import valid_username

__all__ = [
    "DEFAULT_USERNAME",
    "MAX_PARTNER_CONNECTORS",
    "LaunchFlags",
    "LaunchRequest",
    "Launched",
    "PartnerConnectorInput",
    "launch",
]

DEFAULT_USERNAME = "launch"  # the account variant names no user: its sessions act as this one
MAX_PARTNER_CONNECTORS = 20
MAX_DESCRIPTION = 10_000


@dataclass(frozen=True)
class PartnerConnectorInput:
    """One entry of ``ConnectorAuthentications`` (or the ``PartnerConnector`` object)."""

    name: str | None = None
    version: str | None = None
    connector_id: str | None = None
    authentication_id: str | None = None
    auth_value: str | None = None
    properties: tuple[PropertyInput, ...] = ()


@dataclass(frozen=True)
class LaunchRequest:
    surface: Surface
    account_id: str | None
    account_name: str | None = None
    account_description: str | None = None
    username: str | None = None
    password: str | None = None
    connectors: tuple[PartnerConnectorInput, ...] = ()
    flags: LaunchFlags = field(default_factory=LaunchFlags)
    source: str = "ConnectorAuthentications"  # how errors name the connector entries


@dataclass(frozen=True)
class Launched:
    account_id: str
    token: str
    expires_utc: datetime
    url: str
    account_created: bool


def launch(ctx: ServiceContext, principal: Principal, request: LaunchRequest) -> Launched:
    """Apply a LAUNCH or Marketplace request (one transaction) and issue its URL."""
    if not request.account_id or not request.account_id.strip():
        raise InvalidRequest("AccountId is required.", "account_id_required")
    account_id = valid_account_id(request.account_id)
    username = valid_username(request.username or DEFAULT_USERNAME)
    digest = hash_password(request.password) if request.password else None
    _check_inputs(request)
    with ctx.db.write() as tx:
        account, created = _account(ctx, tx, principal, account_id, request)
        _user(ctx, tx, account, username, digest)
        for index, entry in enumerate(request.connectors):
            where = f"{request.source}[{index}]" if len(request.connectors) > 1 else request.source
            try:
                _apply_connector(ctx, tx, principal, account, entry, request.connectors[:index])
            except InvalidRequest as exc:
                raise InvalidRequest(f"{where}: {exc.message}", exc.code) from None
        issued = issue_signin_token(ctx, tx, account, username)
    url = launch_url(ctx.service_url, issued.token, request.surface, request.flags)
    return Launched(account.id, issued.token, issued.expires_utc, url, created)


def _check_inputs(request: LaunchRequest) -> None:
    """What can be checked without the database: counts and lengths."""
    if len(request.connectors) > MAX_PARTNER_CONNECTORS:
        raise InvalidRequest(
            f"At most {MAX_PARTNER_CONNECTORS} partner connectors can be given.",
            "too_many_connectors",
        )
    description = request.account_description
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(
            f"AccountDescription must be at most {MAX_DESCRIPTION} characters.",
            "invalid_description",
        )
    for entry in request.connectors:
        if not any(v and v.strip() for v in (entry.name, entry.connector_id)):
            raise InvalidRequest(
                f"{request.source}: each partner connector needs a Name (or an Id).",
                "connector_required",
            )


def _account(
    ctx: ServiceContext, tx: Tx, principal: Principal, account_id: str, request: LaunchRequest
) -> tuple[Account, bool]:
    """The account, created when missing; (account, whether it was created)."""
    found = tx.accounts.get(account_id)
    if found is not None:
        return check_access(principal, found), False
    if principal.account_id is not None:
        raise Forbidden("This token is restricted to another account.", "account_forbidden")
    name = valid_account_name(request.account_name or account_id)
    created = tx.accounts.add(account_id, name, request.account_description, None, ctx.clock.now())
    return created, True


def _user(ctx: ServiceContext, tx: Tx, account: Account, username: str, digest: str | None) -> None:
    user = tx.users.get(account.pk, username)
    if user is None:
        tx.users.add(account.pk, username, digest, ctx.clock.now())
    elif digest is not None:
        tx.users.set_password(user.pk, digest)


def _connector(ctx: ServiceContext, tx: Tx, entry: PartnerConnectorInput) -> Connector:
    """The catalog connector an entry names: Id, or Name (+ Version); 400 if there is none."""
    try:
        if entry.connector_id and entry.connector_id.strip():
            return resolve_connector(ctx, tx, entry.connector_id.strip())
        assert entry.name is not None  # _check_inputs
        if entry.version and entry.version.strip():
            found = view(ctx, tx).find(entry.name, entry.version)
            if found:
                return found[0]
            raise InvalidRequest(
                f"Connector '{shown(entry.name)}' version '{shown(entry.version)}' is not in "
                "the catalog.",
                "connector_not_found",
            )
        return resolve_connector(ctx, tx, entry.name)
    except InvalidRequest:
        raise
    except ServiceError as exc:  # NotFound: in a request body this is bad input
        raise InvalidRequest(exc.message, "connector_not_found") from None


def _installed(tx: Tx, account: Account, connector: Connector) -> AccountConnector | None:
    """The account's connector of this kind: the partner integration one first, else the oldest."""
    mine = [i for i in tx.account_connectors.list(account.pk) if i.connector_id == connector.Id]
    mine.sort(key=lambda i: (not i.is_partner_integration, i.id))
    return mine[0] if mine else None


def _apply_connector(
    ctx: ServiceContext,
    tx: Tx,
    principal: Principal,
    account: Account,
    entry: PartnerConnectorInput,
    earlier: tuple[PartnerConnectorInput, ...],
) -> AccountConnector:
    connector = _connector(ctx, tx, entry)
    if any(_connector(ctx, tx, other).Id == connector.Id for other in earlier):
        raise InvalidRequest(
            f"Connector {connector.Id} is given more than once.", "duplicate_connector"
        )
    item = _installed(tx, account, connector)
    if item is None:
        request = InstallRequest(
            authentication_id=entry.authentication_id,
            auth_value=entry.auth_value,
            properties=entry.properties,
            is_partner_integration=True,
        )
        return apply_install(
            ctx, tx, principal, account, plan_install(tx, account, connector, request)
        )
    changes = AccountConnectorChanges(
        authentication_id=entry.authentication_id,
        auth_value=entry.auth_value,
        properties=entry.properties,
        is_partner_integration=True,
    )
    plan = plan_update(ctx, tx, account, item, changes)
    return apply_update(ctx, tx, principal, account, item, plan)
