"""The outbound transport over real loopback sockets: OAuth requests built by the sans-IO engine
round-trip to the provider double; timeouts, resets, redirects, oversized answers and forbidden
destinations end in a TransportError (T-07, P-02, P-03, R-07). Only loopback traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from oauth_calls import code_tokens, pkce_pair

from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import TransportError
from tokenward.oauth.requests import (
    HttpRequest,
    authorization_url,
    token_request_client_credentials,
    token_request_refresh,
)
from tokenward.oauth.responses import parse_token_response
from tokenward.outbound.transport import Transport
from tokenward.testing import Failure, ProviderDouble, provider_fixture

provider = provider_fixture()
LIMIT = 4096
LANDED = web.AppKey("landed", list[str])


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    sender = Transport(allow_insecure_http=True, max_body_bytes=LIMIT)
    yield sender
    await sender.aclose()


@pytest.fixture
async def local() -> AsyncIterator[TestServer]:
    """A tiny loopback server for what the double does not do: redirects, oversized answers."""
    app = web.Application()
    app[LANDED] = []
    app.router.add_get("/moved", _moved)
    app.router.add_get("/landing", _landing)
    app.router.add_get("/big", _big_streamed)
    app.router.add_get("/big-declared", _big_declared)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def _moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/landing")


async def _landing(request: web.Request) -> web.Response:
    request.app[LANDED].append(request.path)
    return web.Response(text="landed")


async def _big_streamed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()  # chunked: no Content-Length to check up front
    await response.prepare(request)
    for _ in range(LIMIT // 1024 + 1):
        await response.write(b"x" * 1024)
    await response.write_eof()
    return response


async def _big_declared(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * (LIMIT + 1))


def _auth(provider: ProviderDouble, **knobs: Any) -> OAuth2Auth:
    base = {
        "Id": "6f1c2a52-0d2e-4c8e-9a59-3d7c0b4b5c11",
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "AuthoriseUrl": f"{provider.url}/authorize",
        "AccessTokenUrl": f"{provider.url}/token",
        "Scopes": ["read", "write"],
    }
    return OAuth2Auth.model_validate(base | knobs)


def _client_credentials(provider: ProviderDouble) -> HttpRequest:
    client = provider.client
    return token_request_client_credentials(
        _auth(provider), client_id=client.client_id, client_secret=client.client_secret
    )


def _refresh(provider: ProviderDouble, token: str) -> HttpRequest:
    client = provider.client
    return token_request_refresh(
        _auth(provider),
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=token,
    )


def _get(url: str) -> HttpRequest:
    return HttpRequest("GET", url, MappingProxyType({}))


async def test_t07_token_request_round_trips_through_the_double(
    provider: ProviderDouble, transport: Transport
) -> None:
    """A client-credentials request built sans-IO is sent and its answer parses to a TokenSet."""
    answer = await transport.send(_client_credentials(provider), timeout=5)
    tokens = parse_token_response(
        answer.status,
        answer.headers,
        answer.body,
        now=datetime.now(UTC),
        default_expires_in=None,
        previous_refresh_token=None,
    )
    assert answer.status == 200
    assert tokens.access_token
    assert tokens.token_type.lower() == "bearer"
    assert provider.requests_to("/token")[-1].headers["authorization"].startswith("Basic ")


async def test_r07_delay_beyond_the_timeout_is_a_timeout_after_sending(
    provider: ProviderDouble, transport: Transport
) -> None:
    """A provider slower than the timeout → kind=timeout, sent=True: the grant may have run."""
    provider.fail_next(Failure.delay(2.0))
    with pytest.raises(TransportError) as caught:
        await transport.send(_client_credentials(provider), timeout=0.3)
    assert (caught.value.kind, caught.value.sent) == ("timeout", True)
    assert len(provider.requests_to("/token")) == 1


async def test_r07_dropped_answer_after_rotation_is_a_reset_after_sending(
    provider: ProviderDouble, transport: Transport
) -> None:
    """The double rotates then drops the connection → kind=reset, sent=True; no secret leaks."""
    token = code_tokens(provider)["refresh_token"]
    provider.fail_next(Failure.drop_after_rotate())
    with pytest.raises(TransportError) as caught:
        await transport.send(_refresh(provider, token), timeout=5)
    assert (caught.value.kind, caught.value.sent) == ("reset", True)
    assert provider.refresh_count == 1  # the rotation happened; only its answer was lost
    assert token not in str(caught.value)
    assert provider.client.client_secret not in str(caught.value)


async def test_t07_plain_http_to_loopback_is_refused_without_the_flag(
    provider: ProviderDouble,
) -> None:
    """Without allow_insecure_http an http:// token endpoint is refused and nothing is sent."""
    strict = Transport()
    with pytest.raises(TransportError) as caught:
        await strict.send(_client_credentials(provider), timeout=5)
    await strict.aclose()
    assert (caught.value.kind, caught.value.sent) == ("refused_destination", False)
    assert provider.requests == []


