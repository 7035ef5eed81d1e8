"""Helpers of the browser tests: tokenward served by uvicorn on a loopback port (a real http
origin), the provider double with its login form, the partner's host page served by a tiny HTTP
server on another origin, and Chromium's launch options.

Origins (a different port, or another host name, is another origin):

* the service: ``http://127.0.0.1:S`` (uvicorn in a thread);
* the provider double: ``http://127.0.0.1:P``;
* the partner's page: ``http://localhost:H`` (cross-site to the service: the usual partner) and
  ``http://127.0.0.1:H`` (same site, cross-origin), both in ``AllowedTargetOrigins``.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.runtime import Runtime, open_runtime
from tokenward.services import api_clients
from tokenward.settings import load_settings
from tokenward.testing import ProviderBehaviour, ProviderDouble, RegisteredClient
from tokenward.web.app import create_app

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CLIENT_SECRET",
    "CODE",
    "PASSWORD",
    "USERNAME",
    "HostServer",
    "Service",
    "query_of",
    "serve",
]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking switches Chromium's own connections (component updates,
# sync, QUIC probes) are refused on the build machines and slow every launch down.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

CODE = 9301  # an AuthorisationCode connector at the provider double
CLIENT_ID = "tokenward-client"
CLIENT_SECRET = "browser-s3cret: +%value"
USERNAME, PASSWORD = "alice", "wonderland"
ACCOUNT = "acme"

# The partner's page. Everything it receives is kept in ``window.received`` (and shown with
# textContent, never as markup); ``window.flowUrl`` is set by the test before a click.
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner app</title></head>
<body>
<h1>Partner app</h1>
<p>Here: <code id="here"></code></p>
<p><button id="popup">Connect in a popup</button>
<button id="frame">Connect in an iframe</button></p>
<p>Messages:</p>
<pre id="log"></pre>
<div id="slot"></div>
<script>
  window.received = [];
  var popup = null;
  var frame = null;
  window.addEventListener("message", function (event) {
    window.received.push({
      data: event.data,
      origin: event.origin,
      fromPopup: popup !== null && event.source === popup,
      fromFrame: frame !== null && event.source === frame.contentWindow
    });
    document.getElementById("log").textContent +=
      event.origin + " " + JSON.stringify(event.data) + "\\n";
  });
  document.getElementById("popup").addEventListener("click", function () {
    popup = window.open(window.flowUrl, "connect", "width=640,height=720");
  });
  document.getElementById("frame").addEventListener("click", function () {
    frame = document.createElement("iframe");
    frame.id = "flow";
    frame.width = "640";
    frame.height = "420";
    frame.src = window.flowUrl;
    document.getElementById("slot").appendChild(frame);
  });
  document.getElementById("here").textContent = location.href;
</script>
</body></html>
"""


class _HostHandler(BaseHTTPRequestHandler):
    """Any GET path answers the partner's page (the server's ``page``); ``?coop=1`` adds
    ``Cross-Origin-Opener-Policy: same-origin``."""

    server: _PageServer

    def do_GET(self) -> None:
        body = self.server.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if parse_qs(urlsplit(self.path).query).get("coop") == ["1"]:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


class _PageServer(ThreadingHTTPServer):
    page = HOST_PAGE


class HostServer:
    """The partner's web server on 127.0.0.1, reachable as two origins, answering ``page``
    (default: the webflow host page) on any path."""

    def __init__(self, page: str = HOST_PAGE) -> None:
        self._server = _PageServer(("127.0.0.1", 0), _HostHandler)
        self._server.page = page
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        #: cross-site to the service (another host name): the usual partner
        self.origin = f"http://localhost:{self.port}"
        #: same site as the service (another port): cookies of the service flow in an iframe
        self.same_site_origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="host-page", daemon=True
        )

    def __enter__(self) -> HostServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _catalog(provider_url: str) -> Catalog:
    auth = {
        "Id": "7a1f0f3e-0000-4000-8000-000000009301",
        "AuthName": "OAuth 2.0 AuthorisationCode",
        "AuthType": "OAuth2",
        "OAuth2Type": "AuthorisationCode",
        "AuthoriseUrl": f"{provider_url}/authorize",
        "AccessTokenUrl": f"{provider_url}/token",
        "Scopes": ["read", "write"],
    }
    connector = {
        "Id": CODE,
        "Name": "Browser test connector",
        "Version": "1.0",
        "BaseUrl": "https://api.example.com",
        "Parameters": [{"Name": "Region", "IsOptional": True}],
        "Authentication": [auth],
    }
    return Catalog([Connector.model_validate(connector)])


