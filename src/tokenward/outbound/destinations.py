"""Where tokenward may send a request: the egress policy, as pure functions.

T-07: token endpoints are https (TLS verified by the transport); plain http only to a loopback
host, and only when ``allow_insecure_http`` is set (development and tests). P-03: a destination
whose address is loopback, private, link-local (169.254.169.254, the cloud metadata service) or
unique-local is refused (the same flag opens loopback only), so a connector URL cannot reach the
host's own network (SSRF). The transport checks the URL before anything else and every resolved
address before connecting; refusals carry the host only, never the path or query.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from tokenward.errors import TransportError

__all__ = ["IpAddress", "check_address", "check_url", "literal_address"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def check_url(url: str, *, allow_insecure_http: bool) -> str:
    """The host of ``url`` if its scheme may be used (T-07); raise ``refused_destination``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise _refused("the URL has no host")
    if parts.scheme == "https":
        return host
    if parts.scheme != "http":
        raise _refused("only https destinations are allowed")
    if allow_insecure_http and _is_loopback_host(host):
        return host
    raise _refused(f"plain http to {host} is not allowed")


def literal_address(host: str) -> IpAddress | None:
    """The address a host names literally (``10.0.0.1``, ``::1``), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_address(host: str, addresses: Iterable[IpAddress], *, allow_insecure_http: bool) -> None:
    """Refuse ``host`` if any of its addresses is internal (P-03): one bad answer is enough,
    since the connection may use any of them."""
    found = list(addresses)
    if not found:
        raise _refused(f"{host} did not resolve")
    # The development flag opens loopback only: private, link-local (169.254.169.254) and
    # unique-local addresses stay refused even then.
    if any(
        _is_internal(address) and not (allow_insecure_http and _is_loopback(address))
        for address in found
    ):
        raise _refused(f"{host} resolves to a non-public address")


def _is_loopback_host(host: str) -> bool:
    address = literal_address(host)
    return address.is_loopback if address is not None else host in _LOOPBACK_NAMES


def _is_loopback(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _is_internal(address: IpAddress) -> bool:
    # An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private  # includes unique-local fc00::/7 and 10/8, 172.16/12, 192.168/16
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def _refused(message: str) -> TransportError:
    return TransportError("refused_destination", message, sent=False)
