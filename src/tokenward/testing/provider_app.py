"""The provider double's HTTP face: a Starlette app speaking OAuth 2.0 on top of
``ProviderState`` (which holds the rules).

Every request is recorded first, then a queued ``Failure`` for its path is applied, then the
endpoint runs. Client authentication lives in ``provider_client_auth``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tokenward.testing.provider_behaviour import Failure, RegisteredClient
from tokenward.testing.provider_client_auth import authenticate
from tokenward.testing.provider_metadata import metadata
from tokenward.testing.provider_records import RecordedRequest, Refused
from tokenward.testing.provider_state import ProviderState

__all__ = ["build_app"]

Handler = Callable[[Request, dict[str, str]], Response]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _Dropped(Response):
    """Aborts the TCP connection without sending a byte, so the client cannot tell whether the
    request was processed. Needs uvicorn's receive channel (which knows the transport); under
    an in-process test client it raises instead, which such clients also surface as an error."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is None:
            raise ConnectionAbortedError("the provider double dropped the response")
        transport.abort()
        await receive()  # returns http.disconnect once uvicorn saw the connection go


def _error(refused: Refused) -> Response:
    body = {"error": refused.error, "error_description": refused.description}
    headers = dict(_NO_STORE)
    if refused.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="provider-double"'
    return JSONResponse(body, status_code=refused.status, headers=headers)


async def _read(request: Request) -> tuple[dict[str, str], Any, bool]:
    """Parameters of a request (query for GET, JSON or form body otherwise), the parsed JSON
    if any, and whether the request is malformed: a parameter repeated (RFC 6749 §3.2 forbids
    it) or a JSON body that is not an object."""
    if request.method == "GET":
        pairs = list(request.query_params.multi_items())
        return dict(pairs), None, len(pairs) != len(dict(pairs))
    body = await request.body()
    if "json" in request.headers.get("content-type", ""):
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return {}, body.decode(errors="replace"), True
        if not isinstance(document, dict):
            return {}, document, True
        params = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
        return params, document, False
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    return dict(pairs), None, len(pairs) != len(dict(pairs))


def _canned(failure: Failure) -> Response | None:
    headers = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
    if failure.kind == "http":
        return PlainTextResponse("canned failure", failure.status, headers=headers)
    if failure.kind == "oauth_error":
        body = {"error": failure.error, "error_description": "canned failure"}
        return JSONResponse(body, failure.status, headers={**headers, **_NO_STORE})
    return None


def guarded(state: ProviderState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that records the request, applies a queued failure, then runs ``handler``."""

    async def endpoint(request: Request) -> Response:
        params, document, malformed = await _read(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        form = {} if request.method == "GET" or document is not None else params
        query = dict(request.query_params)
        path = request.url.path
        raw = await request.body()  # already read by _read; Starlette keeps it
        state.record(
            RecordedRequest(
                request.method, path, query, headers, form, document, time.monotonic(), raw
            )
        )
        failure = state.take_failure(path)
        canned = None if failure is None else _canned(failure)
        if canned is not None:
            return canned
        if failure is not None and failure.kind == "delay":
            await asyncio.sleep(failure.seconds)
        try:
            if malformed:
                raise Refused("invalid_request", "repeated parameter or malformed JSON body")
            response = handler(request, params)
        except Refused as refused:
            response = _error(refused)
        if failure is not None and failure.kind == "drop_after_rotate":
            return _Dropped()
        if failure is not None and failure.kind == "stall_after_rotate":
            await asyncio.sleep(failure.seconds)
        return response

    return endpoint


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


_LOGIN_FIELDS = frozenset({"username", "password", "action"})
_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provider double: sign in</title></head>
<body>
<h1>Sign in to the provider double</h1>
{error}<form method="post" action="/authorize">
{hidden}<p><label>Username <input name="username" id="username" autocomplete="off"></label></p>
<p><label>Password <input name="password" id="password" type="password"></label></p>
<p><button type="submit" name="action" value="login" id="login">Sign in</button>
<button type="submit" name="action" value="deny" id="deny">Cancel</button></p>
</form>
</body></html>
"""


def _login_page(params: Mapping[str, str], error: str | None = None) -> Response:
    """The double's sign-in form: the authorization parameters ride along as hidden fields."""
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">\n'
        for k, v in params.items()
        if k not in _LOGIN_FIELDS
    )
    notice = f'<p id="error" role="alert">{escape(error)}</p>\n' if error else ""
    html = _LOGIN_PAGE.format(error=notice, hidden=hidden)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


