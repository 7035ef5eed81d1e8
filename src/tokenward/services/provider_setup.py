"""Everything needed to talk to an account connector's provider, resolved in one place.

The connector's authentication entry with its ``{{Merge}}`` fields filled from the account
connector's properties (each value checked against its ``Pattern`` first: P-01), the OAuth client
credentials (an account connector's ``ClientId``/``ClientSecret`` properties override the
application connector's), the scopes (the library's, else the connector's) and the base URL.
The webflow, the credential lifecycle and method calls all start from a :class:`ProviderSetup`,
so they can never disagree about endpoints or client authentication (SECURITY.md C-06).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from tokenward.catalog.schema import MERGE_FIELD, Connector, OAuth1Auth, OAuth2Auth
from tokenward.catalog.urls import MergeFieldError, fill
from tokenward.crypto.fields import client_secret_aad, property_aad
from tokenward.domain.models import AccountConnector
from tokenward.errors import CredentialCorrupted, StateConflict
from tokenward.services.auth_values import authentication_entry
from tokenward.services.catalog import connector_for
from tokenward.services.context import ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.property_rules import CLIENT_ID, CLIENT_SECRET

__all__ = ["ProviderSetup", "load_setup", "merge_patterns", "require_base_url", "with_values"]

_OAUTH2_URLS = ("AuthoriseUrl", "AccessTokenUrl", "RefreshTokenUrl", "RevokeUrl", "Issuer")
_OAUTH1_URLS = ("RequestTokenUrl", "AuthorizeUrl", "AccessTokenUrl")


@dataclass(frozen=True)
class ProviderSetup:
    """A connector's provider as one account connector sees it. Secrets stay out of repr."""

    connector: Connector
    auth: Any  # the authentication entry, merge fields filled
    client_id: str | None
    client_secret: str | None = field(repr=False)
    scopes: tuple[str, ...]
    base_url: str
    values: Mapping[str, str] = field(repr=False)  # property values by name (sensitive opened)

    @property
    def auth_type(self) -> str:
        return str(self.auth.AuthType)

    @property
    def oauth2(self) -> OAuth2Auth:
        if not isinstance(self.auth, OAuth2Auth):
            raise StateConflict("This connector does not use OAuth 2.0.", "not_oauth2")
        return self.auth

    @property
    def oauth1(self) -> OAuth1Auth:
        if not isinstance(self.auth, OAuth1Auth):
            raise StateConflict("This connector does not use OAuth 1.0a.", "not_oauth1")
        return self.auth


def merge_patterns(connector: Connector) -> dict[str, str | None]:
    """Merge-field name → Pattern, under both a parameter's Name and its property name."""
    patterns: dict[str, str | None] = {}
    for param in connector.Parameters:
        patterns[param.Name] = param.Pattern
        patterns[param.property_name] = param.Pattern
    return patterns


def _values(ctx: ServiceContext, item: AccountConnector) -> dict[str, str]:
    values: dict[str, str] = {}
    for prop in item.properties:
        if prop.sealed is not None:
            try:
                values[prop.name] = ctx.sealer.open(prop.sealed, property_aad(item.id, prop.name))
            except CredentialCorrupted:
                raise StateConflict(
                    f"The stored value of property '{prop.name}' could not be decrypted.",
                    "property_corrupted",
                ) from None
        elif prop.value is not None:
            values[prop.name] = prop.value
    return values


def _optional(connector: Connector) -> frozenset[str]:
    """Lower-cased names of optional parameters: values a connect may bring (TokenMetadata,
    CallbackMetadata, hooks), so a URL naming one stays unfilled until then."""
    names = set()
    for param in connector.Parameters:
        if param.IsOptional:
            names |= {param.Name.lower(), param.property_name.lower()}
    return frozenset(names)


def _filled(
    text: str,
    values: Mapping[str, str],
    patterns: Mapping[str, str | None],
    optional: frozenset[str] = frozenset(),
) -> str:
    try:
        return fill(text, values, patterns)
    except MergeFieldError as exc:
        if exc.problem == "missing" and exc.name.lower() in optional:
            return text  # refused where it is used (unresolved merge field)
        if exc.problem == "missing":
            raise StateConflict(
                f"The account connector property '{exc.name}' is required and not set.",
                "missing_properties",
            ) from None
        raise StateConflict(
            f"The account connector property '{exc.name}' does not match its pattern.",
            "invalid_property",
        ) from None


