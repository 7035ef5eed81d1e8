"""The browser SDK ``/sdk/tokenward.js`` in a real browser (SECURITY.md W-07; docs/browser-sdk.md):
headless Chromium with its popup blocker on (Playwright turns it off by default), tokenward on
``http://127.0.0.1:S``, the provider double's login form on ``http://127.0.0.1:P`` and the
partner's page on ``http://localhost:H``. Screenshots of each test's final state go to
``test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD, USERNAME, Service, query_of
from playwright.sync_api import Browser, BrowserContext, Page, Playwright
from sdk_support import SdkHost

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MESSAGE = "connected!"


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with its popup blocker: a popup opens only from a user gesture."""
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-popup-blocking"],
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="module")
def host() -> Iterator[SdkHost]:
    """The partner's SDK page (registered as an allowed target origin by ``service``)."""
    with SdkHost() as server:
        yield server


def _host_page(context: BrowserContext, host: SdkHost, service: Service) -> Page:
    """The partner's page on its registered origin, once the SDK has loaded."""
    page = context.new_page()
    page.goto(f"{host.origin}/app?{urlencode({'service': service.url})}")
    page.wait_for_function("window.sdkLoaded === true")
    return page


def _click_connect(context: BrowserContext, page: Page, url: str) -> Page:
    """Set the flow URL and click Connect: the SDK opens the popup in the click handler."""
    page.evaluate("url => { window.flowUrl = url; }", url)
    with context.expect_page() as opened:
        page.click("#connect")
    popup = opened.value
    popup.wait_for_load_state()
    return popup


def _sign_in(page: Page) -> None:
    page.wait_for_selector("#username")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("#login")


def _results(page: Page) -> list[dict[str, Any]]:
    page.wait_for_function("window.results.length > 0")
    page.wait_for_timeout(300)  # a second (unexpected) report would arrive by now
    results: list[dict[str, Any]] = page.evaluate("window.results")
    return results


