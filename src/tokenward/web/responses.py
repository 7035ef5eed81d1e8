"""Building responses and their OpenAPI descriptions."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

__all__ = ["ERRORS", "ErrorOut", "body_doc", "documented_models", "ok"]

_MODELS: dict[str, type[BaseModel]] = {}


class ErrorOut(BaseModel):
    Message: str
    Code: str


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("Validation failed (or a duplicate)"),
    401: _err("No or bad bearer token, or the account header is missing"),
    403: _err("The token is restricted to another account"),
    404: _err("Unknown object, or one of another account"),
    413: _err("Body over 1 MiB"),
    422: _err("Idempotency-Key reused with another body"),
    429: _err("Rate limited"),
    503: _err("Database or provider unavailable"),
}


_EXTRA = {
    409: "The account connector's state forbids the call",
    502: "The provider's API could not be reached",
}


def errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    """The standard error responses, plus e.g. 409 for calls that depend on credential state."""
    out = dict(ERRORS)
    for status in extra:
        out[status] = _err(_EXTRA.get(status, "Error"))
    return out


def body_doc(model: type[BaseModel], *, required: bool = False) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its body itself (lenient JSON, any key case)."""
    _MODELS[model.__name__] = model
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def documented_models() -> dict[str, type[BaseModel]]:
    return dict(_MODELS)


def ok(data: Any, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
