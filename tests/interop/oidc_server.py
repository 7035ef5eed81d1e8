"""A real, widely used authorization server on loopback: panva's ``oidc-provider`` from npm.

``tests/interop/oidc/server.mjs`` configures it (see docs/testing.md); this module installs its
npm dependencies when they are missing (``npm ci``, pinned by ``package-lock.json``), starts it as
a subprocess on a free ``127.0.0.1`` port, and drives its login and consent pages over plain HTTP
the way a browser without JavaScript would.

Fixture: ``oidc_provider`` (session scope; re-exported by ``tests/interop/conftest.py``) yields
an :class:`OidcProvider`. The server keeps its state in memory for the whole session, so tests
share it but never each other's grants: every flow gets its own code, grant and tokens. For
another configuration (PAR required, other TTLs, other redirect URIs) use
``with start_oidc_provider(...) as p:`` (about a second to start).

Both clients register :data:`DEFAULT_REDIRECT_URIS`; the first is tokenward's own callback under
its default ``TOKENWARD_SERVICE_URL`` (``http://127.0.0.1:8000/connector/callback``), so a
tokenward app built with the default service URL can run its web flow against the session server.

Typical use::

    auth = oidc_provider.oauth2_auth()                    # a tokenward OAuth2Auth
    url = authorization_url(auth, client_id=oidc_provider.client.client_id, ...)
    callback = oidc_provider.simulate_browser(url)        # the redirect to redirect_uri, unsent
    params = callback_params(callback)                     # {"code", "state", "iss"}
"""

from __future__ import annotations

import contextlib
import fcntl
import html.parser
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from tokenward.catalog.schema import OAuth2Auth

__all__ = [
    "DEFAULT_LOGIN",
    "DEFAULT_REDIRECT_URIS",
    "OIDC_DIR",
    "AuthMethod",
    "BrowserError",
    "OidcClient",
    "OidcProvider",
    "callback_params",
    "ensure_npm_dependencies",
    "oidc_provider",
    "simulate_browser",
    "start_oidc_provider",
]

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
READY_TIMEOUT = 30.0
# Registered by default: tokenward's own callback under its default TOKENWARD_SERVICE_URL, then
# one on the discard port (nothing listens). Redirects are returned by simulate_browser, unsent.
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8000/connector/callback",
    "http://127.0.0.1:9/callback",
)
DEFAULT_SCOPES = ("openid", "profile")
AUTH_ID = "0f3c1a52-6d0e-4b8e-9a51-8d2f0c7e4b10"
# devInteractions signs in any login with any non-empty password; the login becomes the ``sub``.
DEFAULT_LOGIN = "interop-user"
DEFAULT_PASSWORD = "any-password"  # not a secret: the test server accepts any

AuthMethod = Literal["client_secret_basic", "client_secret_post"]


class BrowserError(AssertionError):
    """The simulated browser could not reach the client's redirect URI."""


@dataclass(frozen=True, slots=True)
class OidcClient:
    """A client registered at the server. The secret stays out of ``repr``."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]
    auth_method: AuthMethod = "client_secret_basic"

    @property
    def redirect_uri(self) -> str:
        """The first registered redirect URI (any registered one may be used)."""
        return self.redirect_uris[0]

    def registration(self) -> dict[str, Any]:
        """The client as ``server.mjs`` takes it (oidc-provider client metadata)."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "token_endpoint_auth_method": self.auth_method,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }


