"""``/v1.0/accounts/`` means ``/v1.0/accounts``: the path is rewritten instead of redirected.

A redirect would send API clients (which often do not follow them on POST) to an absolute URL
built from the Host header; rewriting answers the call where it was made.
"""

from __future__ import annotations

from tokenward.web.middleware._asgi import ASGIApp, Receive, Scope, Send

__all__ = ["TrailingSlashMiddleware"]


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
