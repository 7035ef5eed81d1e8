"""The partner console through HTTP (docs/console.md), on SQLite and PostgreSQL: sign-in, the
session cookie, CSRF, the sign-in rate limit, every page and every action (each audited under
the console user's name). SECURITY.md W-08 (frame-ancestors on every page), L-04 (no-store),
C-10 (rate-limited sign-in)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from upstream_support import Connected, close_transport, connect_oauth

from tokenward.cli.main import app as cli
from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.services import console_auth
from tokenward.services.events import EventType, emit
from tokenward.services.ports.system import AuditEntry
from tokenward.settings import Settings, load_settings
from tokenward.store.tables import audit_log, console_sessions
from tokenward.testing import ProviderDouble
from tokenward.web.app import create_app
from tokenward.web.console.common import CSRF_MESSAGE
from tokenward.web.console.session import Throttle

ADMIN, PASSWORD = "admin", "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAGES = [
    "/console/library",
    "/console/accounts",
    "/console/account?id=acme",
    "/console/origins",
    "/console/webhooks",
    "/console/audit",
    "/console/catalog",
    "/console/catalog?q=crm",
]


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def login(client: TestClient, username: str = ADMIN, password: str = PASSWORD) -> Any:
    """Open the sign-in form (its token cookie) and submit it; the raw answer."""
    form = client.get("/console/login")
    assert form.status_code == 200, form.text
    data = {"username": username, "password": password, "csrf": csrf_of(form.text)}
    return client.post("/console/login", data=data, follow_redirects=False)


def console_actions(runtime: Runtime) -> list[tuple[str, str]]:
    """(actor, action) of every audit entry, oldest first."""
    runtime.ctx.audit.flush()
    with runtime.engine.connect() as conn:
        query = select(audit_log.c.actor, audit_log.c.action).order_by(audit_log.c.id)
        return [(row.actor, row.action) for row in conn.execute(query)]


@pytest.fixture
def admin(runtime: Runtime) -> str:
    console_auth.create_console_user(runtime.ctx, ADMIN, PASSWORD)
    return ADMIN


@pytest.fixture
def console(client: TestClient, admin: str) -> TestClient:
    """A test client signed in to the console."""
    response = login(client)
    assert response.status_code == 303, response.text
    return client


def page_token(client: TestClient, path: str = "/console/library") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def oauth_catalog_connector(runtime: Runtime) -> int:
    """The Id of a built-in connector that signs in with OAuth 2.0."""
    return next(
        c.Id
        for c in runtime.ctx.catalog.search(None, None)
        if any(a.AuthType == "OAuth2" for a in c.Authentication)
    )


# --- sign-in --------------------------------------------------------------------------------


def test_login_ok_sets_a_strict_httponly_session_cookie_and_is_audited(
    client: TestClient, admin: str, runtime: Runtime
) -> None:
    """The right password: a 303 into the console, a session cookie (HttpOnly,
    SameSite=Strict, expiring; not Secure over http), the session stored only as a hash."""
    response = login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/library"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("tw_console="))
    attributes = cookie.lower()
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "max-age=28800" in attributes
    assert "secure" not in attributes
    token = cookie.split(";")[0].split("=", 1)[1]
    with runtime.engine.connect() as conn:
        stored = [row.token_hash for row in conn.execute(select(console_sessions))]
    assert len(stored) == 1
    assert token not in stored
    assert client.get("/console/library").status_code == 200
    assert ("console:admin", "console.login") in console_actions(runtime)


def test_session_cookie_is_secure_and_host_prefixed_when_service_url_is_https(
    settings: Settings, runtime: Runtime, admin: str
) -> None:
    """With an https SERVICE_URL: ``__Host-tw_console`` with Secure (and the login form's
    cookie too)."""
    https = load_settings(
        database_url=settings.database_url,
        encryption_keys=settings.encryption_keys.get_secret_value()
        if settings.encryption_keys
        else None,
        data_dir=settings.data_dir,
        service_url="https://tokenward.example",
    )
    with TestClient(create_app(https, runtime=runtime), base_url="https://tokenward.example") as tc:
        form = tc.get("/console/login")
        assert "__Host-tw_console_login=" in form.headers["set-cookie"]
        assert "secure" in form.headers["set-cookie"].lower()
        response = login(tc)
        assert response.status_code == 303, response.text
        cookies = response.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("__Host-tw_console="))
        assert "secure" in session.lower()
        assert "path=/" in session.lower()
        assert tc.get("/console/audit").status_code == 200


def test_login_with_a_wrong_password_is_refused_with_a_message_and_audited(
    client: TestClient, admin: str, runtime: Runtime
) -> None:
    """A wrong password (or an unknown user): 401, one message for both, no session."""
    for username, password in ((ADMIN, "wrong password!"), ("nobody", PASSWORD)):
        response = login(client, username, password)
        assert response.status_code == 401
        assert "The user name or password is not correct." in response.text
        assert not any(c.startswith("tw_console=") for c in response.headers.get_list("set-cookie"))
    assert client.get("/console/library", follow_redirects=False).status_code == 303
    failed = [a for a in console_actions(runtime) if a[1] == "console.login.failed"]
    assert failed == [
        ("console:admin", "console.login.failed"),
        ("console:nobody", "console.login.failed"),
    ]


def test_C10_login_is_rate_limited_per_user_name(
    client: TestClient, admin: str, runtime: Runtime
) -> None:
    """Five attempts a minute for one user name: the sixth is a 429 with a clear message and
    Retry-After, even with the right password, and opens no session."""
    for _ in range(5):
        assert login(client, ADMIN, "wrong password!").status_code == 401
    response = login(client)
    assert response.status_code == 429
    assert "Too many sign-in attempts for this user name" in response.text
    assert int(response.headers["retry-after"]) >= 1
    assert client.get("/console/library", follow_redirects=False).status_code == 303


def test_C10_login_is_rate_limited_per_address(client: TestClient, app: Any, admin: str) -> None:
    """Attempts from one address are limited whatever user names they try."""
    app.state.console_throttle = Throttle(per_ip=3)
    for name in ("a1", "a2", "a3"):
        assert login(client, name, "wrong password!").status_code == 401
    response = login(client, "a4", "wrong password!")
    assert response.status_code == 429
    assert "Too many sign-in attempts from this address" in response.text


def test_login_form_without_its_token_is_refused(
    client: TestClient, admin: str, runtime: Runtime
) -> None:
    """Login CSRF: a sign-in POST whose token is not its cookie's is a 403 and signs nobody in."""
    client.get("/console/login")
    data = {"username": ADMIN, "password": PASSWORD, "csrf": "forged"}
    response = client.post("/console/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "did not come from this console" in response.text
    assert ("console:admin", "console.login") not in console_actions(runtime)


def test_logout_ends_the_session(console: TestClient, runtime: Runtime) -> None:
    """Sign out (with the CSRF token): the session row is gone and the cookie no longer works."""
    token = page_token(console)
    old_cookie = console.cookies.get("tw_console")
    response = console.post("/console/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?notice=signed_out"
    console.cookies.set("tw_console", old_cookie or "")
    assert console.get("/console/library", follow_redirects=False).status_code == 303
    with runtime.engine.connect() as conn:
        assert list(conn.execute(select(console_sessions))) == []
    assert ("console:admin", "console.logout") in console_actions(runtime)


def test_expired_session_signs_out(console: TestClient, clock: FakeClock) -> None:
    """Eight hours after sign-in the session no longer opens a page."""
    clock.advance(console_auth.SESSION_LIFETIME.total_seconds())
    assert console.get("/console/library", follow_redirects=False).headers["location"] == (
        "/console/login"
    )


def test_admin_create_command_makes_a_user_who_can_sign_in(
    client: TestClient, settings: Settings, runtime: Runtime
) -> None:
    """``tokenward admin create`` (password on stdin) creates a console user; a second create
    with the same name and a too-short password are refused (exit 2)."""
    assert settings.encryption_keys is not None
    env = {
        "TOKENWARD_DATABASE_URL": settings.resolved_database_url(),
        "TOKENWARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "TOKENWARD_DATA_DIR": str(settings.data_dir),
    }
    args = ["admin", "create", "--username", "ops", "--password-stdin"]
    runner = CliRunner()
    done = runner.invoke(cli, args, input="a long enough password\n", env=env)
    assert done.exit_code == 0, done.output
    assert runner.invoke(cli, args, input="a long enough password\n", env=env).exit_code == 2
    short = ["admin", "create", "--username", "ops2", "--password-stdin"]
    assert runner.invoke(cli, short, input="short\n", env=env).exit_code == 2
    assert login(client, "ops2", "short").status_code == 401
    assert login(client, "ops", "a long enough password").status_code == 303


# --- pages ----------------------------------------------------------------------------------


def test_pages_need_a_session(client: TestClient, admin: str) -> None:
    """Without a session every page sends the browser to the sign-in page."""
    for path in [*PAGES, "/console", "/console/library/1"]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/console/login", path


def test_W08_every_page_renders_with_a_nonce_csp_no_referrer_and_no_store(
    console: TestClient, runtime: Runtime, account: str
) -> None:
    """Each page: 200, CSP ``default-src 'none'`` with the page's style nonce and
    ``frame-ancestors 'none'`` (plus X-Frame-Options DENY), no-referrer, no-store; no script and
    no third-party asset."""
    paths = [*PAGES, f"/console/library/{oauth_catalog_connector(runtime)}", "/console/login"]
    for path in paths:
        response = console.get(path)
        assert response.status_code == 200, (path, response.text)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp, path
        assert "frame-ancestors 'none'" in csp, path
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce is not None, path
        assert f'<style nonce="{nonce.group(1)}">' in response.text, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text, path
        assert "<link" not in response.text, path
        assert not re.search(r'(src|href)="(https?:)?//', response.text), path


def test_catalog_page_searches(console: TestClient) -> None:
    """The catalog page filters by name/description text and by category."""
    everything = console.get("/console/catalog").text
    found = console.get("/console/catalog", params={"q": "salesforce"}).text
    assert "Salesforce" in found
    assert found.count("<tr>") < everything.count("<tr>")
    none = console.get("/console/catalog", params={"q": "no-such-connector-zzz"}).text
    assert "No connector matches." in none


# --- CSRF -----------------------------------------------------------------------------------


def test_csrf_a_post_without_the_session_token_is_refused_and_changes_nothing(
    console: TestClient, client: TestClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    """Every state-changing form: a missing, forged or other session's token → 403 with a
    message, and nothing changed."""
    console_auth.create_console_user(runtime.ctx, "other", PASSWORD)
    with TestClient(client.app, base_url="http://127.0.0.1:8000") as second:
        assert login(second, "other").status_code == 303
        foreign = page_token(second)
    posts = {
        "/console/origins": {"origins": "https://evil.example"},
        "/console/webhooks": {"url": "https://evil.example/hook", "secret": "x" * 20},
        f"/console/library/{oauth_catalog_connector(runtime)}": {"client_id": "evil"},
        "/console/account/deauthenticate": {"account": "acme", "ac": "1"},
        "/console/account/refresh": {"account": "acme", "ac": "1"},
        "/console/webhooks/redeliver": {"event": "x"},
        "/console/logout": {},
    }
    before = client.get("/v1.0/partner/settings", headers=auth).json()
    for path, form in posts.items():
        for token in (None, "forged", foreign):
            data = {**form, **({"csrf": token} if token else {})}
            response = console.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, (path, token)
            assert CSRF_MESSAGE in response.text.replace("&#39;", "'")
    assert client.get("/v1.0/partner/settings", headers=auth).json() == before
    assert console.get("/console/library").status_code == 200  # still signed in


# --- library --------------------------------------------------------------------------------


def test_library_setup_saves_the_entry_with_a_write_only_secret_and_is_audited(
    console: TestClient, runtime: Runtime, auth: dict[str, str], settings: Settings
) -> None:
    """The library shows the redirect URI to register; saving ClientId, ClientSecret and scopes
    stores them through the library service (the API reads them back, the secret masked); the
    page never shows the secret."""
    cid = oauth_catalog_connector(runtime)
    page = console.get(f"/console/library/{cid}")
    assert f"{settings.service_url}/connector/callback" in page.text
    form = {
        "csrf": csrf_of(page.text),
        "client_id": "my-app-id",
        "client_secret": "canary-library-secret",
        "scopes": "read write",
        "enabled": "1",
    }
    saved = console.post(f"/console/library/{cid}", data=form)
    assert saved.status_code == 200
    assert "Saved." in saved.text
    assert "canary-library-secret" not in saved.text
    entry = console.get(f"/v1.0/applicationconnectors/{cid}", headers=auth).json()
    assert entry["ClientId"] == "my-app-id"
    assert entry["ClientSecret"] == "********"
    assert entry["Scopes"] == ["read", "write"]
    listing = console.get("/console/library").text
    assert "my-app-id" in listing
    assert "canary-library-secret" not in listing
    # an empty secret keeps the stored one
    form.update(client_secret="", client_id="my-app-id-2", csrf=csrf_of(saved.text))
    assert console.post(f"/console/library/{cid}", data=form).status_code == 200
    again = console.get(f"/v1.0/applicationconnectors/{cid}", headers=auth).json()
    assert again["ClientId"] == "my-app-id-2"
    assert again["ClientSecret"] == "********"
    assert ("console:admin", "applicationconnector.put") in console_actions(runtime)


def test_library_bad_input_shows_an_error_and_changes_nothing(
    console: TestClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    """A secret containing the mask, or an unknown connector: a clear error, nothing stored."""
    cid = oauth_catalog_connector(runtime)
    before = console.get(f"/v1.0/applicationconnectors/{cid}", headers=auth).json()
    token = page_token(console)
    bad = {"csrf": token, "client_id": "x", "client_secret": "ab********cd", "enabled": "1"}
    response = console.post(f"/console/library/{cid}", data=bad)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert "mask" in response.text
    assert console.get(f"/v1.0/applicationconnectors/{cid}", headers=auth).json() == before
    missing = console.post("/console/library/999999", data={"csrf": token, "client_id": "x"})
    assert missing.status_code == 404
    assert "not found" in missing.text


# --- accounts and account connectors ---------------------------------------------------------


@pytest.fixture
def connected(
    console: TestClient,
    runtime: Runtime,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> Iterator[Connected]:
    yield connect_oauth(console, auth, acct, provider, clock.now())
    close_transport(console, runtime)


def test_accounts_pages_show_connectors_with_their_credential_state(
    console: TestClient, connected: Connected
) -> None:
    """The accounts list links each account; the account page shows each account connector's
    state and expiry, and an unknown account is a 404 page."""
    assert "/console/account?id=acme" in console.get("/console/accounts").text
    page = console.get("/console/account", params={"id": "acme"}).text
    assert f'id="ac-{connected.ac_id}"' in page
    assert 'data-state="active"' in page
    assert connected.tokens["access_token"] not in page
    missing = console.get("/console/account", params={"id": "nobody"})
    assert missing.status_code == 404
    assert "nobody" in missing.text


def test_refresh_now_refreshes_through_the_credential_service_and_is_audited(
    console: TestClient,
    connected: Connected,
    provider: ProviderDouble,
    runtime: Runtime,
    acct: dict[str, str],
) -> None:
    """Refresh now: one refresh at the provider, LastRefreshedUtc set, audited as the console
    user."""
    token = page_token(console, "/console/account?id=acme")
    form = {"csrf": token, "account": "acme", "ac": str(connected.ac_id)}
    response = console.post("/console/account/refresh", data=form)
    assert response.status_code == 200, response.text
    assert "The credential was refreshed." in response.text
    assert provider.refresh_count == 1
    read = console.get(f"/v1.0/account/connectors/{connected.ac_id}", headers=acct).json()
    assert read["LastRefreshedUtc"] is not None
    assert ("console:admin", "accountconnector.refresh") in console_actions(runtime)


def test_deauthenticate_drops_the_credential_and_is_audited(
    console: TestClient, connected: Connected, runtime: Runtime, acct: dict[str, str]
) -> None:
    """De-authenticate: the account connector is unauthenticated (the API says so), an event is
    queued and the audit log names the console user."""
    token = page_token(console, "/console/account?id=acme")
    form = {"csrf": token, "account": "acme", "ac": str(connected.ac_id)}
    response = console.post("/console/account/deauthenticate", data=form)
    assert response.status_code == 200, response.text
    assert "was de-authenticated" in response.text
    assert 'data-state="unauthenticated"' in response.text
    read = console.get(f"/v1.0/account/connectors/{connected.ac_id}", headers=acct).json()
    assert read["Authenticated"] is False
    assert ("console:admin", "credential.deauthenticate") in console_actions(runtime)
    events = console.get("/console/webhooks").text
    assert "accountconnector.deauthenticated" in events


def test_account_connector_actions_with_bad_input_change_nothing(
    console: TestClient, connected: Connected, provider: ProviderDouble, acct: dict[str, str]
) -> None:
    """Another account's or an unknown account connector, or no id: an error on the page, no
    refresh, the credential untouched."""
    token = page_token(console, "/console/account?id=acme")
    cases = [
        ({"account": "acme", "ac": "999999"}, 404),
        ({"account": "nobody", "ac": str(connected.ac_id)}, 404),
        ({"account": "acme", "ac": "x"}, 400),
    ]
    for form, status in cases:
        for action in ("refresh", "deauthenticate"):
            response = console.post(f"/console/account/{action}", data={"csrf": token, **form})
            assert response.status_code == status, (form, action, response.text)
    assert provider.refresh_count == 0
    read = console.get(f"/v1.0/account/connectors/{connected.ac_id}", headers=acct).json()
    assert read["Authenticated"] is True


# --- allowed origins, webhooks, audit ---------------------------------------------------------


def test_allowed_origins_are_saved_through_partner_settings_and_audited(
    console: TestClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    """One origin per line: stored canonical, effective for the webflow, audited."""
    token = page_token(console, "/console/origins")
    text = "https://App.Example.com\nhttps://two.example:8443\n"
    response = console.post("/console/origins", data={"csrf": token, "origins": text})
    assert response.status_code == 200
    assert "Saved." in response.text
    stored = console.get("/v1.0/partner/settings", headers=auth).json()["AllowedTargetOrigins"]
    assert stored == ["https://app.example.com", "https://two.example:8443"]
    assert ("console:admin", "partner.settings.update") in console_actions(runtime)


def test_allowed_origins_bad_input_shows_an_error_and_changes_nothing(
    console: TestClient, auth: dict[str, str]
) -> None:
    """A wildcard or a path: 400 naming the value, the stored list unchanged, the typed text
    kept in the form."""
    token = page_token(console, "/console/origins")
    console.post("/console/origins", data={"csrf": token, "origins": "https://ok.example"})
    for bad in ("*", "https://ok.example/path", "javascript:alert(1)"):
        response = console.post("/console/origins", data={"csrf": token, "origins": bad})
        assert response.status_code == 400, bad
        assert 'role="alert"' in response.text
        assert "is not an allowed origin" in response.text
    stored = console.get("/v1.0/partner/settings", headers=auth).json()["AllowedTargetOrigins"]
    assert stored == ["https://ok.example"]


def test_webhook_settings_keep_the_secret_write_only(
    console: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """URL and secret saved; the secret never shown back; an empty secret field keeps it; a bad
    URL is a 400 that changes nothing."""
    token = page_token(console, "/console/webhooks")
    form = {"csrf": token, "url": "https://hooks.example/tw", "secret": "canary-webhook-secret-1"}
    saved = console.post("/console/webhooks", data=form)
    assert saved.status_code == 200
    assert "canary-webhook-secret-1" not in saved.text
    kept = console.post("/console/webhooks", data={**form, "secret": ""})
    assert kept.status_code == 200
    stored = console.get("/v1.0/partner/settings", headers=auth).json()
    assert stored["WebhookUrl"] == "https://hooks.example/tw"
    assert stored["WebhookSecret"] == "********"
    bad = console.post("/console/webhooks", data={**form, "url": "ftp://hooks.example"})
    assert bad.status_code == 400
    assert "WebhookUrl must be" in bad.text
    short = console.post("/console/webhooks", data={**form, "secret": "short"})
    assert short.status_code == 400
    assert "WebhookSecret must be" in short.text
    assert console.get("/v1.0/partner/settings", headers=auth).json() == stored


def test_webhook_redelivery_requeues_the_event_under_its_id_and_is_audited(
    console: TestClient, runtime: Runtime
) -> None:
    """A given-up event: Redeliver makes it pending again (same id) and the audit log names
    the console user; an unknown event id is a 404 message."""
    ctx = runtime.ctx
    with ctx.db.write() as tx:
        event = emit(
            tx,
            ctx.clock.now(),
            EventType.REAUTH_REQUIRED,
            account_id="acme",
            account_connector_id=7,
            data={"AuthState": "needs_reauth"},
        )
        now = ctx.clock.now()
        tx.events.claim(now, "tests", now + timedelta(minutes=1), 10)
        tx.events.record_attempt(
            event.id,
            "tests",
            attempts=3,
            next_attempt_utc=None,
            delivered_utc=None,
            failed_utc=ctx.clock.now(),
            last_status=500,
            last_error="HTTP 500",
        )
    page = console.get("/console/webhooks").text
    assert f'id="event-{event.id}"' in page
    assert 'data-status="failed"' in page
    form = {"csrf": csrf_of(page), "event": event.id}
    response = console.post("/console/webhooks/redeliver", data=form)
    assert response.status_code == 200
    assert "will be delivered again" in response.text
    assert 'data-status="pending"' in response.text
    with ctx.db.read() as tx:
        stored = tx.events.get(event.id)
    assert stored is not None
    assert stored.next_attempt_utc is not None
    assert ("console:admin", "event.redeliver") in console_actions(runtime)
    missing = console.post("/console/webhooks/redeliver", data={**form, "event": "nope"})
    assert missing.status_code == 404
    assert "was not found" in missing.text


def test_audit_page_lists_console_actions(console: TestClient) -> None:
    """The audit log page shows the newest entries, among them this sign-in."""
    page = console.get("/console/audit").text
    assert "console:admin" in page
    assert "console.login" in page


def test_audit_log_pages_back_to_older_entries(console: TestClient, runtime: Runtime) -> None:
    """200 entries a page, newest first, with links to older and newer pages; a page number
    that is not one shows the first page."""
    now = runtime.ctx.clock.now()
    with runtime.ctx.db.write() as tx:
        tx.audit.add([AuditEntry(now, "tests", f"paged.{i:03d}") for i in range(250)])
    first = console.get("/console/audit").text
    assert "paged.249" in first
    assert "paged.010" not in first
    assert "/console/audit?page=2" in first
    assert "Newer entries" not in first
    second = console.get("/console/audit", params={"page": "2"}).text
    assert "paged.010" in second
    assert "paged.249" not in second
    assert "/console/audit?page=1" in second
    assert "Older entries" not in second
    odd = console.get("/console/audit", params={"page": "-3"})
    assert odd.status_code == 200
    assert "paged.249" in odd.text
