"""Token-endpoint responses: a usable :class:`TokenSet`, or a classified :class:`OAuthError`.

Pure: the transport hands over status, headers and body bytes; the clock is a parameter. Every
answer ends in exactly one of two outcomes, so callers never see a ``KeyError`` or a
``JSONDecodeError`` from a provider's creativity (SECURITY.md §4.3):

* 2xx with an ``access_token`` and an accepted ``token_type`` → :class:`TokenSet`
  (RFC 6749 §5.1, T-03…T-05, RT-02);
* anything else → :class:`~tokenward.errors.OAuthError` whose ``failure`` says what to do
  (RFC 6749 §5.2, T-06, RT-03…RT-05). A 2xx whose body carries ``error`` is an error too
  (QUIRKS.md ``ErrorInBody``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from tokenward.errors import Failure, OAuthError
from tokenward.oauth.response_rules import (
    ResponseRules,
    body_failure,
    dig,
    metadata_name,
    token_members,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EXPIRES_IN",
    "TokenSet",
    "classify_error",
    "parse_retry_after",
    "parse_token_response",
    "token_set_from",
]

MAX_BODY_BYTES = 1 << 20
# Ten years: beyond this an ``expires_in`` is a bug (or milliseconds), not a lifetime.
MAX_EXPIRES_IN = 10 * 366 * 24 * 3600
_MAX_TEXT = 300  # provider text kept in an error message

_BY_CODE: Mapping[str, Failure] = {
    "invalid_grant": Failure.PERMANENT,
    "access_denied": Failure.PERMANENT,
    "invalid_client": Failure.CONFIG,
    "unauthorized_client": Failure.CONFIG,
    "unsupported_grant_type": Failure.CONFIG,
    "invalid_scope": Failure.CONFIG,
    "invalid_request": Failure.CONFIG,
    "server_error": Failure.TRANSIENT,
    "temporarily_unavailable": Failure.TRANSIENT,
}


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A usable token response. ``expires_at`` None means unknown (T-04), never "forever".
    ``raw`` keeps every member, known or not, for the sealed credential blob (T-05)."""

    access_token: str = field(repr=False)
    token_type: str
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    scope: str | None
    raw: dict[str, Any] = field(repr=False)
    refresh_expires_at: datetime | None = None  # RefreshExpiresInField
    metadata: dict[str, str] = field(default_factory=dict, repr=False)  # TokenMetadata
    grant: str | None = None  # how it is renewed when not by refresh token (set by a hook)
    #: a second token set of the same grant, with its own refresh token and expiry (a hook
    #: keeps it; it is refreshed on its own)
    secondary: TokenSet | None = field(default=None, repr=False)


def parse_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    default_expires_in: int | None,
    previous_refresh_token: str | None,
    token_types: Collection[str] = ("bearer",),
    rules: ResponseRules | None = None,
) -> TokenSet:
    """A token set from a token-endpoint answer, or raise a classified ``OAuthError``.

    ``token_types`` lists the accepted ``token_type`` values, lower case (T-03: RFC 6749 §7.1
    says a client must not use a token whose type it does not understand). ``rules`` carries
    the connector's response knobs (``response_rules.rules_for``); when given, its
    ``token_types`` and ``default_expires_in`` win.
    """
    if rules is None:
        rules = ResponseRules(default_expires_in=default_expires_in, token_types=tuple(token_types))
    retry_after = parse_retry_after(_header(headers, "retry-after"), now=now)
    doc = _document(headers, body)
    matched = body_failure(rules, status, doc)
    if matched is not None:
        raise _error(matched[0], doc, matched[1], status, retry_after)
    if status == 429 or status >= 500:
        code = _text(doc.get("error")) if doc else None
        raise _error(code or "server_error", doc, Failure.TRANSIENT, status, retry_after)
    if doc is not None and doc.get("error") is not None:
        code = _text(doc.get("error")) or "invalid_response"
        raise _error(code, doc, classify_error(code, status), status, retry_after)
    if not 200 <= status < 300:
        failure = Failure.CONFIG if status == 401 else Failure.INVALID_RESPONSE
        raise OAuthError("invalid_response", f"HTTP {status}", failure=failure, status=status)
    if doc is None:
        raise _invalid("the body is not a JSON object", status)
    return _token_set(doc, status, now, rules, previous_refresh_token)


