"""Client authentication at the provider double's token, revocation and PAR endpoints.

Strict on purpose: HTTP Basic credentials must be form-urlencoded before base64 (RFC 6749
§2.3.1), so a client that forgets to encode a secret containing ``:`` ``+`` ``%`` or a space is
refused; a client may use only the one method it is registered for, and only one at a time.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from urllib.parse import unquote_plus

from starlette.requests import Request

from tokenward.testing.provider_records import Refused
from tokenward.testing.provider_state import ProviderState

__all__ = ["authenticate"]

_FORM_ENCODED = re.compile(r"(?:[A-Za-z0-9\-._~*+]|%[0-9A-Fa-f]{2})*")


def _form_decode(part: str) -> str:
    if not _FORM_ENCODED.fullmatch(part):
        raise Refused("invalid_client", "Basic credentials are not form-urlencoded", 401)
    return unquote_plus(part)


def _basic(header: str) -> tuple[str, str]:
    """Client id and secret from an HTTP Basic header, decoded strictly (RFC 6749 §2.3.1)."""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Refused("invalid_client", "malformed Basic credentials", 401) from exc
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        raise Refused("invalid_client", "malformed Basic credentials", 401)
    return _form_decode(raw_id), _form_decode(raw_secret)


def _client_credentials(request: Request, params: Mapping[str, str]) -> tuple[str, str | None, str]:
    """(client id, secret, method) as presented; more than one method is refused."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        if "client_secret" in params:
            raise Refused("invalid_request", "more than one client authentication method")
        client_id, secret = _basic(header)
        return client_id, secret, "client_secret_basic"
    if "client_secret" in params:
        return params.get("client_id", ""), params["client_secret"], "client_secret_post"
    return params.get("client_id", ""), None, "none"


def authenticate(state: ProviderState, request: Request, params: Mapping[str, str]) -> str:
    """The authenticated client id, by the one method its registration allows."""
    client_id, secret, method = _client_credentials(request, params)
    client = state.clients.get(client_id)
    if client is None or client.auth_method != method:
        raise Refused("invalid_client", "unknown client or wrong authentication method", 401)
    if method != "none" and not secrets.compare_digest(
        (secret or "").encode(), client.client_secret.encode()
    ):
        raise Refused("invalid_client", "wrong client secret", 401)
    return client_id
