"""Named hooks: provider behaviour that no knob in a connector definition can describe.

Providers are data (STYLE.md, habit 4). Almost every difference between providers is a knob in
the YAML (``ScopeSeparator``, ``TokenParams``, ``AuthFormat``, …; see ``QUIRKS.md``). What data
cannot say — "after connecting, call ``GET /connections`` and keep the tenant whose
``authEventId`` matches the token", "read ``cloudId`` from ``accessible-resources``" — is a
Python function registered here under a stable name, and a connector's authentication entry
refers to it with ``Hook: <name>``.

The loader refuses a definition that names a hook missing from :data:`HOOKS`, so a typo fails at
start-up rather than at a customer's first connect. Core code never mentions a provider: it asks
the registry for the hook a connector names and calls it at the documented point of the flow.
The call signature is set by the protocol engine that invokes hooks; until a hook is needed the
registry is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["HOOKS", "Hook", "UnknownHook", "get_hook", "has_hook", "hook_names"]

Hook = Callable[..., Any]

#: Every hook, by the name connector definitions use. Add an entry per hook function; the
#: mapping is read-only at run time (hooks are code, reviewed like code, not registered later).
HOOKS: Mapping[str, Hook] = MappingProxyType({})


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
