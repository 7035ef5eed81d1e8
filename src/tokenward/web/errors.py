"""Exception classes to HTTP statuses, in one table; every error body is ``{"Message", "Code"}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tokenward.errors import (
    CredentialCorrupted,
    Forbidden,
    IdempotencyMismatch,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ProviderUnavailable,
    RateLimited,
    ServiceError,
    StateConflict,
    StoreError,
    Unauthenticated,
    UpstreamError,
)

__all__ = ["STATUS", "error_response", "install_error_handlers"]

log = logging.getLogger("tokenward.web")

STATUS: dict[type[ServiceError], int] = {
    InvalidRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    StateConflict: 409,
    PayloadTooLarge: 413,
    IdempotencyMismatch: 422,
    RateLimited: 429,
    UpstreamError: 502,
    ProviderUnavailable: 503,
}

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"Message": message, "Code": code}, status_code=status, headers=headers)


def _status_of(exc: ServiceError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    status = _status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(status, exc.message, exc.code, headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in {"path", "query", "body"})
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return error_response(400, "; ".join(parts) or "The request is invalid.", "invalid_request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and request.url.path.startswith("/v1.0/"):
        # A caller without a valid token learns nothing but 401, not even which partner API
        # paths exist (the same rule as for matched routes).
        from tokenward.web.deps import principal

        try:
            await principal(request)
        except ServiceError as refused:
            return await _service_error(request, refused)
    message = {
        404: "No HTTP resource was found that matches the request URI.",
        405: "The requested resource does not support this HTTP method.",
    }.get(exc.status_code, str(exc.detail))
    return error_response(
        exc.status_code, message, _HTTP_CODES.get(exc.status_code, "error"), dict(exc.headers or {})
    )


async def _corrupted(_request: Request, _exc: Exception) -> JSONResponse:
    log.error("credential_corrupted", extra={"event": "credential_corrupted"})
    return error_response(
        409,
        "A stored credential could not be decrypted (credential "
        "corrupted); it is not served. Re-authenticate the connector.",
        "credential_corrupted",
    )


async def _store_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("store_error: %s", exc)
    return error_response(
        503, "The database is unavailable; try again.", "store_unavailable", {"Retry-After": "5"}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(CredentialCorrupted, _corrupted)
    app.add_exception_handler(StoreError, _store_error)
