"""The hook functions themselves, named for what they do, never for a provider.

Each reads its ``HookSettings`` (documented in docs/connector-hooks.md, defaults in the calls to
``call.setting``) and answers through the :class:`~tokenward.catalog.hook_api.HookCall`. Values
a hook keeps become account connector properties, each validated against its parameter's
``Pattern`` before it is stored or used in a URL (P-01).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tokenward.catalog.hook_api import HookCall, HookFailed, jwt_claims

__all__ = [
    "admin_consent_client_credentials",
    "api_base_from_metadata",
    "cloud_id_from_accessible_resources",
    "refresh_secondary_tokens",
    "secondary_tokens_from_response",
    "tenant_from_connections",
]

#: the members of a token set, as a token response carries them (RFC 6749 §5.1)
_TOKEN_MEMBERS = ("access_token", "refresh_token", "expires_in", "token_type", "scope")


def _path(doc: Any, path: str) -> Any:
    """The value at a dotted path; numeric steps index lists (``accounts.0.base_uri``)."""
    value = doc
    for step in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _objects(answer: Any) -> list[Mapping[str, Any]]:
    if not isinstance(answer, list):
        raise HookFailed("the provider's answer is not a list")
    return [item for item in answer if isinstance(item, Mapping)]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise HookFailed(f"the provider's answer has no {what}")
    return str(value)


async def tenant_from_connections(call: HookCall) -> None:
    """After connect: list the grant's tenants (``Url``, default ``{BaseUrl}/connections``) and
    keep the one whose ``MatchField`` (``authEventId``) equals the access token's ``Claim``
    (``authentication_event_id``) as property ``Property`` (``TenantId``, from ``IdField``,
    ``tenantId``). A single tenant is taken as it is; several with no match fail the connect
    (keeping an older authorisation's tenant would act on the wrong organisation)."""
    url = call.setting("Url", call.base_url.rstrip("/") + "/connections")
    tenants = _objects(await call.get_json(url))
    if not tenants:
        raise HookFailed("the grant gives access to no tenant")
    event = jwt_claims(call.access_token or "").get(
        call.setting("Claim", "authentication_event_id")
    )
    match_field = call.setting("MatchField", "authEventId")
    matching = [t for t in tenants if event is not None and t.get(match_field) == event]
    if not matching and len(tenants) == 1:
        matching = tenants
    if not matching:
        raise HookFailed("several tenants and none belongs to this authorisation")
    chosen = matching[0]
    call.properties[call.setting("Property", "TenantId")] = _text(
        chosen.get(call.setting("IdField", "tenantId")), "tenant id"
    )


async def cloud_id_from_accessible_resources(call: HookCall) -> None:
    """After connect: read the sites the token may access (``Url``) and keep the first one's
    ``IdField`` (``id``) as ``Property`` (``CloudId``) and, when ``SiteUrlProperty`` is set,
    its ``url`` too. A ``SiteUrl`` property already set selects that site instead."""
    url = call.setting("Url", "")
    if not url:
        raise HookFailed("HookSettings.Url is required by cloud_id_from_accessible_resources")
    sites = _objects(await call.get_json(url))
    wanted = call.setting("SiteUrlProperty", "")
    current = next(
        (v for k, v in call.values.items() if wanted and k.lower() == wanted.lower()), None
    )
    chosen = next((s for s in sites if current and s.get("url") == current), None)
    if chosen is None and sites:
        chosen = sites[0]
    if chosen is None:
        raise HookFailed("the token gives access to no site")
    call.properties[call.setting("Property", "CloudId")] = _text(
        chosen.get(call.setting("IdField", "id")), "site id"
    )
    if wanted:
        call.properties[wanted] = _text(chosen.get("url"), "site url")


async def admin_consent_client_credentials(call: HookCall) -> None:
    """On callback: an admin-consent answer carries ``TenantParam`` (``tenant``) and
    ``ConsentParam`` (``admin_consent``, must read ``True``) instead of a code. The tenant is
    kept as ``Property`` (``TenantId``) and tokens come from the client credentials grant —
    no refresh token; the credential is re-minted the same way when it expires."""
    consent = call.callback.get(call.setting("ConsentParam", "admin_consent"), "")
    tenant = call.callback.get(call.setting("TenantParam", "tenant"), "")
    if consent.lower() != "true" or not tenant:
        raise HookFailed("the administrator did not grant consent")
    call.properties[call.setting("Property", "TenantId")] = tenant
    call.grant = "client_credentials"


async def api_base_from_metadata(call: HookCall) -> None:
    """After connect: GET ``Url`` with the token (``AuthPrefix``, default ``Bearer``) and keep
    the value at ``Field`` (a dotted path, list indexes allowed: ``accounts.0.base_uri``) as
    ``Property`` (``ApiBase``), so a ``BaseUrl`` of ``{{ApiBase}}`` reaches the right data
    centre. The value must match the property's ``Pattern`` to be kept."""
    url = call.setting("Url", "")
    if not url:
        raise HookFailed("HookSettings.Url is required by api_base_from_metadata")
    answer = await call.get_json(url, auth_prefix=call.setting("AuthPrefix", "Bearer"))
    field = call.setting("Field", "api_endpoint")
    call.properties[call.setting("Property", "ApiBase")] = _text(_path(answer, field), field)


async def secondary_tokens_from_response(call: HookCall) -> None:
    """After the token response (``rotating_bot_and_user_tokens``): the token set nested at
    ``Path`` (``authed_user``) — its own access token, refresh token and expiry beside the
    top-level set — is kept as the credential's secondary set. Its secrets leave the raw
    response (so no stale copy is kept); its other members (ids) stay. A response without it
    connects with the top-level set alone."""
    token = call.token or {}
    path = call.setting("Path", "authed_user")
    nested = _path(token, path)
    if not isinstance(nested, Mapping) or not nested.get("access_token"):
        return
    call.secondary = {k: nested[k] for k in _TOKEN_MEMBERS if k in nested}
    cleaned = json.loads(json.dumps(token))  # a deep copy of a JSON document
    inner = _path(cleaned, path)
    for member in ("access_token", "refresh_token"):
        inner.pop(member, None)
    call.token = cleaned


async def refresh_secondary_tokens(call: HookCall) -> None:
    """On refresh of the secondary set (``rotating_bot_and_user_tokens``): a refresh grant with
    the secondary set's own refresh token; the provider answers with the refreshed set at the
    top level, which replaces the secondary set (the top-level set is not touched)."""
    refresh_token = (call.secondary or {}).get("refresh_token")
    if call.refresh is None or not isinstance(refresh_token, str) or not refresh_token:
        raise HookFailed("the secondary token set has no refresh token")
    answer = await call.refresh(refresh_token)
    call.secondary = {k: answer[k] for k in _TOKEN_MEMBERS if k in answer}
