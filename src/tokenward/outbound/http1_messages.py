"""HTTP/1.1 messages as data for tokenward's client (:mod:`~tokenward.outbound.http1`): where a
request goes, the request's head as bytes, and an answer's body decoded. Nothing here does I/O.

* the request goes out in one write (head and body); header names and the method must be tokens
  and header values may hold no CR, LF or NUL (no header injection); a target with a space, a
  control or non-ASCII character is percent-encoded, existing escapes kept;
* gzip and deflate are asked for and decoded, every gzip member, capped after decompression; a
  truncated or corrupt body is a ``reset``, another encoding is passed on as it is.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from tokenward import __version__
from tokenward.errors import TransportError

__all__ = ["Answer", "Origin", "broken", "decode_body", "request_head", "too_large"]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_OURS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
# A request target needs quoting only if it holds a space, a control or non-ASCII character, or
# one of the characters RFC 3986 never allows unescaped; existing %XX escapes are kept.
_UNSAFE_TARGET = re.compile(r'[^\x21-\x7e]|["<>\\^`{|}]')
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:%~-._"
_USER_AGENT = f"tokenward/{__version__}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request goes: ``scheme``, ``host`` (lower case, IDNA) and ``port``, plus the
    ``Host`` header that names them."""

    scheme: str
    host: str
    port: int
    host_header: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete answer: status, headers as received (in order) and the body as sent."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(repr=False)
    body: bytes = field(repr=False)


def request_head(
    method: str,
    target: str,
    origin: Origin,
    headers: Mapping[str, str],
    body_length: int,
    *,
    close: bool,
) -> bytes:
    """The request line and headers of one request (``target``: path and query)."""
    if not _TOKEN.fullmatch(method):
        raise TransportError("invalid_request", "the request method is malformed", sent=False)
    if _UNSAFE_TARGET.search(target):
        target = quote(target, safe=_TARGET_SAFE)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    given = set()
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise TransportError(
                "invalid_request", f"a request header for {origin.host} is malformed", sent=False
            )
        lower = name.lower()
        if lower not in _OURS:
            given.add(lower)
            lines.append(f"{name}: {value}")
    if "accept" not in given:
        lines.append("Accept: */*")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: gzip, deflate")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {_USER_AGENT}")
    if body_length or method in _WITH_BODY:
        lines.append(f"Content-Length: {body_length}")
    if close:
        lines.append("Connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


def decode_body(headers: list[tuple[bytes, bytes]], body: bytes, limit: int, host: str) -> bytes:
    """``body`` decoded by its ``Content-Encoding`` (gzip, deflate), at most ``limit`` bytes.
    Other encodings are passed on as they are, with their header."""
    coding = b""
    for name, value in headers:
        if name.lower() == b"content-encoding":
            coding = value.strip().lower()
    if not body or coding not in (b"gzip", b"x-gzip", b"deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if coding != b"deflate" else zlib.MAX_WBITS
    try:
        return _inflate(body, wbits, limit, host)
    except zlib.error:
        if coding != b"deflate":
            raise broken(host) from None
    try:  # servers that send raw deflate without the zlib wrapper
        return _inflate(body, -zlib.MAX_WBITS, limit, host)
    except zlib.error:
        raise broken(host) from None


def _inflate(body: bytes, wbits: int, limit: int, host: str) -> bytes:
    """Every member of ``body`` (gzip allows several), refusing a truncated stream."""
    out = bytearray()
    while body:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(body, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise too_large(limit)
        out += inflater.flush()
        if len(out) > limit:
            raise too_large(limit)
        if not inflater.eof:
            raise zlib.error("truncated")
        body = inflater.unused_data
    return bytes(out)


def too_large(limit: int) -> TransportError:
    return TransportError("too_large", f"the answer exceeds {limit} bytes", sent=True)


def broken(host: str) -> TransportError:
    return TransportError("reset", f"{host} sent an answer that is not valid HTTP", sent=True)
