"""The partner console in a real browser (docs/console.md; SECURITY.md W-08): headless Chromium
driven by Playwright against tokenward on ``http://127.0.0.1:S``, the provider double on
``http://127.0.0.1:P``, a partner webhook receiver on another loopback port. Covers the library
setup, account connector actions (refresh now, de-authenticate) against the double, webhook
redelivery, a wrong password, CSRF rejection, and axe-core on the main pages. Screenshots of
each test's states go to ``test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from a11y import assert_accessible
from browser_support import ACCOUNT, CLIENT_ID, CLIENT_SECRET, CODE, HostServer, Service
from playwright.sync_api import BrowserContext, Page

from tokenward.runtime import Runtime
from tokenward.services import console_auth
from tokenward.services.events import EventType, emit
from tokenward.worker.webhooks import WebhookDispatcher

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ADMIN, PASSWORD = "operator", "console password 123"


@pytest.fixture
def admin(service: Service) -> str:
    console_auth.create_console_user(service.runtime.ctx, ADMIN, PASSWORD)
    return ADMIN


def _sign_in(context: BrowserContext, service: Service, password: str = PASSWORD) -> Page:
    page = context.new_page()
    page.goto(f"{service.url}/console")
    page.fill("#username", ADMIN)
    page.fill("#password", password)
    page.click("#signin")
    page.wait_for_load_state()
    return page


def _connect(service: Service) -> int:
    """The test connector installed in the account and authenticated with tokens the double
    issued (password grant), able to refresh with the connector's ClientId/ClientSecret."""
    ac_id = service.install()
    issued = httpx.post(
        f"{service.provider.url}/token",
        data={"grant_type": "password", "username": "alice", "password": "wonderland"},
        auth=httpx.BasicAuth(quote_plus(CLIENT_ID), quote_plus(CLIENT_SECRET)),
    )
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    value = json.dumps(
        {"AccessToken": tokens["access_token"], "RefreshToken": tokens["refresh_token"]}
    )
    response = service.api.put(
        f"/v1.0/account/connectors/{ac_id}",
        json={"AuthValue": value},
        headers={"X-Cyclr-Account": ACCOUNT},
    )
    assert response.status_code == 200, response.text
    return ac_id


@pytest.mark.slow
def test_console_library_setup_saves_the_partner_app(
    service: Service, admin: str, context: BrowserContext, artifacts: Path
) -> None:
    """Sign in, find the connector in the library, see the redirect URI to register, save
    ClientId, ClientSecret and scopes; the secret is never shown back and the partner API reads
    the entry (secret masked)."""
    page = _sign_in(context, service)
    assert page.url == f"{service.url}/console/library"
    assert page.inner_text("#redirect-uri") == f"{service.url}/connector/callback"
    page.fill("#q", "browser test")
    page.click("text=Search")
    page.screenshot(path=artifacts / "library.png", full_page=True)
    page.click(f"#connector-{CODE} a")
    page.fill("#client_id", "partner-app-id")
    page.fill("#client_secret", "canary-browser-secret")
    page.fill("#scopes", "read write")
    page.click("#save")
    page.wait_for_selector("#notice")
    page.screenshot(path=artifacts / "library-entry-saved.png", full_page=True)
    assert page.inner_text("#notice") == "Saved."
    assert page.input_value("#client_secret") == ""
    assert "canary-browser-secret" not in page.content()
    entry = service.api.get(f"/v1.0/applicationconnectors/{CODE}").json()
    assert entry["ClientId"] == "partner-app-id"
    assert entry["ClientSecret"] == "********"
    assert entry["Scopes"] == ["read", "write"]


@SQLITE_ONLY
@pytest.mark.slow
def test_console_account_connector_refresh_now_and_deauthenticate(
    service: Service, admin: str, context: BrowserContext, artifacts: Path
) -> None:
    """On the account page: Refresh now makes one refresh at the provider double and shows the
    new last refresh; De-authenticate leaves the connector unauthenticated (the API agrees)."""
    ac_id = _connect(service)
    page = _sign_in(context, service)
    page.click("text=Accounts")
    page.click(f"text={ACCOUNT}")
    row = page.locator(f"#ac-{ac_id}")
    assert row.locator(".state").inner_text() == "active"
    assert row.locator(".last-refresh").inner_text() == "—"
    page.screenshot(path=artifacts / "account-before.png", full_page=True)
    row.get_by_role("button", name="Refresh now").click()
    page.wait_for_selector("#notice")
    assert page.inner_text("#notice") == "The credential was refreshed."
    assert page.locator(f"#ac-{ac_id} .last-refresh").inner_text() != "—"
    assert service.provider.refresh_count == 1
    page.screenshot(path=artifacts / "account-refreshed.png", full_page=True)
    page.locator(f"#ac-{ac_id}").get_by_role("button", name="De-authenticate").click()
    page.wait_for_selector("#notice")
    assert page.inner_text("#notice") == "The account connector was de-authenticated."
    assert page.locator(f"#ac-{ac_id} .state").inner_text() == "unauthenticated"
    page.screenshot(path=artifacts / "account-deauthenticated.png", full_page=True)
    document = service.account_connector(ac_id)
    assert (document["Authenticated"], document["AuthState"]) == (False, "unauthenticated")


class _Receiver(BaseHTTPRequestHandler):
    """The partner's webhook endpoint: records each delivery, answers 200."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.received.append(  # type: ignore[attr-defined]
            {"id": self.headers["tokenward-event-id"], "body": json.loads(body)}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _dispatch(runtime: Runtime) -> int:
    """One round of the webhook dispatcher (the one ``serve`` runs), on a loop of its own in
    another thread (Playwright's loop runs in this one)."""

    async def once() -> int:
        try:
            return await WebhookDispatcher(runtime.ctx).run_once()
        finally:
            await runtime.ctx.transport.aclose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(once())).result(timeout=30)


