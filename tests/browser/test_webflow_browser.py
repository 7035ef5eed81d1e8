"""The browser webflow in a real browser (SECURITY.md W-04, W-06, W-08, W-09; DESIGN.md §7):
headless Chromium driven by Playwright, tokenward on ``http://127.0.0.1:S``, the provider
double's login form on ``http://127.0.0.1:P``, and the partner's page on another origin
(``http://localhost:H``, or ``http://127.0.0.1:H`` where the iframe needs the service's
``SameSite=Lax`` binding cookie over http). Every test leaves screenshots of its final state in
``test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_support import CLIENT_SECRET, PASSWORD, USERNAME, HostServer, Service, query_of
from playwright.sync_api import BrowserContext, Dialog, Page

# The database matters to the flow's records, which the popup test covers on both backends;
# the others show browser behaviour and run on SQLite only, to keep the run short.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
XSS = "done </script><script>alert(1)</script><!-- \"q\" & 'a' \u2028 \u00fc"


def _host_page(context: BrowserContext, origin: str, path: str = "/app") -> Page:
    page = context.new_page()
    page.goto(origin + path)
    return page


def _set_flow(page: Page, url: str) -> None:
    page.evaluate("url => { window.flowUrl = url; }", url)


def _sign_in(page: Page, shots: Path | None = None) -> None:
    """Fill in and submit the provider double's login form (wherever ``page`` shows it)."""
    page.wait_for_selector("#username")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    if shots is not None:
        page.screenshot(path=shots / "provider-login.png")
    page.click("#login")


def _sign_in_frame(page: Page) -> None:
    """The same, in the host page's iframe ``#flow``."""
    frame = page.frame_locator("#flow")
    frame.locator("#username").fill(USERNAME)
    frame.locator("#password").fill(PASSWORD)
    frame.locator("#login").click()


def _messages(page: Page) -> list[dict[str, Any]]:
    """What the host page's ``message`` listener received, once something arrived."""
    page.wait_for_function("window.received.length > 0")
    page.wait_for_timeout(200)  # a second (unexpected) message would arrive by now
    received: list[dict[str, Any]] = page.evaluate("window.received")
    return received


def _open_popup(context: BrowserContext, page: Page) -> Page:
    """Click the host page's Connect button (``window.open`` in the click handler)."""
    with context.expect_page() as opened:
        page.click("#popup")
    popup = opened.value
    popup.wait_for_load_state()
    return popup


def _wait_popup_closed(page: Page) -> None:
    """The completion page closes its popup after posting (as the host page sees it)."""
    page.wait_for_function("window.popup !== null && window.popup.closed")


