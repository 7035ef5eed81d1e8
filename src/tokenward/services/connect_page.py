"""What the connect page shows and does (DESIGN.md §7 "Connect page"), within a connect session
(:mod:`.connect_sessions`): the account's connectors with their state, the properties each needs,
saving those, and starting the webflow for one of them.

A Connect button starts the existing webflow (:func:`tokenward.services.webflow.start_flow`) with
a sign-in token the server mints itself for the session's account and user — the token never
reaches the browser. The flow's target is the service's own origin (allowed for these flows
only): ``/connect/done`` in popup mode (that page tells the opener, or redirects when there is
none), ``/connect`` in redirect mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio.to_thread

from tokenward.catalog.schema import Connector
from tokenward.domain.models import Account, AccountConnector, AuthState
from tokenward.domain.origins import canonical_origin
from tokenward.errors import Forbidden, InvalidRequest, NotFound
from tokenward.services.auth_values import read_credential
from tokenward.services.catalog import connector_for
from tokenward.services.connect_sessions import ConnectSession
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.property_rules import PropertyInput, put_properties, validate_properties
from tokenward.services.signin_tokens import issue_signin_token
from tokenward.services.webflow import FlowParams, FlowStart, start_flow

__all__ = [
    "DONE_PATH",
    "Card",
    "Field",
    "cards",
    "save_properties",
    "session_account",
    "start_connect",
]

DONE_PATH = "/connect/done"
_BROWSER_AUTH = ("OAuth2", "OAuth1")
_REAUTH = {AuthState.NEEDS_REAUTH, AuthState.EXHAUSTED}


@dataclass(frozen=True)
class Field:
    """One property the end user can set."""

    name: str  # the property name (form field name)
    label: str
    description: str | None
    required: bool
    sensitive: bool
    pattern: str | None
    value: str  # the current value (never a sensitive one)
    is_set: bool


@dataclass(frozen=True)
class Card:
    """One account connector as the page shows it."""

    id: int
    name: str
    connector_name: str
    description: str | None
    state: str  # connected | reauth | not_connected | error | ready | via_app | unavailable
    state_text: str
    action: str | None  # "Connect", "Reconnect" or None (nothing to do in the browser)
    fields: tuple[Field, ...]
    missing: tuple[str, ...]  # labels of required properties not set


def session_account(tx: Tx, session: ConnectSession) -> Account:
    """The session's account; 403 when it is gone (or was replaced under the same Id)."""
    account = tx.accounts.get(session.account_id)
    if account is None or account.pk != session.account_pk:
        raise Forbidden("This session has ended. Open the link from the app again.", "no_session")
    return account


def _is_set(item: AccountConnector, name: str) -> tuple[bool, str]:
    for prop in item.properties:
        if prop.name.lower() == name.lower():
            has = prop.sealed is not None or bool(prop.value)
            return has, "" if prop.is_sensitive else prop.value or ""
    return False, ""


def _fields(connector: Connector, item: AccountConnector, entry: object) -> tuple[Field, ...]:
    fields = []
    for param in connector.property_parameters():
        is_set, value = _is_set(item, param.property_name)
        fields.append(
            Field(
                name=param.property_name,
                label=param.Name,
                description=param.Description,
                required=not param.IsOptional,
                sensitive=param.IsSensitive,
                pattern=param.Pattern,
                value=value,
                is_set=is_set,
            )
        )
    if getattr(entry, "OAuth2Type", None) == "PasswordCredentials":
        for name, sensitive in (("Username", False), ("Password", True)):
            is_set, value = _is_set(item, name)
            fields.append(Field(name, name, None, True, sensitive, None, value, is_set))
    return tuple(fields)


def _state(
    ctx: ServiceContext, account: Account, item: AccountConnector, auth_type: str
) -> tuple[str, str]:
    reading = read_credential(
        ctx,
        item,
        reveal=False,
        strict=False,
        actor=Principal("connect-page"),
        account_id=account.id,
        no_auth=auth_type == "None",
    )
    if auth_type == "None":
        return "ready", "Ready: no sign-in needed"
    if reading.authenticated:
        return "connected", "Connected"
    if reading.state in _REAUTH or (
        reading.error is not None and reading.error[0] in ("credential_corrupted",)
    ):
        return "reauth", "Needs to be reconnected: access was lost or has expired"
    if reading.state is AuthState.ERROR_CONFIG:
        return (
            "error",
            "Cannot connect right now: the app's set-up for this service needs attention",
        )
    return "not_connected", "Not connected"


