"""Signing and verifying tokenward's webhooks (DESIGN.md §8), for tokenward and its receivers.

Every webhook carries ``Tokenward-Signature: t={unix seconds},v1={hex}``, where ``hex`` is the
HMAC-SHA256 of ``"{t}.{raw body}"`` keyed with the partner's WebhookSecret. A receiver checks it
on the raw bytes it received (before any JSON parsing) and refuses a ``t`` outside a few
minutes of its own clock, so that a captured request cannot be replayed later::

    from tokenward.webhook_signature import verify_signature

    if not verify_signature(secret, request.headers["Tokenward-Signature"], raw_body, time.time()):
        return 400

Pure Python, no dependency on the rest of tokenward: a partner can copy this file.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_SECONDS", "sign", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "Tokenward-Signature"
TOLERANCE_SECONDS = 300
_MAX_HEADER = 4096


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"``."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``Tokenward-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={int(timestamp)},v1={sign(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    """``(t, [v1 signatures])``; several ``v1`` are allowed (e.g. during a secret change)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return None
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    now: float | datetime,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """True when ``header`` signs exactly ``body`` with ``secret`` and its ``t`` lies within
    ``tolerance`` seconds of ``now`` (unix seconds or an aware datetime). Comparison is in
    constant time; any malformed header is simply False."""
    if not header or len(header) > _MAX_HEADER:
        return False
    parsed = _parse(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(c.isascii() and hmac.compare_digest(expected, c) for c in signatures)