@pytest.mark.slow
def test_popup_posts_callback_message_to_the_opener_and_connects(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """Popup mode: the host page opens the webflow in a popup on a click, the user signs in at
    the provider, and the host page receives exactly ``callbackMessage`` from the service's
    origin and from that popup (W-04); the popup closes; the account connector is
    Authenticated."""
    ac_id = service.install()
    page = _host_page(context, host.origin)
    _set_flow(page, service.start_url(ac_id, host.origin, "connected!"))
    popup = _open_popup(context, page)
    assert popup.url.startswith(service.provider.url + "/authorize?")
    _sign_in(popup, artifacts)
    messages = _messages(page)
    _wait_popup_closed(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert messages == [
        {"data": "connected!", "origin": service.url, "fromPopup": True, "fromFrame": False}
    ]
    document = service.account_connector(ac_id)
    assert (document["Authenticated"], document["AuthState"]) == (True, "active")
    assert len(service.provider.requests_to("/token")) == 1


@SQLITE_ONLY
@pytest.mark.slow
def test_W08_iframe_on_a_registered_origin_runs_the_flow_and_posts_to_the_parent(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """Iframe mode: the whole flow in an iframe of the host page (the double's login page
    allows framing; over http the binding cookie is ``SameSite=Lax``, so the host page is on the
    service's site, another port). The completion page's ``frame-ancestors`` is the host's
    origin (W-08), it renders in the frame and posts ``callbackMessage`` to ``window.parent``."""
    ac_id = service.install()
    origin = host.same_site_origin
    page = _host_page(context, origin)
    _set_flow(page, service.start_url(ac_id, origin, "connected in a frame"))
    page.click("#frame")
    with page.expect_response(lambda r: "/connector/complete?" in r.url) as completed:
        _sign_in_frame(page)
    messages = _messages(page)
    frame = page.frame_locator("#flow")
    frame.locator("h1").wait_for()
    page.screenshot(path=artifacts / "host-page-with-frame.png", full_page=True)
    assert messages == [
        {
            "data": "connected in a frame",
            "origin": service.url,
            "fromPopup": False,
            "fromFrame": True,
        }
    ]
    headers = completed.value.headers
    assert headers["content-security-policy"].endswith(f"frame-ancestors {origin}")
    assert "x-frame-options" not in headers
    assert frame.locator("h1").inner_text() == "Connected"
    assert service.account_connector(ac_id)["Authenticated"] is True


@SQLITE_ONLY
@pytest.mark.slow
def test_W08_completion_page_cannot_be_framed_by_another_origin(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """A flow meant for ``http://localhost:H`` run in a frame of ``http://127.0.0.1:H`` (also
    registered, but not the flow's origin): Chromium refuses to render the completion page
    (``frame-ancestors`` names the flow's origin only) and nothing is posted."""
    ac_id = service.install()
    page = _host_page(context, host.same_site_origin)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    _set_flow(page, service.start_url(ac_id, host.origin, "must not arrive"))
    page.click("#frame")
    with page.expect_response(lambda r: "/connector/complete?" in r.url) as completed:
        _sign_in_frame(page)
    assert completed.value.status == 200
    for _ in range(50):  # the refusal is reported on the console once the frame is blocked
        if any("frame-ancestors" in line for line in console):
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(200)
    page.screenshot(path=artifacts / "blocked-frame.png", full_page=True)
    assert page.evaluate("window.received") == []
    assert any("frame-ancestors" in line for line in console), console
    flow_frame = next(f for f in page.frames if f != page.main_frame)
    assert not flow_frame.url.startswith(service.url)


@SQLITE_ONLY
@pytest.mark.slow
def test_redirect_mode_returns_to_the_host_page_with_the_result(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """Redirect mode (no ``callbackMessage``): the browser leaves the host page, signs in, and
    ends on the registered URL with ``status=success&AccountConnectorId=N`` added to the
    partner's own query — nothing else, no code, state or token."""
    ac_id = service.install()
    page = _host_page(context, host.origin)
    target = f"{host.origin}/connected?tab=2"
    page.evaluate("url => { window.location.href = url; }", service.start_url(ac_id, target))
    _sign_in(page, artifacts)
    page.wait_for_url(re.compile(re.escape(f"{host.origin}/connected?")))
    page.wait_for_selector("#here")
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert query_of(page.url) == {
        "tab": "2",
        "status": "success",
        "AccountConnectorId": str(ac_id),
    }
    assert service.account_connector(ac_id)["Authenticated"] is True


@SQLITE_ONLY
@pytest.mark.slow
def test_W09_coop_severed_opener_falls_back_to_the_registered_target(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """The host page sends ``Cross-Origin-Opener-Policy: same-origin``: the popup has no opener,
    so the completion page posts nothing, shows the result and a link back to the registered
    origin with the result in its query; following it lands on the host page. The account
    connector is Authenticated all the same."""
    ac_id = service.install()
    page = _host_page(context, host.origin, "/app?coop=1")
    _set_flow(page, service.start_url(ac_id, host.origin, "connected!"))
    popup = _open_popup(context, page)
    _sign_in(popup, artifacts)
    popup.wait_for_url(re.compile(re.escape(service.url + "/connector/complete?")))
    popup.wait_for_selector("#fallback a", state="visible")
    popup.screenshot(path=artifacts / "completion-fallback.png", full_page=True)
    assert popup.evaluate("window.opener") is None
    assert popup.locator("h1").inner_text() == "Connected"
    assert page.evaluate("window.popup.closed") is True  # the opener lost its handle too
    link = popup.get_attribute("#fallback a", "href")
    assert link is not None
    assert link.startswith(host.origin + "/?")
    assert query_of(link) == {"status": "success", "AccountConnectorId": str(ac_id)}
    popup.click("#fallback a")
    popup.wait_for_url(re.compile(re.escape(host.origin + "/?")))
    popup.screenshot(path=artifacts / "back-on-host.png", full_page=True)
    assert page.evaluate("window.received") == []
    assert service.account_connector(ac_id)["Authenticated"] is True


@SQLITE_ONLY
@pytest.mark.slow
@pytest.mark.parametrize("how", ["provider_denies", "user_cancels"])
def test_W05_denied_flow_posts_the_error_message_without_secrets(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path, how: str
) -> None:
    """The provider declines (``deny_authorization``, after the sign-in): the host page gets the
    JSON error status; the user presses Cancel with ``errorCallbackMessage`` given: it gets
    that string. Neither carries the sign-in token, the client secret, the password or the
    state; the account connector stays unauthenticated."""
    ac_id = service.install()
    token = service.signin_token()
    error_message = "not connected" if how == "user_cancels" else None
    page = _host_page(context, host.origin)
    _set_flow(page, service.start_url(ac_id, host.origin, "connected!", error_message, token=token))
    popup = _open_popup(context, page)
    if how == "provider_denies":
        service.provider.behaviour.deny_authorization = True
        _sign_in(popup, artifacts)
    else:
        popup.wait_for_selector("#deny")
        popup.screenshot(path=artifacts / "provider-login.png")
        popup.click("#deny")
    messages = _messages(page)
    _wait_popup_closed(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert len(messages) == 1
    assert (messages[0]["origin"], messages[0]["fromPopup"]) == (service.url, True)
    data = messages[0]["data"]
    if how == "provider_denies":
        assert json.loads(data) == {
            "type": "tokenward.connect",
            "status": "error",
            "error": "access_denied",
            "AccountConnectorId": ac_id,
        }
    else:
        assert data == "not connected"
    state = service.provider.requests_to("/authorize")[0].query["state"]
    for secret in (token, CLIENT_SECRET, PASSWORD, state):
        assert secret not in data
    assert service.provider.requests_to("/token") == []
    assert service.account_connector(ac_id)["Authenticated"] is False


@SQLITE_ONLY
@pytest.mark.slow
def test_W06_W04_markup_in_callback_message_is_delivered_as_data(
    service: Service, host: HostServer, context: BrowserContext, artifacts: Path
) -> None:
    """``callbackMessage`` holding ``</script><script>alert(1)</script>`` (and ``<!--``, quotes,
    U+2028): the host page receives it verbatim as data, no dialog opens in any window, and
    the completion page's source posts to the stored origin — no ``'*'`` anywhere, the markup
    only in escaped form, one nonce'd script. (In an iframe, where the completion page stays
    open to be read; a popup closes itself.)"""
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    context.on("dialog", on_dialog)
    ac_id = service.install()
    origin = host.same_site_origin
    page = _host_page(context, origin)
    _set_flow(page, service.start_url(ac_id, origin, XSS))
    page.click("#frame")
    with page.expect_response(lambda r: "/connector/complete?" in r.url) as completed:
        _sign_in_frame(page)
    messages = _messages(page)
    frame = page.frame_locator("#flow")
    frame.locator("h1").wait_for()
    page.screenshot(path=artifacts / "host-page-with-frame.png", full_page=True)
    source, headers = completed.value.text(), completed.value.headers
    assert messages == [{"data": XSS, "origin": service.url, "fromPopup": False, "fromFrame": True}]
    shown = page.locator("#log").text_content() or ""  # the host page shows it as text
    assert shown == f"{service.url} {json.dumps(XSS, ensure_ascii=False)}\n"
    assert dialogs == []
    assert frame.locator("script").count() == 1
    assert frame.locator("h1").inner_text() == "Connected"
    assert "'*'" not in source
    assert '"*"' not in source
    assert "host.postMessage(message, targetOrigin);" in source
    assert f"var targetOrigin = {json.dumps(origin)};" in source
    assert "</script><script>" not in source
    assert "<!--" not in source
    assert "alert(1)" in source  # present, but only inside the escaped JSON string
    assert re.search(r"script-src 'nonce-[^']+'", headers["content-security-policy"])
    assert service.account_connector(ac_id)["Authenticated"] is True
