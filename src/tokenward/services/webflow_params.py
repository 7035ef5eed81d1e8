"""The inputs of the browser webflow (DESIGN.md §7): its query parameters, read tolerantly, and
the ``targetOrigin`` checked against the partner's allowlist (SECURITY.md W-01, W-02).

Parameter names match case-insensitively (Cyclr runs on .NET). Values are often sent unencoded
(Cyclr's own samples do not encode the sign-in token or ``targetOrigin``), so a segment of the
query that is not a ``name=value`` pair of ours is glued back onto the value before it: an
unencoded ``&`` inside ``callbackMessage``, or the query of a redirect-mode ``targetOrigin`` URL,
survive. A ``+`` in ``token`` stays a ``+`` (Cyclr-era tokens were base64).

``targetOrigin`` is compared by exact string after canonicalisation (lower-case scheme and host,
IDN as punycode, default port removed) with the partner's ``AllowedTargetOrigins`` — no prefix,
suffix, wildcard or regular-expression matching. In postMessage mode (``callbackMessage``
given) it must be an origin; in redirect mode it is a URL whose origin must be registered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, unquote_plus, urlsplit

from tokenward.domain.origins import canonical_origin
from tokenward.errors import InvalidRequest

__all__ = [
    "MAX_MESSAGE",
    "MAX_TARGET",
    "FlowParams",
    "Target",
    "canonical_allowlist",
    "parse_flow_params",
    "resolve_target",
]

MAX_MESSAGE = 4096
MAX_TARGET = 2048
_NAMES = {
    "id": "id",
    "token": "token",
    "targetorigin": "target_origin",
    "callbackmessage": "callback_message",
    "errorcallbackmessage": "error_callback_message",
}

Mode = Literal["postMessage", "redirect"]


@dataclass(frozen=True)
class FlowParams:
    """The webflow's parameters as the browser sent them (None when absent)."""

    id: str | None = None
    token: str | None = field(default=None, repr=False)
    target_origin: str | None = None
    callback_message: str | None = None
    error_callback_message: str | None = None


def _decode(name: str, raw: str) -> str:
    # ``+`` is a space in form encoding, but a base64 token may contain a literal ``+``.
    return unquote(raw) if name == "token" else unquote_plus(raw)


def parse_flow_params(query: str, form: Mapping[str, str] | None = None) -> FlowParams:
    """The parameters of a raw query string (and, for a POST, its form body: the query wins)."""
    raw: dict[str, str] = {}
    last: str | None = None
    for segment in query.split("&"):
        key, sep, value = segment.partition("=")
        name = _NAMES.get(unquote_plus(key).strip().lower()) if sep else None
        if name is not None and name not in raw:
            raw[name] = value
            last = name
        elif name is None and last is not None and segment and _glue(last, raw[last], sep):
            raw[last] = f"{raw[last]}&{segment}"
        else:
            last = None  # a repeated name: the first value stands, nothing is glued to it
    values = {name: _decode(name, value) for name, value in raw.items()}
    for key, value in (form or {}).items():
        name = _NAMES.get(key.strip().lower())
        if name is not None and name not in values:
            values[name] = value
    return FlowParams(**values)


def _glue(last: str, value: str, has_equals: str) -> bool:
    """Whether a stray segment belongs to the value before it: a segment with no ``=`` always
    does; a ``name=value`` segment only inside a redirect URL's own query."""
    return not has_equals or (last == "target_origin" and "?" in unquote_plus(value))


@dataclass(frozen=True)
class Target:
    """Where the result goes: the canonical ``origin`` and, in redirect mode, the ``url``."""

    mode: Mode
    origin: str
    url: str


def canonical_allowlist(origins: Iterable[str]) -> frozenset[str]:
    """The allowlist in canonical form; entries that are not origins match nothing."""
    allowed = set()
    for origin in origins:
        try:
            allowed.add(canonical_origin(origin, allow_http=True))
        except ValueError:
            continue
    return frozenset(allowed)


def _refuse(reason: str) -> InvalidRequest:
    return InvalidRequest(f"targetOrigin {reason}.", "invalid_target_origin")


def _unsafe(text: str) -> bool:
    return any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in text)


def resolve_target(
    target_origin: str | None, callback_message: str | None, allowed: frozenset[str]
) -> Target:
    """The checked target of a flow, or a 400 saying what is wrong (never matching loosely)."""
    if not target_origin or not target_origin.strip():
        raise _refuse("is required")
    text = target_origin.strip()
    if len(text) > MAX_TARGET or _unsafe(text):
        raise _refuse("is too long or contains characters that are not allowed")
    if callback_message:
        try:
            origin = canonical_origin(text, allow_http=True)
        except ValueError:
            raise _refuse(
                "must be an origin (scheme://host[:port]) when callbackMessage is given"
            ) from None
        if origin not in allowed:
            raise _refuse("is not one of the partner's allowed target origins")
        return Target("postMessage", origin, origin)
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("https", "http") or not parts.netloc:
        raise _refuse("must be an absolute https URL when no callbackMessage is given")
    try:
        origin = canonical_origin(f"{parts.scheme}://{parts.netloc}", allow_http=True)
    except ValueError:
        raise _refuse("does not have a valid origin") from None
    if origin not in allowed:
        raise _refuse("is not on one of the partner's allowed target origins")
    return Target("redirect", origin, text)