async def test_t07_plain_http_to_a_public_name_is_refused_even_with_the_flag(
    transport: Transport,
) -> None:
    """The flag allows http to loopback only: http://example.com is still refused."""
    with pytest.raises(TransportError) as caught:
        await transport.send(_get("http://example.com/token"), timeout=5)
    assert caught.value.kind == "refused_destination"


async def test_p02_the_doubles_authorize_302_is_not_followed(
    provider: ProviderDouble, transport: Transport
) -> None:
    """GET /authorize answers 302; the transport hands it back with its Location."""
    _, challenge = pkce_pair()
    client = provider.client
    url = authorization_url(
        _auth(provider),
        client_id=client.client_id,
        redirect_uri=client.redirect_uri,
        state="st-1",
        code_challenge=challenge,
    )
    answer = await transport.send(_get(url), timeout=5)
    assert answer.status == 302
    assert answer.headers["Location"].startswith(client.redirect_uri)


async def test_p02_a_redirect_is_never_followed(local: TestServer, transport: Transport) -> None:
    """A 302 from a local server is returned as is; its target is never requested."""
    answer = await transport.send(_get(str(local.make_url("/moved"))), timeout=5)
    assert answer.status == 302
    assert answer.headers["Location"] == "/landing"
    assert local.app is not None
    assert local.app[LANDED] == []


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
async def test_t07_an_oversized_answer_is_refused(
    local: TestServer, transport: Transport, path: str
) -> None:
    """A body over the cap (streamed or declared) → kind=too_large, sent=True."""
    with pytest.raises(TransportError) as caught:
        await transport.send(_get(str(local.make_url(path))), timeout=5)
    assert (caught.value.kind, caught.value.sent) == ("too_large", True)


@pytest.fixture
async def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every resolution or socket connection the running loop is asked for."""
    loop = asyncio.get_running_loop()
    calls: list[str] = []
    for name in ("getaddrinfo", "create_connection", "sock_connect"):
        original = getattr(loop, name)

        async def spy(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            calls.append(_name)
            return await _original(*args, **kw)

        monkeypatch.setattr(loop, name, spy)
    return calls


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/token",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[fd00::1]/token",  # unique-local
        "https://127.0.0.1/token",  # loopback
        "https://[::ffff:10.0.0.1]/token",  # IPv4-mapped private
    ],
)
async def test_p03_internal_literal_addresses_are_refused_before_any_connection(
    connections: list[str], url: str
) -> None:
    """Without the flag an internal address is refused with no resolution and no connection."""
    strict = Transport()
    with pytest.raises(TransportError) as caught:
        await strict.send(_get(url), timeout=5)
    await strict.aclose()
    assert (caught.value.kind, caught.value.sent) == ("refused_destination", False)
    assert connections == []


async def test_p03_a_name_resolving_to_loopback_is_refused_before_connecting(
    connections: list[str],
) -> None:
    """``localhost`` is resolved by our resolver, its 127.0.0.1 refused; no socket connects."""
    strict = Transport()
    with pytest.raises(TransportError) as caught:
        await strict.send(_get("https://localhost/token"), timeout=5)
    await strict.aclose()
    assert (caught.value.kind, caught.value.sent) == ("refused_destination", False)
    assert connections == ["getaddrinfo"]


@pytest.mark.parametrize(("fresh", "connections"), [(False, 1), (True, 3)])
async def test_r07_token_requests_never_ride_a_pooled_connection(
    transport: Transport, fresh: bool, connections: int
) -> None:
    """A pooled keep-alive connection the server has just closed fails *after* sending, which
    looks like a lost answer; token requests therefore open a connection of their own."""
    peers: set[int] = set()

    async def answer(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        peers.add(peer[1] if peer else 0)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ok", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        request = HttpRequest("GET", str(server.make_url("/ok")), MappingProxyType({}))
        for _ in range(3):
            sent = await transport.send(request, timeout=5, fresh_connection=fresh)
            assert sent.status == 200
    finally:
        await server.close()
    assert len(peers) == connections
