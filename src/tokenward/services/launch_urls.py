"""The URLs that LAUNCH and Marketplace calls return (DESIGN.md §4, cyclr-api.md §12).

Cyclr's shape: ``{SERVICE_URL}/account/signinwithtoken?token=…&returnUrl=…``. The ``returnUrl``
is a path of ours (``/launch`` or ``/marketplace``) whose query carries the request's flags the
way Cyclr names them: ``InlineOAuth`` → ``inline``, ``Start`` → ``start``, ``RunOnce`` → ``once``,
``AutoInstall`` → ``auto``, ``SingleInstall`` → ``single``, ``Wizard`` → ``wizard``,
``DisplayDescriptions`` → ``descriptions``, ``CompleteParameter`` → ``completeParameter``, each tag
→ ``tags``, ``MarketplaceId`` → ``marketplaceId``. ``inline`` is always present (default
``false``, Cyclr's default since 2022); the other flags only when the request gave them.

Encoding: values inside ``returnUrl`` are percent-encoded, and ``returnUrl`` itself is encoded
with ``/``, ``?`` and ``=`` left as they are (legal in a query) and ``&`` as ``%26`` — so the URL
reads like Cyclr's (``…returnUrl=/launch?inline=false%26start=true…``, the flags visible as
``inline=false``, as Cyclr's own tests look for) and any query parser splits it correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

__all__ = ["LaunchFlags", "Surface", "launch_url", "return_url"]

Surface = Literal["launch", "marketplace"]


@dataclass(frozen=True)
class LaunchFlags:
    """The request's presentation flags; None means "not given"."""

    inline: bool | None = None
    start: bool | None = None
    once: bool | None = None
    auto: bool | None = None
    single: bool | None = None
    wizard: bool | None = None
    descriptions: bool | None = None
    complete_parameter: str | None = None
    tags: tuple[str, ...] = ()
    marketplace_id: str | None = None


def _text(value: bool) -> str:
    return "true" if value else "false"


def _pairs(flags: LaunchFlags) -> list[tuple[str, str]]:
    pairs = [("inline", _text(bool(flags.inline)))]
    for name in ("start", "once", "auto", "single", "wizard", "descriptions"):
        value = getattr(flags, name)
        if value is not None:
            pairs.append((name, _text(value)))
    if flags.marketplace_id is not None:
        pairs.append(("marketplaceId", flags.marketplace_id))
    if flags.complete_parameter is not None:
        pairs.append(("completeParameter", flags.complete_parameter))
    pairs.extend(("tags", tag) for tag in flags.tags)
    return pairs


def return_url(surface: Surface, flags: LaunchFlags) -> str:
    """The relative page the sign-in leads to, with the flags in its query."""
    return f"/{surface}?{urlencode(_pairs(flags), quote_via=quote)}"


def launch_url(service_url: str, token: str, surface: Surface, flags: LaunchFlags) -> str:
    """The single-use URL a LAUNCH or Marketplace call returns (``token`` is URL-safe)."""
    encoded = quote(return_url(surface, flags), safe="/?=")
    return f"{service_url.rstrip('/')}/account/signinwithtoken?token={token}&returnUrl={encoded}"
