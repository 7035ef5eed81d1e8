"""Named hooks: provider behaviour that no knob in a connector definition can describe.

Providers are data (STYLE.md, habit 4). Almost every difference between providers is a knob in
the YAML (``ScopeSeparator``, ``TokenParams``, ``AuthFormat``, …; see ``QUIRKS.md``). What data
cannot say — "after connecting, call ``GET /connections`` and keep the tenant whose
``authEventId`` matches the token", "read ``cloudId`` from ``accessible-resources``" — is a
Python function registered here under a stable, generic name, and a connector's authentication
entry refers to it with ``Hook: <name>`` (settings in ``HookSettings``).

The loader refuses a definition that names a hook missing from :data:`HOOKS`, so a typo fails at
start-up rather than at a customer's first connect. Core code never mentions a provider: it asks
the registry for the hook a connector names and calls it at the documented points of a connect
(docs/connector-hooks.md):

* ``on_callback`` — the provider's callback arrived (state, binding and issuer checked); the hook
  may read its parameters and choose how tokens are obtained (``call.grant``);
* ``after_token_response`` — a token response of the connect was parsed; the hook may read and
  reshape ``call.token`` (the raw response members kept in the sealed credential);
* ``after_connect`` — tokens are in hand, not stored yet; the hook may call the provider's API
  (``call.fetch``) and set account connector properties (``call.properties``).
* ``on_refresh`` — the credential's secondary token set (``call.secondary``, which the hook
  kept at ``after_token_response``) is due; the hook refreshes it with its own refresh token
  (``call.refresh``) and answers with the new set. The top-level set is refreshed as usual.

A hook raising :class:`HookFailed` fails the connect with ``provider_error``; nothing is stored.
Hooks see the protocol only through :class:`HookCall` (this package sits below the OAuth engine
and the transport), so they are plain async functions, testable with the provider double.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tokenward.catalog.hook_api import Fetch, Hook, HookCall, HookFailed, jwt_claims
from tokenward.catalog.hook_library import (
    admin_consent_client_credentials,
    api_base_from_metadata,
    cloud_id_from_accessible_resources,
    refresh_secondary_tokens,
    secondary_tokens_from_response,
    tenant_from_connections,
)

__all__ = [
    "HOOKS",
    "Fetch",
    "Hook",
    "HookCall",
    "HookFailed",
    "UnknownHook",
    "get_hook",
    "has_hook",
    "hook_names",
    "jwt_claims",
]

#: Every hook, by the name connector definitions use. Add an entry per hook; the mapping is
#: read-only at run time (hooks are code, reviewed like code, not registered later).
HOOKS: Mapping[str, Hook] = MappingProxyType(
    {
        "tenant_from_connections": Hook(after_connect=tenant_from_connections),
        "cloud_id_from_accessible_resources": Hook(
            after_connect=cloud_id_from_accessible_resources
        ),
        "admin_consent_client_credentials": Hook(on_callback=admin_consent_client_credentials),
        "api_base_from_metadata": Hook(after_connect=api_base_from_metadata),
        "rotating_bot_and_user_tokens": Hook(
            after_token_response=secondary_tokens_from_response,
            on_refresh=refresh_secondary_tokens,
        ),
    }
)


class UnknownHook(LookupError):
    """A definition names a hook that does not exist."""


def has_hook(name: str) -> bool:
    """Whether a hook of this name exists (exact, case-sensitive match)."""
    return name in HOOKS


def get_hook(name: str) -> Hook:
    """The hook called ``name``; raises :class:`UnknownHook` when there is none."""
    try:
        return HOOKS[name]
    except KeyError:
        raise UnknownHook(f"no hook named {name!r} in tokenward.catalog.hooks") from None


def hook_names() -> list[str]:
    """The names of all hooks, sorted (for messages and documentation)."""
    return sorted(HOOKS)
