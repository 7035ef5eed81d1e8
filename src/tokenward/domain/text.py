"""Text from requests that is stored or echoed: it must be storable everywhere and safe to show.

PostgreSQL refuses NUL in text, and a lone surrogate (JSON allows the escape ``"\\ud800"``) has no
UTF-8 encoding, so neither database nor response could take it: such values are a 400, not a
500. :func:`shown` makes any input safe to quote in an error message.
"""

from __future__ import annotations

import re

from tokenward.errors import InvalidRequest

__all__ = ["check_text", "shown", "unstorable"]

_MULTILINE = {"\t", "\n", "\r"}


def _bad_char(value: str, multiline: bool) -> bool:
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF or code == 0x7F:
            return True
        if code < 32 and not (multiline and char in _MULTILINE):
            return True
    return False


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """NUL and lone surrogates fit in no database column and no response."""
    return _UNSTORABLE.search(text) is not None


def check_text(field: str, value: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or a 400 naming ``field`` (never quoting the value)."""
    if _bad_char(value, multiline):
        raise InvalidRequest(
            f"{field} contains characters that are not allowed (control characters or invalid "
            "Unicode).",
            "invalid_text",
        )
    return value


def shown(value: str, limit: int = 200) -> str:
    """``value`` cut to ``limit`` characters with unprintable characters replaced by ``?``."""
    printable = "".join(c if c.isprintable() else "?" for c in value[:limit])
    return printable + ("…" if len(value) > limit else "")