@SQLITE_ONLY
@pytest.mark.slow
def test_console_webhook_redelivery_sends_the_event_again_under_its_id(
    service: Service,
    admin: str,
    context: BrowserContext,
    artifacts: Path,
    receiver: ThreadingHTTPServer,
) -> None:
    """Set the webhook in the console; a delivered event shows as delivered in the log;
    Redeliver queues it again and the dispatcher sends it again with the same event id."""
    ctx = service.runtime.ctx
    with ctx.db.write() as tx:
        event = emit(
            tx,
            ctx.clock.now(),
            EventType.REAUTH_REQUIRED,
            account_id=ACCOUNT,
            account_connector_id=1,
            data={"AuthState": "needs_reauth"},
        )
    page = _sign_in(context, service)
    page.click("text=Webhooks")
    page.fill("#url", f"http://127.0.0.1:{receiver.server_address[1]}/hooks")
    page.fill("#secret", "whsec-browser-0123456789")
    page.click("#save")
    page.wait_for_selector("#notice")
    assert _dispatch(service.runtime) == 1
    page.reload()
    status = page.locator(f"#event-{event.id} .delivery")
    assert status.inner_text() == "delivered"
    page.screenshot(path=artifacts / "delivered.png", full_page=True)
    page.locator(f"#event-{event.id}").get_by_role("button", name="Redeliver").click()
    page.wait_for_selector("#notice")
    assert page.locator(f"#event-{event.id} .delivery").inner_text() == "pending"
    page.screenshot(path=artifacts / "redelivery-queued.png", full_page=True)
    assert _dispatch(service.runtime) == 1
    page.reload()
    assert page.locator(f"#event-{event.id} .delivery").inner_text() == "delivered"
    page.screenshot(path=artifacts / "redelivered.png", full_page=True)
    received = receiver.received  # type: ignore[attr-defined]
    assert [r["id"] for r in received] == [event.id, event.id]
    assert received[0]["body"] == received[1]["body"]


@SQLITE_ONLY
@pytest.mark.slow
def test_console_login_with_a_wrong_password_shows_an_error_and_no_session(
    service: Service, admin: str, context: BrowserContext, artifacts: Path
) -> None:
    """A wrong password: the sign-in page again with an alert saying so, the user name kept,
    and no way into the console pages."""
    page = _sign_in(context, service, password="not the password")
    page.screenshot(path=artifacts / "wrong-password.png", full_page=True)
    assert page.inner_text("#error") == "The user name or password is not correct."
    assert page.input_value("#username") == ADMIN
    assert page.input_value("#password") == ""
    page.goto(f"{service.url}/console/library")
    assert page.url == f"{service.url}/console/login"
    assert not [c for c in context.cookies() if c["name"] == "tw_console"]


@SQLITE_ONLY
@pytest.mark.slow
def test_console_csrf_rejects_a_forged_token_and_a_cross_site_form(
    service: Service, admin: str, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """A console form whose CSRF token was tampered with: 403 with a message, nothing changed.
    A form posted to the console from the partner's site (another origin): the SameSite=Strict
    session cookie does not travel, so it lands on the sign-in page and changes nothing."""
    before = service.api.get("/v1.0/partner/settings").json()["AllowedTargetOrigins"]
    page = _sign_in(context, service)
    page.click("text=Allowed origins")
    page.fill("#origins", "https://attacker.example")
    page.evaluate("document.querySelector('main input[name=csrf]').value = 'forged'")
    page.click("#save")
    page.wait_for_selector("#error")
    page.screenshot(path=artifacts / "csrf-refused.png", full_page=True)
    assert "did not come from this console" in page.inner_text("#error")
    cross = context.new_page()
    cross.goto(host.origin + "/app")
    with cross.expect_navigation():
        cross.evaluate(
            """url => {
              const form = document.createElement("form");
              form.method = "post";
              form.action = url;
              const field = document.createElement("input");
              field.name = "origins";
              field.value = "https://attacker.example";
              form.appendChild(field);
              document.body.appendChild(form);
              form.submit();
            }""",
            f"{service.url}/console/origins",
        )
    cross.screenshot(path=artifacts / "cross-site-form.png", full_page=True)
    assert cross.url == f"{service.url}/console/login"
    after = service.api.get("/v1.0/partner/settings").json()["AllowedTargetOrigins"]
    assert after == before


@SQLITE_ONLY
@pytest.mark.slow
def test_console_main_pages_have_no_serious_accessibility_violations(
    service: Service, admin: str, context: BrowserContext, artifacts: Path
) -> None:
    """axe-core (WCAG 2.1 A/AA and best practices) on the sign-in page and every main console
    page, with data in them: no serious or critical violation."""
    _connect(service)
    login = context.new_page()
    login.goto(f"{service.url}/console/login")
    assert_accessible(login, "console-login")
    page = _sign_in(context, service)
    paths = {
        "console-library": "/console/library",
        "console-library-entry": f"/console/library/{CODE}",
        "console-accounts": "/console/accounts",
        "console-account": f"/console/account?id={ACCOUNT}",
        "console-origins": "/console/origins",
        "console-webhooks": "/console/webhooks",
        "console-audit": "/console/audit",
        "console-catalog": "/console/catalog",
    }
    for name, path in paths.items():
        page.goto(service.url + path)
        page.screenshot(path=artifacts / f"{name}.png", full_page=True)
        assert_accessible(page, name)
