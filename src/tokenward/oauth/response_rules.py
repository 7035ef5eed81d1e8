"""How one connector's token responses are read: the QUIRKS.md knobs that bend RFC 6749 §5.

:class:`ResponseRules` is the pure summary of an ``OAuth2Auth`` entry's response knobs, so
:func:`~tokenward.oauth.responses.parse_token_response` stays a function of bytes and rules:

* ``AccessTokenPath`` — the token sits below the top level (``authed_user.access_token``); its
  siblings (``refresh_token``, ``expires_in``, ``token_type``, ``scope``) are read next to it,
  falling back to the top level;
* ``ExpiresInUnit`` / ``DefaultExpiresIn`` — lifetimes in milliseconds or minutes, or none;
* ``RefreshExpiresInField`` — the refresh token's own lifetime (same unit);
* ``TokenMetadata`` — response members kept as account connector properties;
* ``ErrorInBody`` — failures reported with a success (or odd) status;
* ``TokenTypes`` — the ``token_type`` values the connector accepts (T-03).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenward.catalog.schema import ErrorInBodyRule, OAuth2Auth
from tokenward.errors import Failure

__all__ = [
    "UNIT_SECONDS",
    "ResponseRules",
    "body_failure",
    "dig",
    "metadata_name",
    "rules_for",
    "token_members",
]

UNIT_SECONDS: Mapping[str, float] = {
    "seconds": 1.0,
    "milliseconds": 0.001,
    "minutes": 60.0,
    "hours": 3600.0,
}
_OUTCOMES: Mapping[str, Failure] = {
    "invalid_grant": Failure.PERMANENT,
    "temporary": Failure.TRANSIENT,
    "config": Failure.CONFIG,
}
_MEMBERS = ("access_token", "refresh_token", "expires_in", "token_type", "scope")


@dataclass(frozen=True, slots=True)
class ResponseRules:
    """The response knobs of one connector (defaults: plain RFC 6749)."""

    access_token_path: str | None = None
    unit_seconds: float = 1.0
    default_expires_in: int | None = None
    refresh_expires_in_field: str | None = None
    token_metadata: tuple[str, ...] = ()
    error_rules: tuple[ErrorInBodyRule, ...] = ()
    token_types: tuple[str, ...] = ("bearer",)


def rules_for(auth: OAuth2Auth) -> ResponseRules:
    """The response rules an authentication entry's knobs describe."""
    return ResponseRules(
        access_token_path=auth.AccessTokenPath,
        unit_seconds=UNIT_SECONDS[auth.ExpiresInUnit],
        default_expires_in=auth.DefaultExpiresIn,
        refresh_expires_in_field=auth.RefreshExpiresInField,
        token_metadata=tuple(auth.TokenMetadata),
        error_rules=tuple(auth.ErrorInBody),
        token_types=tuple(t.lower() for t in auth.TokenTypes),
    )


def dig(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a JSON object; None when any step is missing."""
    value: Any = doc
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def metadata_name(path: str) -> str:
    """The property a ``TokenMetadata`` path is kept as: dots become underscores
    (``team.id`` → ``team_id``), so the name is also a valid ``{{merge}}`` field."""
    return path.replace(".", "_").replace("-", "_")


def token_members(doc: Mapping[str, Any], rules: ResponseRules) -> dict[str, Any]:
    """The standard members as if at the top level: with ``AccessTokenPath`` the token's own
    object wins, the top level fills what it lacks."""
    if rules.access_token_path is None:
        return dict(doc)
    parent_path, _, leaf = rules.access_token_path.rpartition(".")
    parent = dig(doc, parent_path) if parent_path else doc
    members = {k: v for k, v in doc.items() if k != "access_token"}
    if isinstance(parent, Mapping):
        members.update({k: parent[k] for k in _MEMBERS if k in parent and k != "access_token"})
        members["access_token"] = parent.get(leaf)
    return members


def body_failure(
    rules: ResponseRules, status: int, doc: Mapping[str, Any] | None
) -> tuple[str, Failure] | None:
    """(error code, failure) when an ``ErrorInBody`` rule matches this answer, else None."""
    for rule in rules.error_rules:
        if status not in rule.Status:
            continue
        if rule.ErrorField is None:
            return rule.Outcome, _OUTCOMES[rule.Outcome]
        value = dig(doc or {}, rule.ErrorField)
        if value is None or value == "":
            continue
        text = str(value).lower()  # JSON false reads as "false", like the YAML value
        if not rule.Values or text in {v.lower() for v in rule.Values}:
            code = value if isinstance(value, str) else rule.Outcome
            return code, _OUTCOMES[rule.Outcome]
    return None