@dataclasses.dataclass
class Service:
    """tokenward on a real loopback origin, with a partner API client for the test."""

    url: str
    runtime: Runtime
    provider: ProviderDouble
    api: httpx.Client  # partner-level bearer token

    def install(self) -> int:
        """Install the test connector on the account; its account connector Id."""
        props = {"ClientId": CLIENT_ID, "ClientSecret": CLIENT_SECRET}
        body = {"Properties": [{"Name": k, "Value": v} for k, v in props.items()]}
        response = self.api.post(
            f"/v1.0/connectors/{CODE}/install", json=body, headers={"X-Cyclr-Account": ACCOUNT}
        )
        assert response.status_code == 200, response.text
        return int(response.json()["Id"])

    def signin_token(self) -> str:
        response = self.api.post(
            f"/v1.0/accounts/{ACCOUNT}/signintoken", json={"Username": USERNAME}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["Token"])

    def start_url(
        self,
        ac_id: int,
        target: str,
        message: str | None = None,
        error_message: str | None = None,
        *,
        token: str | None = None,
    ) -> str:
        """The webflow's start URL, every value URL-encoded (a fresh sign-in token)."""
        params = {"id": str(ac_id), "token": token or self.signin_token(), "targetOrigin": target}
        if message is not None:
            params["callbackMessage"] = message
        if error_message is not None:
            params["errorCallbackMessage"] = error_message
        return f"{self.url}/connectorauth/updateaccountconnectoroauth?{urlencode(params)}"

    def account_connector(self, ac_id: int) -> dict[str, Any]:
        response = self.api.get(
            f"/v1.0/account/connectors/{ac_id}", headers={"X-Cyclr-Account": ACCOUNT}
        )
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def _uvicorn(app: Any, sock: socket.socket) -> Iterator[None]:
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="tokenward", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("tokenward did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve(
    database_url: str, encryption_keys: str, data_dir: Path, host: HostServer
) -> Iterator[Service]:
    """tokenward on ``http://127.0.0.1:S``, the provider double (login form on) registered with
    its one redirect URI, an API client, a bearer token and the account ``acme``."""
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    registered = RegisteredClient(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=f"{url}/connector/callback"
    )
    settings = load_settings(
        database_url=database_url,
        encryption_keys=encryption_keys,
        data_dir=data_dir,
        service_url=url,
        allow_insecure_http=True,
        allowed_target_origins=f"{host.origin},{host.same_site_origin}",
    )
    with ProviderDouble(
        ProviderBehaviour(login_form=True), clients=[registered], users={USERNAME: PASSWORD}
    ) as provider:
        runtime = open_runtime(settings)
        try:
            runtime.ctx = dataclasses.replace(runtime.ctx, catalog=_catalog(provider.url))
            created, secret = api_clients.create_client(runtime.ctx, "browser-tests")
            with _uvicorn(create_app(settings, runtime=runtime), sock):
                issued = httpx.post(
                    f"{url}/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": created.client_id,
                        "client_secret": secret,
                    },
                )
                assert issued.status_code == 200, issued.text
                bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
                with httpx.Client(base_url=url, headers=bearer, timeout=10) as api:
                    made = api.post("/v1.0/accounts", json={"Id": ACCOUNT, "Name": "Acme"})
                    assert made.status_code == 200, made.text
                    yield Service(url, runtime, provider, api)
        finally:
            runtime.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