def _card(ctx: ServiceContext, tx: Tx, account: Account, item: AccountConnector) -> Card:
    connector = connector_for(ctx, tx, item.connector_id)
    entry = connector.auth(item.authentication_id) if connector else None
    if connector is None or entry is None:
        text = "This service is no longer available"
        return Card(item.id, item.name, item.name, None, "unavailable", text, None, (), ())
    state, text = _state(ctx, account, item, entry.AuthType)
    fields = _fields(connector, item, entry)
    missing = tuple(f.label for f in fields if f.required and not f.is_set)
    action = None
    if entry.AuthType in _BROWSER_AUTH:
        action = "Connect" if state == "not_connected" else "Reconnect"
    elif state != "ready" and state != "connected":
        state, text = "via_app", "Not connected: this service is set up by the app, not here"
    return Card(
        item.id,
        item.name,
        connector.Name,
        connector.Description,
        state,
        text,
        action,
        fields,
        missing,
    )


def cards(ctx: ServiceContext, session: ConnectSession) -> list[Card]:
    """The session account's connectors, oldest first."""
    with ctx.db.read() as tx:
        account = session_account(tx, session)
        items = sorted(tx.account_connectors.list(account.pk), key=lambda i: i.id)
        return [_card(ctx, tx, account, item) for item in items]


def _field_error(field: Field, value: str) -> str | None:
    """The problem with one submitted value, in plain words (None when it is fine)."""
    if not value:
        return f"Enter your {field.label}." if field.required and not field.is_set else None
    if field.pattern and re.fullmatch(field.pattern, value) is None:
        hint = f" {field.description}" if field.description else ""
        return f"This {field.label} is not in the expected format.{hint}"
    return None


def save_properties(
    ctx: ServiceContext, session: ConnectSession, ac_id: int, submitted: Mapping[str, str]
) -> dict[str, str]:
    """Check and store the submitted properties of one account connector; the errors by
    property name (nothing is stored when there is any)."""
    with ctx.db.write() as tx:
        account = session_account(tx, session)
        item = tx.account_connectors.get(account.pk, ac_id)
        card = _card(ctx, tx, account, item) if item else None
        if item is None or card is None or card.state == "unavailable":
            raise NotFound("This connection was not found.", "not_found")
        inputs, errors = [], {}
        for field in card.fields:
            value = submitted.get(field.name, "")
            problem = _field_error(field, value.strip() if not field.sensitive else value)
            if problem:
                errors[field.name] = problem
            elif value.strip():
                inputs.append(
                    PropertyInput(field.name, value if field.sensitive else value.strip())
                )
        if errors:
            return errors
        connector = connector_for(ctx, tx, item.connector_id)
        assert connector is not None  # the card is not "unavailable"
        try:
            resolved = validate_properties(connector, tuple(inputs))
        except InvalidRequest as exc:
            return {"": exc.message}
        put_properties(ctx, tx, item.id, item.properties, resolved)
        now, actor = ctx.clock.now(), f"user:{session.username}"
        tx.audit.add(
            [
                AuditEntry(now, actor, "property.write", account.id, item.id, p.name)
                for p in resolved
            ]
        )
    return {}


def _own_origin(ctx: ServiceContext) -> str:
    parts = urlsplit(ctx.service_url)
    return canonical_origin(f"{parts.scheme}://{parts.netloc}", allow_http=True)


def _mint(ctx: ServiceContext, session: ConnectSession, ac_id: int) -> str:
    with ctx.db.write() as tx:
        account = session_account(tx, session)
        if tx.account_connectors.get(account.pk, ac_id) is None:
            raise NotFound("This connection was not found.", "not_found")
        return issue_signin_token(ctx, tx, account, session.username).token


async def start_connect(
    ctx: ServiceContext,
    session: ConnectSession,
    ac_id: int,
    *,
    popup: bool,
    binding_cookie: str | None,
) -> FlowStart:
    """Start the webflow of one of the session's account connectors (raises the webflow's
    ``Forbidden``/``NotFound``/``InvalidRequest`` when it cannot start)."""
    token = await anyio.to_thread.run_sync(_mint, ctx, session, ac_id)
    base = ctx.service_url.rstrip("/")
    target = f"{base}{DONE_PATH}" if popup else f"{base}/connect"
    params = FlowParams(id=str(ac_id), token=token, target_origin=target)
    return await start_flow(ctx, params, binding_cookie, frozenset({_own_origin(ctx)}))
