"""Web origins (``scheme://host[:port]``) as registered in the partner's allowlist (SECURITY.md
W-01): canonicalised — lower-case scheme and host, IDN as punycode, default port removed — and
compared by exact string. Anything that is not a plain origin is refused: paths (a single
trailing ``/`` is tolerated and dropped), queries, fragments, user info, wildcards, ``null``,
``javascript:``/``data:`` and every scheme but https (http only where explicitly allowed).
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["canonical_origin", "is_loopback"]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_ORIGIN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/?#@\[\]\\\s]+)"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def is_loopback(host: str) -> bool:
    host = host.lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(raw: str) -> str:
    if raw.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(raw[1:-1]).compressed}]"
        except ValueError:
            raise ValueError("the IPv6 address is not valid") from None
    try:
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("the host name is not valid") from None
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("the host name is not valid")
    return ".".join(labels)


def canonical_origin(text: str, *, allow_http: bool = False) -> str:
    """The canonical form of an origin; ``ValueError`` saying why when ``text`` is not one.

    ``allow_http``: accept http:// for any host (otherwise only for loopback hosts).
    """
    match = _ORIGIN.fullmatch(text.strip())
    if match is None:
        raise ValueError("an origin is scheme://host[:port] with no path, query or user info")
    scheme = match["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("the scheme must be https")
    host = _host(match["host"])
    if scheme == "http" and not (allow_http or is_loopback(host)):
        raise ValueError("http is allowed only for loopback hosts; use https")
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise ValueError("the port must be between 1 and 65535")
    suffix = "" if port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{suffix}"
