"""Pure ASGI middleware: security headers, body limit, access log and metrics, idempotency."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.concurrency import run_in_threadpool

from tokenward.errors import ServiceError
from tokenward.services import idempotency
from tokenward.services.api_clients import authenticate_bearer
from tokenward.services.context import ServiceContext

__all__ = [
    "AccessLogMiddleware",
    "BodyLimitMiddleware",
    "IdempotencyMiddleware",
    "SecurityHeadersMiddleware",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("tokenward.access")


def _error_body(message: str, code: str) -> bytes:
    return json.dumps({"Message": message, "Code": code}).encode()


async def _send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """``nosniff`` on every response; ``no-store`` on API responses, which may carry secrets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        no_store = path.startswith(("/v1.0", "/oauth", "/connectorauth", "/connector", "/account"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if no_store and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimitMiddleware:
    """Bodies over ``limit`` bytes get 413 before the route runs."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _unstorable(scope["path"]) or _unstorable(
            unquote(scope.get("query_string", b"").decode("latin-1"), errors="surrogateescape")
        ):
            await _send_json(
                send,
                400,
                _error_body(
                    "The URL contains characters that are not allowed (NUL or invalid Unicode).",
                    "invalid_text",
                ),
            )
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        scope.setdefault("state", {})["raw_body"] = body
        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _send_json(
            send,
            413,
            _error_body(
                f"The request body is larger than {self.limit} bytes.", "payload_too_large"
            ),
        )


class AccessLogMiddleware:
    """One structured line per request, without the query string (it may hold a sign-in token),
    plus Prometheus request metrics."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "tokenward_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tokenward_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.requests.labels(scope["method"], template, str(status)).inc()
            self.latency.labels(scope["method"], template).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )


class IdempotencyMiddleware:
    """``Idempotency-Key`` on every POST under ``/v1.0`` (SECURITY.md R-12)."""

    def __init__(self, app: ASGIApp, ctx: Callable[[], ServiceContext]) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or key is None
            or not scope["path"].startswith("/v1.0/")
        ):
            await self.app(scope, receive, send)
            return
        ctx = self.ctx()
        client = await self._client_id(ctx, scope)
        if client is None:  # let the route answer 401
            await self.app(scope, receive, send)
            return
        body: bytes = scope.get("state", {}).get("raw_body", b"")
        digest = idempotency.request_hash("POST", scope["path"], body)
        # The account header selects the account the POST acts on: part of the scope.
        account = _header(scope, b"x-cyclr-account") or ""
        scope_key = f"{client}|{account}"
        try:
            replay = await run_in_threadpool(idempotency.begin, ctx, scope_key, key, digest)
        except ServiceError as exc:
            status = {"invalid_idempotency_key": 400, "idempotency_in_progress": 409}.get(
                exc.code, 422
            )
            await _send_json(send, status, _error_body(exc.message, exc.code))
            return
        if replay is not None:
            await _send_json(
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
        header = _header(scope, b"authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            principal = await run_in_threadpool(authenticate_bearer, ctx, token.strip())
        except ServiceError:
            return None
        return principal.client_id


def _unstorable(text: str) -> bool:
    """NUL and lone surrogates fit in no database column and no response: refuse them early."""
    return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
