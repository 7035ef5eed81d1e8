"""Authorization server metadata (RFC 8414): where to find it and what it may be trusted for.

Sans-IO: :func:`metadata_url` says what to fetch, :func:`parse_metadata` turns the answer into a
:class:`ServerMetadata` or refuses it. The document is used only when its ``issuer`` equals the
configured issuer exactly (RFC 8414 §3.3, SECURITY.md F-10); otherwise it is discarded and the
flow is not started. When it is used, its endpoints win over hand-typed ones (F-11), and its
switches (``require_pushed_authorization_requests``,
``authorization_response_iss_parameter_supported``) turn on PAR (F-09) and the ``iss`` check
(C-04).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tokenward.errors import Failure, OAuthConfigError, OAuthError

__all__ = ["WELL_KNOWN", "ServerMetadata", "metadata_url", "parse_metadata"]

WELL_KNOWN = "/.well-known/oauth-authorization-server"
_MAX_BODY = 256 * 1024


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """The parts of an RFC 8414 document tokenward acts on."""

    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str | None
    pushed_authorization_request_endpoint: str | None = None
    require_pushed_authorization_requests: bool = False
    authorization_response_iss_parameter_supported: bool = False
    revocation_endpoint: str | None = None


def metadata_url(issuer: str) -> str:
    """The metadata URL of ``issuer``: the well-known suffix goes *between* the host and the
    issuer's path, whose terminating ``/`` is dropped first (RFC 8414 §3, §3.1)."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise OAuthConfigError("the Issuer must be an absolute https URL")
    if parts.query or parts.fragment:
        raise OAuthConfigError("the Issuer may not have a query or fragment (RFC 8414 §2)")
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))


def _invalid(description: str, status: int | None = None) -> OAuthError:
    return OAuthError(
        "invalid_metadata", description, failure=Failure.INVALID_RESPONSE, status=status
    )


def _endpoint(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} is not a string")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise _invalid(f"{name} is not an absolute URL without a fragment")
    return value


def _flag(doc: Mapping[str, Any], name: str) -> bool:
    value = doc.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(f"{name} is not a boolean")
    return value


def parse_metadata(status: int, body: bytes, *, expected_issuer: str) -> ServerMetadata:
    """The metadata in a 200 answer, or ``OAuthError`` (``invalid_metadata``): a non-200
    status, a body that is not a JSON object, a malformed member, or an ``issuer`` that differs
    from ``expected_issuer`` by a single character (compared as strings, RFC 8414 §3.3)."""
    if status != 200:
        raise _invalid(f"HTTP {status}", status)
    if len(body) > _MAX_BODY:
        raise _invalid("the document is too large", status)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise _invalid("the document is not JSON", status) from None
    if not isinstance(doc, dict):
        raise _invalid("the document is not a JSON object", status)
    if doc.get("issuer") != expected_issuer:
        raise _invalid("the document's issuer is not the configured Issuer", status)
    return ServerMetadata(
        issuer=expected_issuer,
        authorization_endpoint=_endpoint(doc, "authorization_endpoint"),
        token_endpoint=_endpoint(doc, "token_endpoint"),
        pushed_authorization_request_endpoint=_endpoint(
            doc, "pushed_authorization_request_endpoint"
        ),
        require_pushed_authorization_requests=_flag(doc, "require_pushed_authorization_requests"),
        authorization_response_iss_parameter_supported=_flag(
            doc, "authorization_response_iss_parameter_supported"
        ),
        revocation_endpoint=_endpoint(doc, "revocation_endpoint"),
    )