def _auth(
    auth: Any,
    values: Mapping[str, str],
    patterns: Mapping[str, str | None],
    optional: frozenset[str] = frozenset(),
) -> Any:
    names: tuple[str, ...] = _OAUTH2_URLS if isinstance(auth, OAuth2Auth) else ()
    names = _OAUTH1_URLS if isinstance(auth, OAuth1Auth) else names
    update: dict[str, Any] = {}
    for name in names:
        value = getattr(auth, name, None)
        if value:
            update[name] = _filled(value, values, patterns, optional)
    if isinstance(auth, OAuth2Auth):
        update["Scopes"] = [_filled(scope, values, patterns) for scope in auth.Scopes]
    return auth.model_copy(update=update) if update else auth


def load_setup(
    ctx: ServiceContext,
    tx: Tx,
    item: AccountConnector,
    catalog_version: str | None = None,
    *,
    for_calls: bool = False,
) -> ProviderSetup:
    """The provider setup of ``item``; 409 naming the property or setting that is missing.
    ``catalog_version``: the custom connectors' version read with ``item`` (catalog.view).
    ``for_calls``: for sending API calls with a stored credential, which needs the partner's
    client credentials only to sign OAuth 1.0a requests: otherwise the library is not read and
    ``client_id``/``client_secret`` stay None."""
    connector = connector_for(ctx, tx, item.connector_id, catalog_version)
    auth = authentication_entry(connector, item.authentication_id)
    assert connector is not None  # authentication_entry refused a missing connector
    values = _values(ctx, item)
    patterns = merge_patterns(connector)
    skip_library = for_calls and str(auth.AuthType) != "OAuth1"
    library = None if skip_library else tx.application_connectors.get(connector.Id)
    client_id = _lookup(values, CLIENT_ID) or (library.client_id if library else None)
    client_secret = _lookup(values, CLIENT_SECRET)
    if client_secret is None and library is not None and library.client_secret_sealed:
        try:
            client_secret = ctx.sealer.open(
                library.client_secret_sealed, client_secret_aad(connector.Id)
            )
        except CredentialCorrupted:
            raise StateConflict(
                "The application connector's ClientSecret could not be decrypted.",
                "client_secret_corrupted",
            ) from None
    optional = _optional(connector)
    filled = _auth(auth, values, patterns, optional)
    scopes = tuple(library.scopes) if library and library.scopes is not None else ()
    if not scopes and isinstance(filled, OAuth2Auth):
        scopes = tuple(filled.Scopes)
    return ProviderSetup(
        connector=connector,
        auth=filled,
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes,
        base_url=_filled(connector.BaseUrl, values, patterns, optional),
        values=MappingProxyType(values),
    )


def require_base_url(setup: ProviderSetup) -> str:
    """The API base URL, or 409 when a property it needs (one a connect sets: an optional
    merge field) is not set yet."""
    missing = MERGE_FIELD.search(setup.base_url)
    if missing is not None:
        raise StateConflict(
            f"The account connector property '{missing.group(1)}' is required and not set.",
            "missing_properties",
        )
    return setup.base_url


def with_values(setup: ProviderSetup, extra: Mapping[str, str]) -> ProviderSetup:
    """``setup`` as if the account connector also had the properties ``extra`` (values kept
    during a connect, already checked against their ``Pattern``): URLs refilled from the
    connector's own entry, each merge field validated again (P-01)."""
    if not extra:
        return setup
    values = {**setup.values, **extra}
    patterns = merge_patterns(setup.connector)
    entry = authentication_entry(setup.connector, str(setup.auth.Id))
    optional = _optional(setup.connector)
    filled = _auth(entry, values, patterns, optional)
    return replace(
        setup,
        auth=filled,
        base_url=_filled(setup.connector.BaseUrl, values, patterns, optional),
        values=MappingProxyType(values),
    )


def _lookup(values: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in values.items() if k.lower() == lowered and v), None)
