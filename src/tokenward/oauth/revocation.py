"""What a revocation endpoint's answer means (RFC 7009 §2.2), as a pure function.

The request itself is built by :func:`tokenward.oauth.requests.revocation_request`. Here:

* 200 is success whatever the body, also for a token that was already invalid (V-02); other
  2xx answers are taken as success too (some providers answer 204);
* ``unsupported_token_type`` means this server will never revoke that kind of token: logged by
  the caller and not retried (V-04);
* anything else — 503 with or without ``Retry-After``, other 5xx, 429, other errors — leaves the
  token presumed valid, so the caller retries later from its queue (V-03).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tokenward.oauth.responses import parse_retry_after

__all__ = ["RevocationAnswer", "classify_revocation"]

_MAX_ERROR_BODY = 64 * 1024
_MAX_CODE = 100


@dataclass(frozen=True)
class RevocationAnswer:
    """``outcome`` and, for ``retry``, a short reason (error code or status; never a token)."""

    outcome: Literal["revoked", "unsupported", "retry"]
    detail: str = ""
    retry_after: int | None = None


def _error_code(headers: Mapping[str, str], body: bytes) -> str | None:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if len(body) > _MAX_ERROR_BODY or "json" not in content_type.lower():
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, str) or not error.isascii() or not error.isprintable():
        return None
    return error[:_MAX_CODE]


def classify_revocation(
    status: int, headers: Mapping[str, str], body: bytes, *, now: datetime
) -> RevocationAnswer:
    """The meaning of one answer of a revocation endpoint."""
    if 200 <= status < 300:
        return RevocationAnswer("revoked")
    code = _error_code(headers, body)
    if code == "unsupported_token_type":
        return RevocationAnswer("unsupported", code)
    retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    return RevocationAnswer("retry", detail, parse_retry_after(retry_after, now=now))
