"""Reading request bodies: strict JSON first, then the lenient reader; bound case-insensitively."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from tokenward.domain.binding import describe_errors
from tokenward.domain.lenient_json import LenientJSONError, loads
from tokenward.domain.text import unstorable
from tokenward.errors import InvalidRequest

__all__ = ["bind", "body_bytes", "read_body", "read_model"]

M = TypeVar("M", bound=BaseModel)


async def body_bytes(request: Request) -> bytes:
    """The request's body. A request that declares neither ``Content-Length`` nor
    ``Transfer-Encoding`` has none (RFC 9112 §6.3), and a GET's empty body is not waited for
    through every middleware's ``receive``."""
    raw = request.scope["headers"]
    if not any(name in (b"content-length", b"transfer-encoding") for name, _ in raw):
        return b""
    return await request.body()


async def read_body(request: Request) -> Any:
    """The parsed body, or None when there is none (Cyclr clients post empty bodies)."""
    raw = await body_bytes(request)
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not UTF-8 text.", "invalid_body") from None
    try:
        data = loads(text)
    except LenientJSONError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc}.", "invalid_json"
        ) from None
    if _has_unstorable_text(data):
        raise InvalidRequest(
            "The request body contains characters that are not allowed (NUL or invalid Unicode).",
            "invalid_text",
        )
    return data


def _has_unstorable_text(value: Any) -> bool:
    """NUL and lone surrogates (JSON escapes allow both) fit no database column."""
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        return any(_has_unstorable_text(k) or _has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable_text(item) for item in value)
    return False


def bind(model: type[M], data: Any) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", "invalid_body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe_errors(exc), "invalid_field") from None


async def read_model(request: Request, model: type[M]) -> M:
    return bind(model, await read_body(request))