@dataclass(frozen=True, slots=True)
class OidcProvider:
    """A running oidc-provider. ``issuer`` is also the base URL (no trailing slash)."""

    issuer: str
    client: OidcClient  # client_secret_basic
    post_client: OidcClient  # client_secret_post
    access_token_ttl: int
    require_par: bool
    log_path: Path

    # Endpoints: the server's fixed routes (the metadata documents list the same).
    @property
    def metadata_url(self) -> str:
        """RFC 8414 §3 metadata; ``openid_configuration_url`` serves the same document."""
        return f"{self.issuer}/.well-known/oauth-authorization-server"

    @property
    def openid_configuration_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.issuer}/token/revocation"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/token/introspection"

    @property
    def par_endpoint(self) -> str:
        return f"{self.issuer}/request"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/me"

    @property
    def resource_url(self) -> str:
        """``GET`` with a bearer access token → 200 ``{sub, client_id, scope, kind}`` or 401."""
        return f"{self.issuer}/api/me"

    def client_for(self, method: AuthMethod) -> OidcClient:
        return self.client if method == "client_secret_basic" else self.post_client

    def oauth2_auth(self, client: OidcClient | None = None, **overrides: Any) -> OAuth2Auth:
        """A tokenward ``OAuth2Auth`` for this server (PKCE S256, the client's auth method,
        scopes ``openid profile``, the revocation URL and the issuer); ``overrides`` replace or
        add catalog keys, e.g. ``Scopes=[...]``."""
        chosen = client or self.client
        definition: dict[str, Any] = {
            "Id": AUTH_ID,
            "AuthName": "oidc-provider interop",
            "AuthType": "OAuth2",
            "OAuth2Type": "AuthorisationCode",
            "AuthoriseUrl": self.authorization_endpoint,
            "AccessTokenUrl": self.token_endpoint,
            "RevokeUrl": self.revocation_endpoint,
            "Issuer": self.issuer,
            "Scopes": list(DEFAULT_SCOPES),
            "ClientAuthMethod": chosen.auth_method,
            "Pkce": "S256",
            **overrides,
        }
        return OAuth2Auth.model_validate(definition)

    def simulate_browser(
        self,
        authorization_url: str,
        *,
        login: str = DEFAULT_LOGIN,
        password: str = DEFAULT_PASSWORD,
    ) -> str:
        """:func:`simulate_browser` bound to this server's origin."""
        return simulate_browser(
            authorization_url, login=login, password=password, server_origin=self.issuer
        )

    def bearer_get(self, url: str, access_token: str) -> httpx.Response:
        """``GET url`` with ``Authorization: Bearer`` (a "method call"), no redirects."""
        headers = {"Authorization": f"Bearer {access_token}"}
        return httpx.get(url, headers=headers, follow_redirects=False, timeout=10, verify=_tls())


# ---------------------------------------------------------------- the simulated browser