def token_set_from(
    members: dict[str, Any],
    *,
    now: datetime,
    rules: ResponseRules,
    previous_refresh_token: str | None,
) -> TokenSet:
    """A token set from members a successful answer already carried (a hook's secondary
    set), checked as a token response is: an access token, an accepted ``token_type``, a
    sane ``expires_in``; raises ``OAuthError`` (``invalid_response``) otherwise."""
    return _token_set(dict(members), 200, now, rules, previous_refresh_token)


def classify_error(code: str, status: int | None = None) -> Failure:
    """The failure class of an RFC 6749 §5.2 error code (SECURITY.md §3.2 item 4).

    Unknown codes are permanent: the request will not succeed as it is, and retrying an unknown
    refusal only hammers the provider; re-authorising is the generic way out.
    """
    if status is not None and (status == 429 or status >= 500):
        return Failure.TRANSIENT
    return _BY_CODE.get(code.lower(), Failure.PERMANENT)


def parse_retry_after(value: str | None, *, now: datetime) -> int | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3): delay-seconds or an
    HTTP-date; None when absent or unreadable. A date in the past means 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and text.isascii():
        return int(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, math.ceil((when - now).total_seconds()))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _document(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object (or a form-encoded one when the provider says so), else None."""
    if len(body) > MAX_BODY_BYTES:
        return None
    content_type = (_header(headers, "content-type") or "").lower()
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are both
        return None
    return parsed if isinstance(parsed, dict) else None


def _text(value: Any) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) and value else None


def _error(
    code: str, doc: dict[str, Any] | None, failure: Failure, status: int, retry_after: int | None
) -> OAuthError:
    doc = doc or {}
    return OAuthError(
        code[:_MAX_TEXT],
        _text(doc.get("error_description")),
        failure=failure,
        status=status,
        retry_after=retry_after,
        error_uri=_text(doc.get("error_uri")),
    )


def _invalid(description: str, status: int) -> OAuthError:
    return OAuthError(
        "invalid_response", description, failure=Failure.INVALID_RESPONSE, status=status
    )


def _token_set(
    doc: dict[str, Any],
    status: int,
    now: datetime,
    rules: ResponseRules,
    previous_refresh_token: str | None,
) -> TokenSet:
    members = token_members(doc, rules)
    access_token, token_type = members.get("access_token"), members.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise _invalid("the response has no access_token", status)
    if not isinstance(token_type, str) or token_type.lower() not in rules.token_types:
        raise _invalid("the token_type is missing or not one the connector declares", status)
    lifetime = _expires_in(members.get("expires_in"), status, rules.unit_seconds)
    if lifetime is None:
        lifetime = rules.default_expires_in
    refresh_lifetime = None
    if rules.refresh_expires_in_field is not None:
        found = dig(doc, rules.refresh_expires_in_field)
        refresh_lifetime = _expires_in(found, status, rules.unit_seconds)
    refresh = members.get("refresh_token")
    return TokenSet(
        access_token=access_token,
        token_type=token_type,
        # RT-02: a rotated refresh token replaces the old one; none in the answer keeps it.
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh_token,
        expires_at=now + timedelta(seconds=lifetime) if lifetime is not None else None,
        scope=_scope(members.get("scope")),
        raw=dict(doc),
        refresh_expires_at=(
            now + timedelta(seconds=refresh_lifetime) if refresh_lifetime is not None else None
        ),
        metadata=_metadata(doc, rules.token_metadata),
    )


def _metadata(doc: dict[str, Any], paths: Collection[str]) -> dict[str, str]:
    """``TokenMetadata`` values present as text or numbers, by property name."""
    kept: dict[str, str] = {}
    for path in paths:
        value = dig(doc, path)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            kept[metadata_name(path)] = str(value)
    return kept


def _expires_in(value: Any, status: int, unit: float = 1.0) -> int | None:
    """Seconds from ``expires_in`` (a number or a numeric string, in ``unit`` seconds each:
    ``ExpiresInUnit``); None when absent or 0.

    Several providers send 0 for "does not expire": that is unknown, not already expired.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _invalid("expires_in is not a number", status)
    try:
        seconds = float(value) * unit
    except (TypeError, ValueError, OverflowError):
        raise _invalid("expires_in is not a number", status) from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_EXPIRES_IN:
        raise _invalid("expires_in is out of range", status)
    return int(seconds) or None


def _scope(value: Any) -> str | None:
    """The granted scope as text (T-04); some providers send a JSON list."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value) or None
    return None
