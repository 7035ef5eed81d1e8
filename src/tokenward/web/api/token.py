"""``POST /oauth/token``: bearer tokens for the partner API (Cyclr's shapes, RFC 6749 errors)."""

from __future__ import annotations

import base64
import binascii
from email.utils import format_datetime
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tokenward.errors import InvalidRequest, ServiceError, Unauthenticated
from tokenward.services import api_clients
from tokenward.services.api_clients import IssuedToken
from tokenward.services.context import ServiceContext
from tokenward.web.deps import context, run

__all__ = ["router"]

router = APIRouter(tags=["authentication"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the RFC 6749 token type, not a secret
    expires_in: int
    clientId: str
    issued: str = Field(alias=".issued")
    expires: str = Field(alias=".expires")
    refresh_token: str | None = None
    userName: str | None = None


class OAuthErrorOut(BaseModel):
    error: str
    error_description: str


_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        name: {"type": "string"}
                        for name in (
                            "grant_type",
                            "client_id",
                            "client_secret",
                            "scope",
                            "username",
                            "password",
                            "refresh_token",
                        )
                    },
                }
            }
        },
    }
}


# RFC 6749 §5.2 error codes that services raise as InvalidRequest codes.
_OAUTH_ERRORS = {"invalid_grant", "invalid_scope", "unsupported_grant_type"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="tokenward"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    # RFC 6749 §2.3.1: each part is form-urlencoded before base64.
    return unquote_plus(user), unquote_plus(password)


def _present(token: IssuedToken) -> JSONResponse:
    body: dict[str, object] = {
        "access_token": token.access_token,
        "token_type": "bearer",
        "expires_in": token.expires_in,
        "clientId": token.client_id,
        ".issued": format_datetime(token.issued_utc, usegmt=True),
        ".expires": format_datetime(token.expires_utc, usegmt=True),
    }
    if token.refresh_token:
        body["refresh_token"] = token.refresh_token
        body["userName"] = token.username
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post(
    "/oauth/token",
    summary="Get a bearer token",
    openapi_extra=_FORM,
    responses={
        200: {"model": TokenOut},
        400: {"model": OAuthErrorOut},
        401: {"model": OAuthErrorOut},
        413: {"description": "Body over 1 MiB"},
        422: {"description": "Idempotency-Key reused"},
    },
)
async def token(request: Request) -> JSONResponse:
    try:
        form = await request.form()
    except Exception:
        return _oauth_error(400, "invalid_request", "The body must be form-urlencoded.")
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    basic = _basic(request)
    client_id = basic[0] if basic else fields.get("client_id", "")
    client_secret = basic[1] if basic else fields.get("client_secret")
    grant = fields.get("grant_type", "")
    ctx = context(request)
    try:
        issued = await _grant(ctx, grant, client_id, client_secret, fields)
    except Unauthenticated as exc:
        return _oauth_error(401, "invalid_client", exc.message)
    except InvalidRequest as exc:
        error = exc.code if exc.code in _OAUTH_ERRORS else "invalid_request"
        return _oauth_error(400, error, exc.message)
    except ServiceError as exc:
        return _oauth_error(400, "invalid_request", exc.message)
    return _present(issued)


async def _grant(
    ctx: ServiceContext,
    grant: str,
    client_id: str,
    client_secret: str | None,
    fields: dict[str, str],
) -> IssuedToken:
    if grant == "client_credentials":
        if not client_id or client_secret is None:
            raise Unauthenticated("Client credentials are required.", "invalid_client")
        return await run(
            api_clients.issue_client_credentials, ctx, client_id, client_secret, fields.get("scope")
        )
    if grant == "password":
        if not client_id or not fields.get("username") or not fields.get("password"):
            raise InvalidRequest(
                "client_id, username and password are required.", "invalid_request"
            )
        return await run(
            api_clients.issue_password_grant,
            ctx,
            client_id,
            client_secret,
            fields["username"],
            fields["password"],
        )
    if grant == "refresh_token":
        if not fields.get("refresh_token"):
            raise InvalidRequest("refresh_token is required.", "invalid_request")
        return await run(api_clients.issue_refresh_grant, ctx, fields["refresh_token"])
    raise InvalidRequest(
        "grant_type must be client_credentials, password or refresh_token.",
        "unsupported_grant_type",
    )