class _Forms(html.parser.HTMLParser):
    """The forms of a page: action, method and the inputs (name, type, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({**values, "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(values)


def _fill(form: dict[str, Any], login: str, password: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for field_ in form["inputs"]:
        name, kind = field_.get("name"), field_.get("type", "text").lower()
        if not name:
            continue
        if kind == "password":
            data[name] = password
        elif kind in ("text", "email") and not field_.get("value"):
            data[name] = login
        else:
            data[name] = field_.get("value", "")
    return data


def simulate_browser(
    authorization_url: str,
    *,
    login: str = DEFAULT_LOGIN,
    password: str = DEFAULT_PASSWORD,
    server_origin: str | None = None,
    max_steps: int = 12,
) -> str:
    """Follow ``authorization_url`` as a browser without JavaScript would: redirects, the
    server's login form (``login``/``password`` typed in) and its consent form, with cookies.

    Returns the first redirect target outside ``server_origin`` (default: the origin of
    ``authorization_url``) — the client's ``redirect_uri`` with ``code``, ``state`` and ``iss``
    (or ``error``) — **without requesting it**. Raises :class:`BrowserError` when a page is
    neither a redirect nor a form (an error page), naming the status and a short excerpt.
    A fresh cookie jar per call: every call signs in anew.
    """
    origin = _origin(server_origin or authorization_url)
    with httpx.Client(follow_redirects=False, timeout=10, verify=_tls()) as browser:
        response = browser.get(authorization_url)
        for _ in range(max_steps):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if _origin(target) != origin:
                    return target
                response = browser.get(target)
                continue
            parser = _Forms()
            parser.feed(response.text)
            if response.status_code != 200 or not parser.forms:
                raise BrowserError(
                    f"HTTP {response.status_code} at {response.url.path}: {response.text[:300]}"
                )
            form = parser.forms[0]
            action = urljoin(str(response.url), form.get("action") or str(response.url))
            if form.get("method", "get").lower() == "post":
                response = browser.post(action, data=_fill(form, login, password))
            else:
                response = browser.get(action, params=_fill(form, login, password))
    raise BrowserError(f"no redirect to the client after {max_steps} steps")


def callback_params(callback_url: str) -> dict[str, str]:
    """The query of a callback URL, one value per name (``code``, ``state``, ``iss``…)."""
    return dict(parse_qsl(urlsplit(callback_url).query, keep_blank_values=True))


@cache
def _tls() -> ssl.SSLContext:
    """One verifying TLS context: building one per httpx client costs up to a second."""
    return ssl.create_default_context()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


# ---------------------------------------------------------------- the server process


def ensure_npm_dependencies() -> None:
    """``npm ci`` in ``tests/interop/oidc`` unless ``oidc-provider`` is already installed
    (under a file lock, so parallel test processes install once)."""
    marker = OIDC_DIR / "node_modules" / "oidc-provider" / "package.json"
    if marker.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the interop tests need Node.js 20+ and npm on PATH (oidc-provider)")
    with open(OIDC_DIR / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(OIDC_DIR)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {OIDC_DIR} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


@contextlib.contextmanager
def start_oidc_provider(
    *,
    access_token_ttl: int = 60,
    refresh_token_ttl: int | None = None,
    require_par: bool = False,
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS,
    clients: tuple[OidcClient, OidcClient] | None = None,
) -> Iterator[OidcProvider]:
    """Run ``server.mjs`` on a free loopback port until the block ends.

    Two clients are registered (``client_secret_basic`` and ``client_secret_post``), both with
    ``redirect_uris`` (exact match; the first is ``client.redirect_uri``) and the code, refresh
    and client-credentials grants; ``clients`` replaces them (basic first, post second).
    ``require_par`` makes RFC 9126 PAR mandatory; ``access_token_ttl`` and
    ``refresh_token_ttl`` are seconds (refresh tokens: 14 days unless set).
    """
    ensure_npm_dependencies()
    node = shutil.which("node")
    if node is None:
        pytest.fail("the interop tests need Node.js 20+ on PATH (oidc-provider)")
    basic, post = clients or (
        OidcClient("tokenward-basic", "basic:secret+with/odd%chars", redirect_uris),
        OidcClient("tokenward-post", "post-secret-0123456789", redirect_uris, "client_secret_post"),
    )
    config: dict[str, Any] = {
        "clients": [basic.registration(), post.registration()],
        "accessTokenTtl": access_token_ttl,
        "requirePar": require_par,
    }
    if refresh_token_ttl is not None:
        config["refreshTokenTtl"] = refresh_token_ttl
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as folder:
        log_path = Path(folder) / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [node, str(OIDC_DIR / "server.mjs"), "--port", "0"],
                cwd=OIDC_DIR,
                env={**_child_env(), "OIDC_INTEROP_CONFIG": json.dumps(config)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            issuer = _wait_ready(process, log_path)
            yield OidcProvider(
                issuer=issuer,
                client=basic,
                post_client=post,
                access_token_ttl=access_token_ttl,
                require_par=require_par,
                log_path=log_path,
            )
        finally:
            _stop(process)


def _child_env() -> Mapping[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in keep if name in os.environ} | {"NODE_ENV": "test"}


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("READY http://127.0.0.1:"):
                return line.split(" ", 1)[1].strip()
        if process.poll() is not None:
            break
        time.sleep(0.05)
    output = log_path.read_text(errors="replace")[-3000:]
    _stop(process)
    pytest.fail(f"oidc-provider did not start (exit {process.returncode}):\n{output}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """oidc-provider with the default configuration for the whole test session."""
    with start_oidc_provider() as provider:
        yield provider