class _Endpoints:
    """The endpoint bodies; each is short and delegates the rules to ``ProviderState``."""

    def __init__(self, state: ProviderState, base_url: str) -> None:
        self.state, self.base_url = state, base_url

    @property
    def issuer(self) -> str:
        return self.state.behaviour.issuer_override or self.base_url

    def authorize(self, request: Request, params: dict[str, str]) -> Response:
        behaviour = self.state.behaviour
        if "request_uri" in params and (behaviour.enable_par or behaviour.require_par):
            params = self.state.pull(params["request_uri"], params.get("client_id", ""))
        elif behaviour.require_par:
            raise Refused("invalid_request", "pushed authorization request required")
        client = self._client(params)
        if behaviour.login_form:
            # the pushed parameters (if any) are resolved now and travel in the form
            return _login_page(params)
        return self._back(client, params, self._authorization_answer(client.client_id, params))

    def sign_in(self, request: Request, params: dict[str, str]) -> Response:
        """``POST /authorize``: the login form submitted (``ProviderBehaviour.login_form``)."""
        if not self.state.behaviour.login_form:
            return PlainTextResponse("the login form is not enabled", 405)
        fields = {k: v for k, v in params.items() if k not in _LOGIN_FIELDS}
        client = self._client(fields)
        if params.get("action") == "deny":
            return self._back(client, fields, {"error": "access_denied"})
        username = params.get("username", "")
        if not self.state.signs_in(username, params.get("password", "")):
            return _login_page(fields, error="Wrong username or password.")
        answer = self._authorization_answer(client.client_id, fields, username)
        return self._back(client, fields, answer)

    def _client(self, params: Mapping[str, str]) -> RegisteredClient:
        client = self.state.clients.get(params.get("client_id", ""))
        if client is None or params.get("redirect_uri") != client.redirect_uri:
            # never redirect to an unverified URI (RFC 6749 §4.1.2.1)
            raise Refused("invalid_request", "unknown client_id or unregistered redirect_uri")
        return client

    def _back(
        self, client: RegisteredClient, params: Mapping[str, str], answer: dict[str, str]
    ) -> Response:
        """The redirect to the client with the authorization response (RFC 6749 §4.1.2)."""
        if "state" in params:
            answer["state"] = params["state"]
        if self.state.behaviour.send_iss:
            answer["iss"] = self.issuer
        return RedirectResponse(_with_query(client.redirect_uri, answer), status_code=302)

    def _authorization_answer(
        self, client_id: str, params: Mapping[str, str], subject: str = "alice"
    ) -> dict[str, str]:
        if params.get("response_type") != "code":
            return {"error": "unsupported_response_type"}
        if self.state.behaviour.deny_authorization:
            return {"error": "access_denied"}
        try:
            code = self.state.issue_code(client_id, params, subject)
        except Refused as refused:
            return {"error": refused.error, "error_description": refused.description}
        behaviour = self.state.behaviour
        answer = {} if behaviour.omit_code else {behaviour.code_param: code}
        return {**answer, **behaviour.callback_extras}

    def par(self, request: Request, params: dict[str, str]) -> Response:
        behaviour = self.state.behaviour
        if not (behaviour.enable_par or behaviour.require_par):
            return PlainTextResponse("PAR is not enabled", 404)
        client_id = authenticate(self.state, request, params)
        if "request_uri" in params:
            raise Refused("invalid_request", "request_uri is not allowed in a pushed request")
        if params.get("redirect_uri") != self.state.clients[client_id].redirect_uri:
            raise Refused("invalid_request", "unregistered redirect_uri")
        if behaviour.require_pkce and "code_challenge" not in params:
            raise Refused("invalid_request", "code_challenge required")
        pushed = {k: v for k, v in params.items() if k != "client_secret"}
        uri = self.state.push({**pushed, "client_id": client_id})
        return JSONResponse({"request_uri": uri, "expires_in": 60}, 201, headers=_NO_STORE)

    def token(self, request: Request, params: dict[str, str]) -> Response:
        if "client_secret" in request.query_params:
            raise Refused("invalid_request", "client_secret in the query string")
        client_id = authenticate(self.state, request, params)
        grant_type = params.get("grant_type")
        refresh_path = self.state.behaviour.refresh_path
        if grant_type == "refresh_token" and (refresh_path or "/token") != request.url.path:
            raise Refused("unsupported_grant_type", "refresh at the refresh endpoint")
        if grant_type == "authorization_code":
            answer = self.state.exchange_code(client_id, params)
        elif grant_type == "refresh_token":
            answer = self.state.refresh(client_id, params)
        elif grant_type == "client_credentials":
            answer = self.state.client_credentials(client_id, params.get("scope", ""))
        elif grant_type == "password":
            answer = self.state.password(client_id, params)
        else:
            raise Refused("unsupported_grant_type", f"grant_type {grant_type!r}")
        return JSONResponse(answer, headers=_NO_STORE)

    def revoke(self, request: Request, params: dict[str, str]) -> Response:
        client_id = authenticate(self.state, request, params)
        if not params.get("token"):
            raise Refused("invalid_request", "token is required")
        self.state.revoke(client_id, params["token"])
        return Response(status_code=200)

    def metadata(self, request: Request, params: dict[str, str]) -> Response:
        return JSONResponse(metadata(self.base_url, self.issuer, self.state.behaviour))

    def me(self, request: Request, params: dict[str, str]) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            challenge = 'Bearer realm="provider-double"'
            return JSONResponse({"error": "unauthorized"}, 401, {"WWW-Authenticate": challenge})
        owner = self.state.resource_owner(token.strip())
        if owner is None:
            challenge = 'Bearer realm="provider-double", error="invalid_token"'
            return JSONResponse({"error": "invalid_token"}, 401, {"WWW-Authenticate": challenge})
        return JSONResponse(owner)

    def document(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /api/doc/{name}``: ``behaviour.api_documents[name]`` to a valid access token
        under any scheme (``Bearer``, ``OAuth``…): tenant lists, metadata, userinfo."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        if self.state.resource_owner(token.strip()) is None:
            return JSONResponse({"error": "invalid_token"}, 401)
        name = request.path_params["name"]
        documents = self.state.behaviour.api_documents
        if name not in documents:
            return JSONResponse({"error": "not_found"}, 404)
        return JSONResponse(documents[name])

    def echo(self, request: Request, params: dict[str, str]) -> Response:
        """Any method on ``/api/echo/…``, no authentication: what arrived, as JSON (the raw
        body is in the request record)."""
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "params": params,
            },
            headers={"Set-Cookie": "provider-session=1", "Cache-Control": "max-age=60"},
        )

    def redirect(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /api/redirect?to=URL``: a 302 to ``to`` (clients must not follow it, P-02)."""
        return RedirectResponse(request.query_params.get("to", "/"), status_code=302)


_ECHO_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def build_app(state: ProviderState, base_url: str) -> Starlette:
    """The ASGI app of a provider double whose public address is ``base_url``."""
    ends = _Endpoints(state, base_url)
    table: list[tuple[str, str, Handler]] = [
        ("/authorize", "GET", ends.authorize),
        ("/authorize", "POST", ends.sign_in),
        ("/par", "POST", ends.par),
        ("/token", "POST", ends.token),
        ("/refresh", "POST", ends.token),
        ("/api/doc/{name}", "GET", ends.document),
        ("/revoke", "POST", ends.revoke),
        ("/.well-known/oauth-authorization-server", "GET", ends.metadata),
        ("/api/me", "GET", ends.me),
        ("/api/redirect", "GET", ends.redirect),
        *(("/api/echo/{rest:path}", verb, ends.echo) for verb in _ECHO_METHODS),
    ]
    routes = [Route(path, guarded(state, fn), methods=[verb]) for path, verb, fn in table]
    return Starlette(routes=routes)
