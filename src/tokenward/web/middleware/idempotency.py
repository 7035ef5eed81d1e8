"""``Idempotency-Key`` replay for POSTs under ``/v1.0`` (SECURITY.md R-12).

The key is scoped to the calling API client (and, on account-level calls, the account header),
so one client's key never replays another's response. The service layer
(:mod:`tokenward.services.idempotency`) stores the reservation and the response; this middleware
replays a stored response or captures a new one.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from tokenward.errors import ServiceError
from tokenward.services import idempotency
from tokenward.services.api_clients import authenticate_bearer
from tokenward.services.context import ServiceContext
from tokenward.web.middleware._asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    error_body,
    header_value,
    send_json,
)

__all__ = ["IdempotencyMiddleware"]


class IdempotencyMiddleware:
    """``Idempotency-Key`` on every POST under ``/v1.0`` (SECURITY.md R-12)."""

    def __init__(self, app: ASGIApp, ctx: Callable[[], ServiceContext]) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (
            header_value(scope, b"idempotency-key")
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if key is None or not scope["path"].startswith("/v1.0/"):
            await self.app(scope, receive, send)
            return
        ctx = self.ctx()
        client = await self._client_id(ctx, scope)
        if client is None:  # let the route answer 401
            await self.app(scope, receive, send)
            return
        body: bytes = scope.get("state", {}).get("raw_body", b"")
        digest = idempotency.request_hash("POST", scope["path"], body)
        # On account-level calls the account header selects the account the POST acts on, so it
        # is part of the scope; partner-level calls ignore the header, and so does their scope.
        account = (
            (header_value(scope, b"x-cyclr-account") or "") if _account_level(scope["path"]) else ""
        )
        scope_key = f"{client}|{account}"
        try:
            replay = await run_in_threadpool(idempotency.begin, ctx, scope_key, key, digest)
        except ServiceError as exc:
            status = {"invalid_idempotency_key": 400, "idempotency_in_progress": 409}.get(
                exc.code, 422
            )
            await send_json(send, status, error_body(exc.message, exc.code))
            return
        if replay is not None:
            await send_json(
                send, replay.status_code, replay.body.encode(), [(b"idempotent-replayed", b"true")]
            )
            return
        await self._run_and_store(ctx, scope, receive, send, scope_key, key)

    async def _run_and_store(
        self,
        ctx: ServiceContext,
        scope: Scope,
        receive: Receive,
        send: Send,
        scope_key: str,
        key: str,
    ) -> None:
        status = 500
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            body = b"".join(chunks).decode("utf-8", "replace")
            await run_in_threadpool(idempotency.finish, ctx, scope_key, key, status, body)

    async def _client_id(self, ctx: ServiceContext, scope: Scope) -> str | None:
        header = header_value(scope, b"authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            principal = await run_in_threadpool(authenticate_bearer, ctx, token.strip())
        except ServiceError:
            return None
        return principal.client_id


def _account_level(path: str) -> bool:
    return path.startswith("/v1.0/account/") or (
        path.startswith("/v1.0/connectors/") and path.rstrip("/").endswith("/install")
    )
