"""A fast path for the partner API's hottest routes (the token read, ``GET …/{id}``, method
calls, the proxy).

FastAPI solves a route's dependencies and parameters on every request: for a token read that is
three dependency solves and a dozen parameter conversions, as much CPU as the read itself, plus
the router's walk over ~100 routes and Starlette's per-request wrappers. Such a route keeps its
normal signature (so OpenAPI, validation errors and every other behaviour stay exactly those of
FastAPI) and also names a *fast handler* (:func:`fast_path`): a coroutine given the request that
either answers it or returns None (input it does not handle itself, such as a value over a
declared length). A fast handler must authenticate first (:func:`tokenward.web.deps.principal`),
as the router-level dependency does.

:class:`FastLane`, the innermost middleware (inside every tokenward middleware: security
headers, access log, body limit, idempotency…), matches each request against the routes that
have a fast handler only and runs it straight away; service errors get the app's own exception
handlers, so the answer is the one the route would give. Anything the lane does not answer
continues down the normal stack to the route as FastAPI declares it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["FastHandler", "FastLane", "fast_path", "fast_routes"]

FastHandler = Callable[[Request], Awaitable[Response | None]]
F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__tokenward_fast_handler__"


def fast_path(handler: FastHandler) -> Callable[[F], F]:
    """Mark a route's endpoint with its fast handler (answered by :class:`FastLane`)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, handler)
        return endpoint

    return mark


def fast_routes(routers: Sequence[APIRouter]) -> list[tuple[APIRoute, FastHandler]]:
    """The routes of ``routers`` that have a fast handler, in order."""
    found = []
    for router in routers:
        for route in router.routes:
            fast = getattr(getattr(route, "endpoint", None), _ATTRIBUTE, None)
            if isinstance(route, APIRoute) and fast is not None:
                found.append((route, fast))
    return found


ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class FastLane:
    """The innermost middleware: answers requests for fast routes with their fast handler.

    The fast routes' paths are matched by no earlier route of the app (they are the only
    routes under ``/v1.0/account/connectors/{id}/token``, ``…/methods/…`` and ``…/proxy…``).
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[tuple[APIRoute, FastHandler]],
        handlers: Mapping[Any, ExceptionHandler],
    ) -> None:
        self.app = app
        self.routes = tuple(routes)
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route, fast in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    request = Request(scope, receive, send)
                    response = await self._answer(fast, request)
                    if response is not None:
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)

    async def _answer(self, fast: FastHandler, request: Request) -> Response | None:
        try:
            return await fast(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # the outer ServerErrorMiddleware answers 500, as for any route
            answer = handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer

    def _handler(self, exc: Exception) -> ExceptionHandler | None:
        for cls in type(exc).__mro__:
            if cls is not Exception and cls in self.handlers:
                return self.handlers[cls]
        return None
