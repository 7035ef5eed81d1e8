"""OAuth 1.0a signatures (RFC 5849 §3.4 to §3.6), sans-IO: pure functions over strings.

* :func:`encode` — the RFC 5849 §3.6 percent-encoding: UTF-8, every byte outside the unreserved
  set ``A-Z a-z 0-9 - . _ ~`` as ``%XX`` with upper-case hex;
* :func:`base_string_uri` — §3.4.1.2: lower-case scheme and host, no default port, no query,
  no fragment, ``/`` for an empty path;
* :func:`collect_parameters` — §3.4.1.3.1: the query, the ``Authorization`` header's OAuth
  parameters (minus ``realm`` and ``oauth_signature``) and a form body only when its
  content type is ``application/x-www-form-urlencoded``;
* :func:`normalize_parameters` — §3.4.1.3.2: encoded, sorted by name then value, joined;
* :func:`signature_base_string` — §3.4.1.1: ``METHOD&uri&params``, each part encoded;
* :func:`sign` — HMAC-SHA1 (§3.4.2), HMAC-SHA256 (the same construction with SHA-256, as most
  providers offering it define it), RSA-SHA1 (§3.4.3, PKCS #1 v1.5) and PLAINTEXT (§3.4.4,
  refused by the request builders unless the request goes over https: SECURITY.md O-02).

The key of the HMAC methods and PLAINTEXT is ``encode(client secret) & encode(token secret)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tokenward.errors import OAuthConfigError

__all__ = [
    "FORM_CONTENT_TYPE",
    "SIGNATURE_METHODS",
    "SignatureMethod",
    "authorization_params",
    "base_string_uri",
    "collect_parameters",
    "encode",
    "header_value",
    "normalize_parameters",
    "sign",
    "signature_base_string",
    "signing_key",
]

SignatureMethod = Literal["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"]
SIGNATURE_METHODS: tuple[SignatureMethod, ...] = (
    "HMAC-SHA1",
    "HMAC-SHA256",
    "RSA-SHA1",
    "PLAINTEXT",
)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_DEFAULT_PORTS = {"http": 80, "https": 443}

Pairs = list[tuple[str, str]]


def encode(value: str) -> str:
    """RFC 5849 §3.6: UTF-8, unreserved characters kept, all else ``%XX`` (upper-case hex).
    ``quote`` with no extra safe characters keeps exactly ``A-Z a-z 0-9 - . _ ~``."""
    return quote(value.encode("utf-8"), safe="")


def base_string_uri(url: str) -> str:
    """RFC 5849 §3.4.1.2: the request URL without query, fragment, user information or default
    port; scheme and host lower-case; an empty path is ``/``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        raise OAuthConfigError("an OAuth 1.0a request URL must be absolute")
    try:
        port = parts.port
    except ValueError:
        raise OAuthConfigError("an OAuth 1.0a request URL has an invalid port") from None
    if ":" in host:  # IPv6 literal: urlsplit dropped the brackets
        host = f"[{host}]"
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


def _form_pairs(text: str) -> Pairs:
    """``application/x-www-form-urlencoded`` decoding (``+`` is a space; a name without ``=``
    has an empty value, as in RFC 5849's own example body ``c2&a3=2+q``)."""
    return parse_qsl(text, keep_blank_values=True)


def authorization_params(header: str | None) -> Pairs:
    """The parameters of an ``Authorization: OAuth …`` header (RFC 5849 §3.5.1), decoded, in
    order; ``realm`` included (callers drop it for signing). Any other scheme gives none."""
    if not header:
        return []
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        return []
    pairs: Pairs = []
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        pairs.append((unquote(name.strip()), unquote(value)))
    return pairs


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def collect_parameters(
    url: str,
    *,
    authorization: str | None = None,
    body: bytes | str = b"",
    content_type: str | None = None,
) -> Pairs:
    """RFC 5849 §3.4.1.3.1: the request parameters that the signature covers (``realm`` and
    ``oauth_signature`` excluded). A body counts only when it is a single-part form."""
    params = _form_pairs(urlsplit(url).query)
    params += [
        (name, value)
        for name, value in authorization_params(authorization)
        if name not in ("realm", "oauth_signature")
    ]
    if body and _media_type(content_type) == FORM_CONTENT_TYPE:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        params += _form_pairs(text)
    return params


def normalize_parameters(params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.3.2: each name and value encoded, sorted by name then value (byte order
    of the encoded forms), ``name=value`` joined with ``&``."""
    encoded = sorted((encode(name), encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.1: the upper-case method, the base string URI and the normalized
    parameters, each encoded, joined with ``&``."""
    parts = (method.upper(), base_string_uri(url), normalize_parameters(params))
    return "&".join(encode(part) for part in parts)


def signing_key(client_secret: str, token_secret: str | None) -> str:
    """The HMAC and PLAINTEXT key: ``encode(client secret) & encode(token secret)`` (the
    ``&`` stays when there is no token secret yet)."""
    return f"{encode(client_secret)}&{encode(token_secret or '')}"


_PEM = re.compile(r"(-----BEGIN [A-Z ]+-----)(.*?)(-----END [A-Z ]+-----)", re.DOTALL)


def _pem(text: str) -> str:
    """The PEM text with its line breaks back: settings and the partner API keep a secret on
    one line, so the key may arrive with its breaks as spaces or as literal ``\\n``."""
    text = text.replace("\\n", "\n").strip()
    found = _PEM.search(text)
    if found is None:
        return text
    body = "".join(found.group(2).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([found.group(1), *lines, found.group(3), ""])


def _rsa_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem(pem).encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise OAuthConfigError(
            "RSA-SHA1 needs the consumer's RSA private key (PEM, unencrypted) as ClientSecret"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise OAuthConfigError("RSA-SHA1 needs an RSA private key as ClientSecret")
    return key


def sign(
    method: SignatureMethod, base_string: str, client_secret: str, token_secret: str | None
) -> str:
    """The ``oauth_signature`` of ``base_string``. For RSA-SHA1 ``client_secret`` is the
    consumer's PEM private key and the token secret is not used (RFC 5849 §3.4.3)."""
    key = signing_key(client_secret, token_secret)
    if method == "PLAINTEXT":
        return key
    message = base_string.encode("ascii")  # the base string is percent-encoded: pure ASCII
    if method == "RSA-SHA1":
        key_pair = _rsa_key(client_secret)
        # SHA-1 because RFC 5849 §3.4.3 defines RSA-SHA1 so; providers verify exactly that
        signature = key_pair.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        return base64.b64encode(signature).decode("ascii")
    digest = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}.get(method)
    if digest is None:
        raise OAuthConfigError(f"unknown OAuth 1.0a signature method {method!r}")
    mac = hmac.new(key.encode("ascii"), message, digest).digest()
    return base64.b64encode(mac).decode("ascii")


def header_value(params: Mapping[str, str] | Iterable[tuple[str, str]], realm: str | None) -> str:
    """RFC 5849 §3.5.1: ``OAuth realm="…", name="encoded value", …``."""
    items = params.items() if isinstance(params, Mapping) else params
    fields = [f'realm="{realm}"'] if realm is not None else []
    fields += [f'{encode(name)}="{encode(value)}"' for name, value in items]
    return "OAuth " + ", ".join(fields)
