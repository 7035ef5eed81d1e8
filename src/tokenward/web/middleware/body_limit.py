"""The request body limit, and URLs no store can hold, refused before the route runs."""

from __future__ import annotations

from tokenward.web.middleware._asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    error_body,
    send_json,
)

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """Bodies over ``limit`` bytes get 413 before the route runs."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
        await send_json(
            send,
            413,
            error_body(f"The request body is larger than {self.limit} bytes.", "payload_too_large"),
        )
