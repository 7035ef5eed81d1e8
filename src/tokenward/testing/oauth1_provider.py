"""An OAuth 1.0a provider double: ``oauthlib``'s ``WebApplicationServer`` (RFC 5849, three-legged)
served on a real loopback socket, for testing code that speaks OAuth 1.0a over real HTTP::

    with OAuth1ProviderDouble(Consumer1(callback=redirect_uri)) as provider:
        ...  # point the code under test at provider.url
        assert provider.requests_to("/oauth/access_token")

Routes: ``POST /oauth/request_token`` (temporary credentials, §2.1), ``GET /oauth/authorize``
(a sign-in form) and ``POST /oauth/authorize`` (its submission: a 302 to the callback with
``oauth_token`` and ``oauth_verifier``, §2.2), ``POST /oauth/access_token`` (§2.3), and a
protected resource ``/api/…`` (any method) that verifies the signature (§3.2) and answers what
it saw as JSON. Every request is recorded. Needs ``oauthlib`` (a development dependency).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from html import escape
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from oauthlib.oauth1 import WebApplicationServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tokenward.testing.loopback import LoopbackServer
from tokenward.testing.oauth1_validator import Consumer1, OAuth1State, Validator
from tokenward.testing.provider_records import RecordedRequest

__all__ = ["Consumer1", "OAuth1ProviderDouble", "oauth1_provider_fixture"]

_FORM = "application/x-www-form-urlencoded"
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OAuth 1.0a double: authorize</title></head>
<body><h1>Authorize the application</h1>{error}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="oauth_token" value="{token}">
<p><label>Username <input name="username" id="username"></label></p>
<p><label>Password <input name="password" id="password" type="password"></label></p>
<p><button type="submit" id="approve">Authorize</button></p>
</form></body></html>
"""

Handler = Callable[[Request, bytes], Awaitable[Response]]


def _answer(headers: Mapping[str, str], body: str | None, status: int) -> Response:
    return Response(body or "", status, headers=dict(headers))


class _App:
    """The routes over one :class:`OAuth1State`."""

    def __init__(self, state: OAuth1State, records: list[RecordedRequest]) -> None:
        self.state = state
        self.records = records
        self.server = WebApplicationServer(Validator(state))

    def recorded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            content_type = request.headers.get("content-type", "")
            form = dict(parse_qsl(body.decode(errors="replace"))) if _FORM in content_type else {}
            headers = {k.lower(): v for k, v in request.headers.items()}
            record = RecordedRequest(
                request.method,
                request.url.path,
                dict(request.query_params),
                headers,
                form,
                None,
                time.monotonic(),
                body,
            )
            with self.state.lock:
                self.records.append(record)
            return await handler(request, body)

        return endpoint

    @staticmethod
    def _parts(request: Request, body: bytes) -> tuple[str, str, str, dict[str, str]]:
        return (
            str(request.url),
            request.method,
            body.decode(errors="replace"),
            dict(request.headers),
        )

    async def request_token(self, request: Request, body: bytes) -> Response:
        headers, text, status = self.server.create_request_token_response(
            *self._parts(request, body)
        )
        if status == 200 and not self.state.confirm_callback:
            pairs = parse_qsl(text or "")
            text = "&".join(f"{k}={v}" for k, v in pairs if k != "oauth_callback_confirmed")
        return _answer(headers, text, status)

    async def authorize_page(self, request: Request, body: bytes) -> Response:
        token = request.query_params.get("oauth_token", "")
        return HTMLResponse(_PAGE.format(error="", token=escape(token)))

    async def authorize(self, request: Request, body: bytes) -> Response:
        form = dict(parse_qsl(body.decode(errors="replace")))
        token, user = form.get("oauth_token", ""), form.get("username", "")
        if self.state.users.get(user) != form.get("password") or not user:
            page = _PAGE.format(
                error='<p id="error">Wrong username or password.</p>', token=escape(token)
            )
            return HTMLResponse(page, 200)
        with self.state.lock:
            pending = self.state.temporary.get(token)
            if pending is None:
                return HTMLResponse("<p>Unknown or used request token.</p>", 400)
            pending.user = user
        uri = f"{request.url.scheme}://{request.url.netloc}/oauth/authorize?oauth_token={token}"
        headers, text, status = self.server.create_authorization_response(uri, "GET")
        return _answer(headers, text, status)

    async def access_token(self, request: Request, body: bytes) -> Response:
        return _answer(*self.server.create_access_token_response(*self._parts(request, body)))

    async def api(self, request: Request, body: bytes) -> Response:
        valid, checked = self.server.validate_protected_resource_request(
            *self._parts(request, body)
        )
        if not valid:
            return JSONResponse(
                {"error": "invalid_signature"}, 401, headers={"WWW-Authenticate": "OAuth"}
            )
        seen = {
            "user": checked.user,
            "method": request.method,
            "path": request.url.path,
            "query": sorted(request.query_params.multi_items()),
            "body": body.decode(errors="replace"),
        }
        return JSONResponse(seen)

    def build(self) -> Starlette:
        any_method = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        routes = [
            Route("/oauth/request_token", self.recorded(self.request_token), methods=["POST"]),
            Route("/oauth/authorize", self.recorded(self.authorize_page), methods=["GET"]),
            Route("/oauth/authorize", self.recorded(self.authorize), methods=["POST"]),
            Route("/oauth/access_token", self.recorded(self.access_token), methods=["POST"]),
            Route("/api/{rest:path}", self.recorded(self.api), methods=any_method),
        ]
        return Starlette(routes=routes)


class OAuth1ProviderDouble:
    """One running OAuth 1.0a provider double; use it as a context manager."""

    def __init__(
        self,
        consumer: Consumer1 | None = None,
        *,
        users: Mapping[str, str] | None = None,
        confirm_callback: bool = True,
    ) -> None:
        self.state = OAuth1State(
            consumer=consumer or Consumer1(),
            users=dict(users if users is not None else {"alice": "wonderland"}),
            confirm_callback=confirm_callback,
        )
        self._records: list[RecordedRequest] = []
        self._server = LoopbackServer(_App(self.state, self._records).build(), "oauth1-double")

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def consumer(self) -> Consumer1:
        return self.state.consumer

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in order."""
        with self.state.lock:
            return list(self._records)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def access_tokens(self) -> dict[str, str]:
        """Issued access tokens → the user each was issued for."""
        with self.state.lock:
            return {token: found.user for token, found in self.state.access.items()}

    def start(self) -> OAuth1ProviderDouble:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OAuth1ProviderDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def oauth1_provider_fixture(**options: Any) -> Any:
    """A function-scoped pytest fixture yielding a running :class:`OAuth1ProviderDouble`."""
    import pytest

    @pytest.fixture
    def _provider() -> Iterator[OAuth1ProviderDouble]:
        with OAuth1ProviderDouble(**options) as provider:
            yield provider

    return _provider
