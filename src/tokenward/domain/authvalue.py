"""AuthValue: the credential of an account connector as the partner API writes it (DESIGN.md §5).

Pure parsing and validation, per auth type of the connector's authentication method:

- ``ApiKey``: the key as plain text.
- ``Basic``: ``base64("username:password")``.
- ``OAuth2``: a *string* holding JSON ``{"AccessToken","RefreshToken","Expires","RefreshExpires"}``
  (at least one token; dates ISO 8601, read as UTC when they carry no offset), or a raw access
  token, or ``"{}"`` (no token yet: authenticate at first use).
- ``OAuth1``: a string holding JSON ``{"AccessToken","AccessTokenSecret"}``.

Keys of the JSON forms match case-insensitively (Cyclr style); unknown keys, wrong types and
oversized values are refused (SECURITY.md K-04), and so is any value containing the mask
``********`` — a masked value read back and written again must never overwrite real tokens.
Messages never echo a value, only field names.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tokenward.domain.text import check_text, shown
from tokenward.errors import InvalidRequest

__all__ = [
    "MASK",
    "MAX_AUTH_VALUE",
    "MAX_TOKEN",
    "SERVICE_FIELDS",
    "ParsedAuthValue",
    "contains_mask",
    "format_utc",
    "mask_document",
    "parse_auth_value",
    "public_document",
]

MASK = "********"
MAX_TOKEN = 16 * 1024  # characters per token, key or Basic value
MAX_AUTH_VALUE = 64 * 1024  # characters of the whole AuthValue
_OAUTH2_FIELDS = ("AccessToken", "RefreshToken", "Expires", "RefreshExpires")
_OAUTH1_FIELDS = ("AccessToken", "AccessTokenSecret")
_SECRET_FIELDS = frozenset({"AccessToken", "RefreshToken", "AccessTokenSecret"})
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ParsedAuthValue:
    """A validated AuthValue.

    ``document`` is the normalized secret to seal; ``masked`` is what reads show. ``pending``
    marks ``"{}"``: nothing usable yet, authenticate at the next method call.
    """

    document: str
    masked: str
    expires_utc: datetime | None = None
    refresh_expires_utc: datetime | None = None
    pending: bool = False


def _invalid(message: str, code: str = "invalid_auth_value") -> InvalidRequest:
    return InvalidRequest(message, code)


def contains_mask(value: str) -> bool:
    return MASK in value


def format_utc(value: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` and whole seconds, as stored in credential documents."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_auth_value(auth_type: str, raw: str) -> ParsedAuthValue:
    """Validate ``raw`` for a connector whose authentication method is ``auth_type``."""
    if contains_mask(raw):
        raise _invalid(
            f"AuthValue contains the mask '{MASK}'; send the real credential (a masked value "
            "read back from the API cannot be written).",
            "masked_value",
        )
    if len(raw) > MAX_AUTH_VALUE:
        raise _invalid(
            f"AuthValue is longer than {MAX_AUTH_VALUE} characters.", "auth_value_too_large"
        )
    check_text("AuthValue", raw, multiline=True)
    parsers = {"ApiKey": _api_key, "Basic": _basic, "OAuth2": _oauth2, "OAuth1": _oauth1}
    parser = parsers.get(auth_type)
    if parser is None:
        raise _invalid("This connector does not use credentials; AuthValue is not accepted.")
    return parser(raw)


def _plain_secret(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise _invalid(f"{name} must not be empty.")
    if len(value) > MAX_TOKEN:
        raise _invalid(f"{name} is longer than {MAX_TOKEN} characters.", "auth_value_too_large")
    return check_text(name, value)


def _api_key(raw: str) -> ParsedAuthValue:
    return ParsedAuthValue(document=_plain_secret("The API key", raw), masked=MASK)


def _basic(raw: str) -> ParsedAuthValue:
    value = _plain_secret("The Basic AuthValue", raw)
    padded = value + "=" * (-len(value) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid('A Basic AuthValue must be base64("username:password").') from None
    if b":" not in decoded:
        raise _invalid('A Basic AuthValue must be base64("username:password") with a colon.')
    return ParsedAuthValue(document=padded, masked=MASK)


def _json_object(raw: str, expected: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object in ``raw`` with keys renamed to their canonical spelling."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key.lower() in out:
                raise _invalid("AuthValue names a field more than once.")
            out[key.lower()] = value
        return out

    try:
        parsed = json.loads(raw, object_pairs_hook=pairs, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _invalid("AuthValue is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise _invalid("AuthValue JSON must be an object.")
    canonical = {name.lower(): name for name in expected}
    unknown = sorted(key for key in parsed if key not in canonical)
    if unknown:
        names = ", ".join(f"'{shown(key, 40)}'" for key in unknown[:5])
        raise _invalid(f"AuthValue has unknown field(s) {names}; expected {', '.join(expected)}.")
    return {canonical[key]: value for key, value in parsed.items() if value is not None}


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _token_field(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"AuthValue field {name} must be a string.")
    return _plain_secret(f"AuthValue field {name}", value)


def _date_field(fields: dict[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _invalid(f"AuthValue field {name} must be an ISO 8601 date string.")
    text = value.strip()
    text = text[:-1] + "+00:00" if text[-1:] in {"Z", "z"} else text
    try:
        parsed = datetime.fromisoformat(text)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid(f"AuthValue field {name} must be an ISO 8601 date.") from None
    if parsed < _EARLIEST:
        raise _invalid(f"AuthValue field {name} must not be before 1970.")
    return parsed.replace(microsecond=0)


def _oauth2(raw: str) -> ParsedAuthValue:
    text = raw.strip()
    if not text.startswith(("{", "[")):
        token = _plain_secret("The access token", text)
        return _oauth2_document({"AccessToken": token}, None, None)
    fields = _json_object(text, _OAUTH2_FIELDS)
    if not fields:
        return ParsedAuthValue(document="{}", masked="{}", pending=True)
    access = _token_field(fields, "AccessToken")
    refresh = _token_field(fields, "RefreshToken")
    expires = _date_field(fields, "Expires")
    refresh_expires = _date_field(fields, "RefreshExpires")
    if access is None and refresh is None:
        raise _invalid("An OAuth AuthValue needs an AccessToken or a RefreshToken.")
    tokens = {"AccessToken": access, "RefreshToken": refresh}
    return _oauth2_document(
        {k: v for k, v in tokens.items() if v is not None}, expires, refresh_expires
    )


def _oauth2_document(
    tokens: dict[str, str], expires: datetime | None, refresh_expires: datetime | None
) -> ParsedAuthValue:
    document: dict[str, str] = dict(tokens)
    if expires is not None:
        document["Expires"] = format_utc(expires)
    if refresh_expires is not None:
        document["RefreshExpires"] = format_utc(refresh_expires)
    text = json.dumps(document, separators=(",", ":"))
    return ParsedAuthValue(
        document=text,
        masked=mask_document("OAuth2", text),
        expires_utc=expires if "AccessToken" in tokens else None,
        refresh_expires_utc=refresh_expires,
    )


def _oauth1(raw: str) -> ParsedAuthValue:
    fields = _json_object(raw.strip(), _OAUTH1_FIELDS)
    token = _token_field(fields, "AccessToken")
    secret = _token_field(fields, "AccessTokenSecret")
    if token is None or secret is None:
        raise _invalid("An OAuth 1 AuthValue needs an AccessToken and an AccessTokenSecret.")
    text = json.dumps({"AccessToken": token, "AccessTokenSecret": secret}, separators=(",", ":"))
    return ParsedAuthValue(document=text, masked=mask_document("OAuth1", text))


# Kept in a stored document beside the AuthValue fields after a token exchange (T-04, T-05);
# ``Secondary``: a second token set a hook keeps (never shown, even masked).
SERVICE_FIELDS = ("TokenType", "Scope", "Raw", "Secondary")


def public_document(document: str) -> str:
    """The AuthValue part of a stored credential document.

    Documents written after a token exchange also keep the provider's token type, granted scope
    and unknown response members (RFC 6749 §5.1; SECURITY.md T-05) for the service's own use;
    an AuthValue, revealed or masked, shows only the fields a partner can write.
    """
    if not document.startswith("{"):
        return document
    try:
        fields = json.loads(document)
    except ValueError:
        return document
    if not isinstance(fields, dict) or not any(k in fields for k in SERVICE_FIELDS):
        return document
    kept = {k: v for k, v in fields.items() if k not in SERVICE_FIELDS}
    return json.dumps(kept, separators=(",", ":"))


def mask_document(auth_type: str, document: str) -> str:
    """The masked form of a normalized document: token fields replaced, dates kept."""
    if auth_type not in {"OAuth2", "OAuth1"}:
        return MASK
    try:
        fields = json.loads(public_document(document))
    except ValueError:
        return MASK
    if not isinstance(fields, dict):
        return MASK
    masked = {k: (MASK if k in _SECRET_FIELDS else v) for k, v in fields.items()}
    return json.dumps(masked, separators=(",", ":"))