@pytest.mark.slow
def test_sdk_connects_through_the_webflow_and_reports_success(
    service: Service, host: SdkHost, context: BrowserContext, artifacts: Path
) -> None:
    """``tokenward.connect`` opens the webflow in a popup on the click, the user signs in at the
    provider, and ``onSuccess`` gets the account connector's Id and ``callbackMessage``; the
    account connector is Authenticated."""
    ac_id = service.install()
    page = _host_page(context, host, service)
    popup = _click_connect(context, page, service.start_url(ac_id, host.origin, MESSAGE))
    popup.screenshot(path=artifacts / "provider-login.png")
    _sign_in(popup)
    results = _results(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert results == [{"ok": True, "accountConnectorId": ac_id, "message": MESSAGE}]
    assert service.account_connector(ac_id)["Authenticated"] is True


@SQLITE_ONLY
@pytest.mark.slow
def test_sdk_reports_the_error_code_of_a_declined_sign_in(
    service: Service, host: SdkHost, context: BrowserContext, artifacts: Path
) -> None:
    """The user cancels at the provider: the completion page posts the JSON error status and
    ``onError`` gets ``access_denied`` with the account connector's Id."""
    ac_id = service.install()
    page = _host_page(context, host, service)
    popup = _click_connect(context, page, service.start_url(ac_id, host.origin, MESSAGE))
    popup.click("#deny")
    results = _results(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert [(r["ok"], r["code"], r["accountConnectorId"]) for r in results] == [
        (False, "access_denied", ac_id)
    ]
    assert results[0]["message"]


@SQLITE_ONLY
@pytest.mark.slow
def test_W07_sdk_ignores_a_message_from_its_popup_on_another_origin(
    service: Service, host: SdkHost, context: BrowserContext, artifacts: Path
) -> None:
    """While the popup shows the provider's page (another origin), that page posts the success
    message to the host page: it arrives but the SDK ignores it (``event.origin`` is not the
    service's); the real completion later is accepted."""
    ac_id = service.install()
    page = _host_page(context, host, service)
    popup = _click_connect(context, page, service.start_url(ac_id, host.origin, MESSAGE))
    assert popup.url.startswith(service.provider.url)
    popup.evaluate("m => window.opener.postMessage(m, '*')", MESSAGE)
    page.wait_for_function("window.received.length === 1")
    page.wait_for_timeout(300)
    assert page.evaluate("window.received") == [{"origin": service.provider.url, "data": MESSAGE}]
    assert page.evaluate("window.results") == []
    _sign_in(popup)
    results = _results(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert results == [{"ok": True, "accountConnectorId": ac_id, "message": MESSAGE}]


@SQLITE_ONLY
@pytest.mark.slow
def test_W07_sdk_ignores_a_message_from_the_service_origin_in_another_window(
    service: Service, host: SdkHost, context: BrowserContext, artifacts: Path
) -> None:
    """Another window at the service's own origin (one the SDK did not open) posts the success
    message and a JSON error: right origin, wrong ``event.source`` — both ignored; the popup's
    real completion is accepted."""
    ac_id = service.install()
    page = _host_page(context, host, service)
    popup = _click_connect(context, page, service.start_url(ac_id, host.origin, MESSAGE))
    with context.expect_page() as opened:
        page.click("#other")
    other = opened.value
    other.wait_for_load_state()
    assert other.url.startswith(service.url)
    error = json.dumps({"type": "tokenward.connect", "status": "error", "error": "server_error"})
    for forged in (MESSAGE, error):
        other.evaluate("([m, o]) => window.opener.postMessage(m, o)", [forged, host.origin])
    page.wait_for_function("window.received.length === 2")
    page.wait_for_timeout(300)
    assert {m["origin"] for m in page.evaluate("window.received")} == {service.url}
    assert page.evaluate("window.results") == []
    _sign_in(popup)
    results = _results(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert results == [{"ok": True, "accountConnectorId": ac_id, "message": MESSAGE}]


@SQLITE_ONLY
@pytest.mark.slow
def test_sdk_reports_a_blocked_popup_and_falls_back_to_redirect(
    service: Service, host: SdkHost, context: BrowserContext, artifacts: Path
) -> None:
    """``connect`` called outside a user gesture: the blocker refuses the popup, ``onError``
    gets ``popup_blocked``, and the SDK sends the page itself through the redirect-mode flow,
    which comes back to the partner's page with ``status=success``."""
    ac_id = service.install()
    target = f"{host.origin}/connected"
    flow = service.start_url(ac_id, host.origin, MESSAGE)
    fallback = service.start_url(ac_id, target)
    page = context.new_page()
    reports: list[str] = []
    page.on("console", lambda line: reports.append(line.text))
    query = {"service": service.url, "auto": "1", "flow": flow, "redirect": fallback}
    page.goto(f"{host.origin}/app?{urlencode(query)}")
    _sign_in(page)
    page.wait_for_url(re.compile(re.escape(target + "?")))
    page.screenshot(path=artifacts / "back-on-host-page.png", full_page=True)
    assert len(context.pages) == 1  # no popup ever opened
    blocked = [json.loads(r.split(" ", 1)[1]) for r in reports if r.startswith("tokenward-result")]
    assert [(r["ok"], r["code"]) for r in blocked] == [(False, "popup_blocked")]
    assert query_of(page.url) == {"status": "success", "AccountConnectorId": str(ac_id)}
    assert service.account_connector(ac_id)["Authenticated"] is True


@SQLITE_ONLY
@pytest.mark.slow
def test_sdk_reports_a_popup_closed_by_the_user(
    service: Service, host: SdkHost, context: BrowserContext, artifacts: Path
) -> None:
    """The user closes the popup before finishing: ``onError`` gets ``popup_closed`` (once) and
    the account connector stays unauthenticated."""
    ac_id = service.install()
    page = _host_page(context, host, service)
    popup = _click_connect(context, page, service.start_url(ac_id, host.origin, MESSAGE))
    popup.close()
    results = _results(page)
    page.screenshot(path=artifacts / "host-page.png", full_page=True)
    assert [(r["ok"], r["code"]) for r in results] == [(False, "popup_closed")]
    assert service.account_connector(ac_id)["Authenticated"] is False
