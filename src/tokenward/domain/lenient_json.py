"""A forgiving JSON reader for request bodies, as Cyclr's parser is.

Real clients send ``{'Parameters': {296076 : 1}}``: single quotes, bare keys (also numeric),
trailing commas. Strict JSON is tried first (fast path); only what fails is read here. NaN,
Infinity and nesting deeper than :data:`MAX_DEPTH` are refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "LenientJSONError", "loads"]

MAX_DEPTH = 64
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_BARE = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_$\-.]*")
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class LenientJSONError(ValueError):
    """The text is not JSON even by lenient rules; the message says where."""


def loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise LenientJSONError("nesting is too deep") from None
    except ValueError:
        pass
    reader = _Reader(text)
    value = reader.value(0)
    reader.skip()
    if reader.pos != len(text):
        reader.fail("unexpected text after the value")
    return value


def _refuse_constant(name: str) -> Any:
    raise LenientJSONError(f"{name} is not allowed")


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> None:
        raise LenientJSONError(f"{why} at character {self.pos + 1}")

    def skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            if text[self.pos] in " \t\r\n\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    self.fail("unterminated comment")
                self.pos = end + 2
            else:
                return

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.fail("nesting is too deep")
        char = self.peek()
        if not char:
            self.fail("unexpected end of text")
        if char == "{":
            return self.obj(depth)
        if char == "[":
            return self.array(depth)
        if char in ('"', "'"):
            return self.string()
        return self.scalar()

    def obj(self, depth: int) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        while self.peek() != "}":
            if not self.peek():
                self.fail("unterminated object")
            key = self.string() if self.peek() in ('"', "'") else self.bare()
            if self.peek() != ":":
                self.fail("expected ':'")
            self.pos += 1
            result[key] = self.value(depth + 1)
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                self.fail("expected ',' or '}'")
        self.pos += 1
        return result

    def array(self, depth: int) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        while self.peek() != "]":
            if not self.peek():
                self.fail("unterminated array")
            result.append(self.value(depth + 1))
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                self.fail("expected ',' or ']'")
        self.pos += 1
        return result

    def bare(self) -> str:
        match = _BARE.match(self.text, self.pos)
        if not match:
            self.fail("expected a key")
        assert match is not None
        self.pos = match.end()
        return match.group()

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                self.fail("unterminated string")
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\":
                out.append(self.escape())
                continue
            out.append(char)
            self.pos += 1

    def escape(self) -> str:
        code = self.text[self.pos + 1 : self.pos + 2]
        if code == "u":
            digits = self.text[self.pos + 2 : self.pos + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                self.fail("bad \\u escape")
            self.pos += 6
            return chr(int(digits, 16))
        if code not in _ESCAPES:
            self.fail("bad escape")
        self.pos += 2
        return _ESCAPES[code]

    def scalar(self) -> Any:
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            self.fail("unexpected character")
        assert match is not None
        self.pos = match.end()
        number = match.group()
        return float(number) if any(c in number for c in ".eE") else int(number)
