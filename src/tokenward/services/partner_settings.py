"""Partner settings (``GET/PUT /v1.0/partner/settings``): allowed target origins, the webhook,
token lifetimes and ``RevealPartnerAuthValue``.

``PUT`` is partial: fields the body names change (``null`` resets a field to its default or
clears it), others stay. ``AllowedTargetOrigins`` are canonical origins (SECURITY.md W-01); the
effective list is their union with ``TOKENWARD_ALLOWED_TARGET_ORIGINS``. ``WebhookSecret`` is
write-only: sealed, read back as ``********`` or null.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from tokenward.crypto.fields import webhook_secret_aad
from tokenward.domain.authvalue import MASK, contains_mask
from tokenward.domain.models import PartnerSettings
from tokenward.domain.origins import canonical_origin, is_loopback
from tokenward.domain.text import check_text, shown
from tokenward.errors import InvalidRequest
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "PartnerSettingsChanges",
    "PartnerSettingsView",
    "effective_origins",
    "get_partner_settings",
    "update_partner_settings",
]

MAX_ORIGINS = 100
MAX_URL = 2000
SECRET_LENGTH = (16, 1000)
API_TOKEN_LIFETIME = (60, 366 * 24 * 3600)
SIGNIN_TOKEN_LIFETIME = (30, 3600)


@dataclass(frozen=True)
class PartnerSettingsChanges:
    """The fields a ``PUT`` names (``given``, by attribute name) and their new values."""

    given: frozenset[str] = frozenset()
    allowed_target_origins: tuple[str, ...] | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    api_token_lifetime_seconds: int | None = None
    signin_token_lifetime_seconds: int | None = None
    reveal_partner_auth_value: bool | None = None


@dataclass(frozen=True)
class PartnerSettingsView:
    allowed_target_origins: tuple[str, ...]
    effective_allowed_target_origins: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None  # "********" when set
    api_token_lifetime_seconds: int
    signin_token_lifetime_seconds: int
    reveal_partner_auth_value: bool


def effective_origins(ctx: ServiceContext, tx: Tx) -> tuple[str, ...]:
    """The allowlist the webflow checks: settings + database, canonical, sorted."""
    found = set(tx.partner.get().allowed_target_origins)
    for origin in ctx.allowed_target_origins:
        try:
            found.add(canonical_origin(origin, allow_http=True))
        except ValueError:
            found.add(origin.lower())
    return tuple(sorted(found))


def _view(ctx: ServiceContext, tx: Tx) -> PartnerSettingsView:
    stored = tx.partner.get()
    return PartnerSettingsView(
        allowed_target_origins=stored.allowed_target_origins,
        effective_allowed_target_origins=effective_origins(ctx, tx),
        webhook_url=stored.webhook_url,
        webhook_secret=MASK if stored.webhook_secret_sealed else None,
        api_token_lifetime_seconds=stored.api_token_lifetime_seconds
        or ctx.api_token_lifetime_seconds,
        signin_token_lifetime_seconds=stored.signin_token_lifetime_seconds
        or ctx.signin_token_lifetime_seconds,
        reveal_partner_auth_value=stored.reveal_partner_auth_value,
    )


def get_partner_settings(ctx: ServiceContext) -> PartnerSettingsView:
    with ctx.db.read() as tx:
        return _view(ctx, tx)


def _origins(ctx: ServiceContext, values: tuple[str, ...] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if len(values) > MAX_ORIGINS:
        raise InvalidRequest(
            f"AllowedTargetOrigins holds at most {MAX_ORIGINS} origins.", "invalid_origin"
        )
    found: list[str] = []
    for value in values:
        try:
            origin = canonical_origin(value, allow_http=ctx.allow_insecure_http)
        except ValueError as exc:
            raise InvalidRequest(
                f"AllowedTargetOrigins: '{shown(value)}' is not an allowed origin: {exc}.",
                "invalid_origin",
            ) from None
        if origin not in found:
            found.append(origin)
    return tuple(found)


def _webhook_url(ctx: ServiceContext, url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    url = url.strip()
    bad = InvalidRequest(
        "WebhookUrl must be an absolute https URL without user info or fragment "
        "(http only on a loopback host when insecure http is allowed).",
        "invalid_webhook_url",
    )
    if len(url) > MAX_URL or any(c.isspace() or not c.isprintable() for c in url):
        raise bad
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        raise bad from None
    insecure_ok = ctx.allow_insecure_http and is_loopback(host)
    if not host or "@" in parts.netloc or parts.fragment:
        raise bad
    if parts.scheme != "https" and not (parts.scheme == "http" and insecure_ok):
        raise bad
    return url


def _sealed_secret(ctx: ServiceContext, secret: str | None) -> str | None:
    if secret is None:
        return None
    check_text("WebhookSecret", secret)
    if contains_mask(secret):
        raise InvalidRequest(
            f"WebhookSecret contains the mask '{MASK}'; send the real secret.", "masked_value"
        )
    low, high = SECRET_LENGTH
    if not low <= len(secret) <= high:
        raise InvalidRequest(
            f"WebhookSecret must be {low} to {high} characters.", "invalid_webhook_secret"
        )
    return ctx.sealer.seal(secret, webhook_secret_aad())


def _lifetime(name: str, value: int | None, bounds: tuple[int, int]) -> int | None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise InvalidRequest(
            f"{name} must be between {bounds[0]} and {bounds[1]}.", "invalid_lifetime"
        )
    return value


def _changed(
    ctx: ServiceContext, stored: PartnerSettings, c: PartnerSettingsChanges
) -> PartnerSettings:
    """The new settings; every given field validated before anything is written."""
    given = c.given
    updates: dict[str, object] = {}
    if "allowed_target_origins" in given:
        updates["allowed_target_origins"] = _origins(ctx, c.allowed_target_origins)
    if "webhook_url" in given:
        updates["webhook_url"] = _webhook_url(ctx, c.webhook_url)
    if "webhook_secret" in given:
        updates["webhook_secret_sealed"] = _sealed_secret(ctx, c.webhook_secret)
    if "api_token_lifetime_seconds" in given:
        updates["api_token_lifetime_seconds"] = _lifetime(
            "ApiTokenLifetimeSeconds", c.api_token_lifetime_seconds, API_TOKEN_LIFETIME
        )
    if "signin_token_lifetime_seconds" in given:
        updates["signin_token_lifetime_seconds"] = _lifetime(
            "SignInTokenLifetimeSeconds", c.signin_token_lifetime_seconds, SIGNIN_TOKEN_LIFETIME
        )
    if "reveal_partner_auth_value" in given:
        updates["reveal_partner_auth_value"] = bool(c.reveal_partner_auth_value)
    return replace(stored, **updates)  # type: ignore[arg-type]


def update_partner_settings(
    ctx: ServiceContext, principal: Principal, changes: PartnerSettingsChanges
) -> PartnerSettingsView:
    with ctx.db.write() as tx:
        updated = _changed(ctx, tx.partner.get(), changes)
        now = ctx.clock.now()
        tx.partner.put(updated, now)
        detail = ",".join(sorted(changes.given))
        tx.audit.add([AuditEntry(now, principal.actor, "partner.settings.update", detail=detail)])
        return _view(ctx, tx)
