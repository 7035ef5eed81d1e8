"""The connect page in a real browser (DESIGN.md §7 "Connect page", docs/launch.md): a LAUNCH
URL opened in headless Chromium, the account's connectors with their state, Connect in a popup
and by redirect, a blocked popup, a popup without its opener, required properties with a bad
value, and the failures the user can meet — each page checked with axe-core (no serious or
critical violations). Screenshots are kept in ``test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible
from browser_support import CLIENT_ID, CLIENT_SECRET, CODE, PASSWORD, USERNAME, Service
from playwright.sync_api import BrowserContext, Page, expect

from tokenward.testing import Failure

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SUBDOMAIN_HINT = "Your workspace name: lower-case letters, digits and dashes."
PARTNER_AUTH_VALUE = '{"AccessToken": "partner-access-token"}'


def _second_connector(service: Service) -> int:
    """A custom connector at the provider double with a required, patterned property, its
    library entry (the double's client), installed in ``acme``; the account connector Id."""
    definition = {
        "Name": "Workspace App",
        "Version": "1.0",
        "Description": "Files and tasks of your workspace.",
        "BaseUrl": f"{service.provider.url}/api",
        "Parameters": [
            {"Name": "Subdomain", "Pattern": "^[a-z0-9-]{1,63}$", "Description": SUBDOMAIN_HINT}
        ],
        "Authentication": [
            {
                "AuthName": "OAuth 2.0",
                "AuthType": "OAuth2",
                "OAuth2Type": "AuthorisationCode",
                "AuthoriseUrl": f"{service.provider.url}/authorize",
                "AccessTokenUrl": f"{service.provider.url}/token",
            }
        ],
    }
    created = service.api.post("/v1.0/connectors", json=definition)
    assert created.status_code == 200, created.text
    cid = created.json()["Id"]
    library = {"ClientId": CLIENT_ID, "ClientSecret": CLIENT_SECRET}
    assert service.api.put(f"/v1.0/applicationconnectors/{cid}", json=library).is_success
    installed = service.api.post(
        f"/v1.0/connectors/{cid}/install", json={}, headers={"X-Cyclr-Account": "acme"}
    )
    assert installed.status_code == 200, installed.text
    return int(installed.json()["Id"])


def _launch(service: Service, **body: Any) -> str:
    """LAUNCH for ``acme`` with the partner connector (the catalog's code connector) already
    authenticated by its AuthValue; the LaunchUrl."""
    partner = {
        "Id": str(CODE),
        "AuthValue": PARTNER_AUTH_VALUE,
        "Properties": [
            {"Name": "ClientId", "Value": CLIENT_ID},
            {"Name": "ClientSecret", "Value": CLIENT_SECRET},
        ],
    }
    response = service.api.post(
        "/v1.0/accounts/acme/launch", json={"ConnectorAuthentications": [partner], **body}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["LaunchUrl"])


def _set_subdomain(service: Service, ac_id: int, value: str = "acme") -> None:
    response = service.api.post(
        f"/v1.0/account/connectors/{ac_id}/properties",
        json={"Name": "Subdomain", "Value": value},
        headers={"X-Cyclr-Account": "acme"},
    )
    assert response.status_code == 200, response.text


def _open(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("h1")
    return page


def _card(page: Page, ac_id: int) -> Any:
    return page.locator(f"#ac-{ac_id}")


def _sign_in(page: Page) -> None:
    page.wait_for_selector("#username")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("#login")


def _authenticated(service: Service, ac_id: int) -> bool:
    return bool(service.account_connector(ac_id)["Authenticated"])


def _connect_in_popup(context: BrowserContext, page: Page, ac_id: int) -> Page:
    with context.expect_page() as opened:
        _card(page, ac_id).locator("a[data-connect]").click()
    popup = opened.value
    popup.wait_for_load_state()
    return popup


@pytest.mark.slow
def test_launch_url_opens_the_connect_page_and_connects_a_second_connector_in_a_popup(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """The LAUNCH URL (InlineOAuth false) signs in and shows the account's connectors: the
    partner connector Connected (its AuthValue), the second one Not connected. Its Connect
    button opens the webflow in a popup on the click; after the provider's sign-in the popup
    closes, the page says the connector is connected, and the API agrees. Accessible."""
    second = _second_connector(service)
    _set_subdomain(service, second)
    url = _launch(service, InlineOAuth="false")
    page = _open(context, url)
    assert re.search(r"/launch\?inline=false$", page.url)
    partner_ac = next(
        i["Id"]
        for i in service.api.get(
            "/v1.0/account/connectors", headers={"X-Cyclr-Account": "acme"}
        ).json()
        if i["IsPartnerIntegrationConnector"]
    )
    assert _card(page, partner_ac).locator(".state").inner_text().endswith("Connected")
    assert _card(page, second).locator(".state").inner_text().endswith("Not connected")
    page.screenshot(path=artifacts / "connect-page.png", full_page=True)
    assert_accessible(page, "connect-page")
    popup = _connect_in_popup(context, page, second)
    assert popup.url.startswith(service.provider.url + "/authorize?")
    _sign_in(popup)
    page.wait_for_url(re.compile(r"/connect\?status=success"))
    for _ in range(50):  # the popup closes itself after telling the page
        if popup.is_closed():
            break
        page.wait_for_timeout(100)
    assert popup.is_closed()
    status = page.locator("#status")
    assert status.inner_text() == "Workspace App is now connected."
    assert _card(page, second).locator(".state").inner_text().endswith("Connected")
    assert _card(page, second).locator("a[data-connect]").inner_text().startswith("Reconnect")
    page.screenshot(path=artifacts / "connected.png", full_page=True)
    assert_accessible(page, "connect-page-connected")
    assert _authenticated(service, second)
    assert len(service.provider.requests_to("/token")) == 1


@SQLITE_ONLY
@pytest.mark.slow
def test_redirect_mode_by_keyboard_returns_to_the_page_with_the_result(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """With InlineOAuth true the Connect button (reached and pressed with the keyboard) takes
    this window to the provider and back to the connect page with the result."""
    second = _second_connector(service)
    _set_subdomain(service, second)
    page = _open(context, _launch(service, InlineOAuth="true"))
    link = _card(page, second).locator("a[data-connect]")
    for _ in range(20):  # Tab through the page in order until the button has the focus
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the Connect button cannot be reached with the Tab key")
    page.screenshot(path=artifacts / "focused.png")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(service.provider.url) + "/authorize"))
    assert len(context.pages) == 1  # no popup
    _sign_in(page)
    page.wait_for_url(re.compile(re.escape(service.url) + r"/connect\?status=success"))
    assert page.locator("#status").inner_text() == "Workspace App is now connected."
    assert page.evaluate("document.activeElement.id") == "status"  # the result is announced
    page.screenshot(path=artifacts / "back.png", full_page=True)
    assert_accessible(page, "connect-page-redirect-result")
    assert _authenticated(service, second)


@SQLITE_ONLY
@pytest.mark.slow
def test_blocked_popup_falls_back_to_a_redirect(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """A popup blocker (``window.open`` answering null) does not stop the user: the click goes
    on as a redirect of this window through the provider and back."""
    second = _second_connector(service)
    _set_subdomain(service, second)
    context.add_init_script("window.open = function () { return null; };")
    page = _open(context, _launch(service, InlineOAuth="false"))
    _card(page, second).locator("a[data-connect]").click()
    page.wait_for_url(re.compile(re.escape(service.provider.url) + "/authorize"))
    assert len(context.pages) == 1
    _sign_in(page)
    page.wait_for_url(re.compile(r"/connect\?status=success"))
    page.screenshot(path=artifacts / "after-fallback.png", full_page=True)
    assert page.locator("#status").inner_text() == "Workspace App is now connected."
    assert _authenticated(service, second)


@SQLITE_ONLY
@pytest.mark.slow
def test_popup_closed_before_the_end_is_told_and_nothing_changes(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """The user closes the sign-in popup at the provider: the page says so in its status region
    and how to see a result; the connector stays Not connected."""
    second = _second_connector(service)
    _set_subdomain(service, second)
    page = _open(context, _launch(service))
    popup = _connect_in_popup(context, page, second)
    assert page.locator("#status").inner_text() == (
        "Continue in the sign-in window for Workspace App."
    )
    popup.close()
    expect(page.locator("#status")).to_contain_text("was closed")
    page.screenshot(path=artifacts / "popup-closed.png", full_page=True)
    assert (
        page.locator("#status")
        .inner_text()
        .startswith("The sign-in window for Workspace App was closed")
    )
    assert not _authenticated(service, second)


@SQLITE_ONLY
@pytest.mark.slow
def test_popup_without_opener_redirects_itself_to_the_connect_page(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """The popup's last page, with no opener (severed by COOP, or opened on its own), does not
    post anywhere: it takes its own window to the connect page, which shows the result."""
    second = _second_connector(service)
    page = _open(context, _launch(service))
    alone = context.new_page()  # no opener
    alone.goto(f"{service.url}/connect/done?status=error&AccountConnectorId={second}&error=expired")
    alone.wait_for_url(re.compile(r"/connect\?status=error"))
    alone.screenshot(path=artifacts / "done-without-opener.png", full_page=True)
    assert alone.locator("#status").inner_text() == (
        "Workspace App was not connected: the sign-in took too long and expired. Please try again."
    )
    assert page.url.endswith("/launch?inline=false")  # the other window was not touched


@SQLITE_ONLY
@pytest.mark.slow
def test_required_property_with_a_bad_value_is_explained_and_not_saved(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """A required property that is not set hides Connect and asks for it; a value that does not
    match its Pattern is refused in plain words (the field marked invalid, the summary
    focused, nothing stored); a good value is saved and Connect appears."""
    second = _second_connector(service)
    page = _open(context, _launch(service))
    card = _card(page, second)
    assert card.locator("a[data-connect]").count() == 0
    assert card.locator(f"#ac-{second}-missing").inner_text() == (
        "Fill in Subdomain below, then connect."
    )
    field = card.get_by_label("Subdomain (required)")
    field.fill("Not Valid!")
    card.get_by_role("button", name="Save settings of Workspace App").click()
    page.wait_for_selector("#error-summary")
    page.screenshot(path=artifacts / "bad-value.png", full_page=True)
    assert page.evaluate("document.activeElement.id") == "error-summary"
    message = f"This Subdomain is not in the expected format. {SUBDOMAIN_HINT}"
    assert card.locator(".error").inner_text() == message
    field = card.get_by_label("Subdomain (required)")
    assert field.get_attribute("aria-invalid") == "true"
    assert field.input_value() == "Not Valid!"  # kept for correcting
    assert "Not Valid!" not in page.locator("#error-summary").inner_text()
    assert_accessible(page, "connect-page-property-error")
    properties = service.account_connector(second)["Properties"]
    assert properties == []
    field.fill("acme-team")
    card.get_by_role("button", name="Save settings of Workspace App").click()
    page.wait_for_url(re.compile(r"/connect\?saved="))
    assert page.locator("#status").inner_text() == "The settings of Workspace App were saved."
    assert _card(page, second).locator("a[data-connect]").count() == 1
    page.screenshot(path=artifacts / "saved.png", full_page=True)
    saved = service.account_connector(second)["Properties"]
    assert [(p["Name"], p["Value"]) for p in saved] == [("Subdomain", "acme-team")]


@SQLITE_ONLY
@pytest.mark.slow
@pytest.mark.parametrize(
    ("failure", "text"),
    [
        pytest.param(
            "denied", "was not connected: access was declined at the service.", id="denied"
        ),
        pytest.param("down", "the service refused the sign-in or could not be reached.", id="down"),
    ],
)
def test_failures_are_told_in_plain_words(
    service: Service, context: BrowserContext, artifacts: Path, failure: str, text: str
) -> None:
    """The provider declines, or its token endpoint is down (503): the popup closes and the
    page says what happened in words; the connector stays Not connected."""
    second = _second_connector(service)
    _set_subdomain(service, second)
    page = _open(context, _launch(service))
    if failure == "denied":
        service.provider.behaviour.deny_authorization = True
    else:
        service.provider.fail_next(*[Failure.http(503) for _ in range(5)])
    popup = _connect_in_popup(context, page, second)
    _sign_in(popup)
    page.wait_for_url(re.compile(r"/connect\?status=error"))
    page.screenshot(path=artifacts / f"{failure}.png", full_page=True)
    assert text in page.locator("#status").inner_text()
    assert _card(page, second).locator(".state").inner_text().endswith("Not connected")
    assert_accessible(page, f"connect-page-{failure}")
    assert not _authenticated(service, second)


@SQLITE_ONLY
@pytest.mark.slow
def test_used_launch_url_and_ended_session_explain_what_to_do(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """A LAUNCH URL opened a second time is Cyclr's 403 page; the page without a session says
    to open it from the app again. Both accessible."""
    url = _launch(service)
    _open(context, url).close()
    again = context.new_page()
    response = again.goto(url)
    assert response is not None
    assert response.status == 403
    assert "Access is denied" in again.locator("main").inner_text()
    assert_accessible(again, "signin-token-used")
    context.clear_cookies()
    ended = context.new_page()
    ended.goto(f"{service.url}/connect")
    assert "Your session has ended" in ended.locator("main").inner_text()
    ended.screenshot(path=artifacts / "session-ended.png", full_page=True)
    assert_accessible(ended, "connect-session-ended")


@SQLITE_ONLY
@pytest.mark.slow
def test_small_screens_get_the_page_without_horizontal_scrolling(
    service: Service, context: BrowserContext, artifacts: Path
) -> None:
    """At a phone's width the page fits (no horizontal scroll) and stays accessible."""
    _second_connector(service)
    page = _open(context, _launch(service))
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=artifacts / "phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page, "connect-page-phone")


def test_assert_accessible_fails_on_serious_violations(context: BrowserContext) -> None:
    """The helper itself: a page with an unlabelled button and an image without alt text
    fails the check (the two critical violations are named)."""
    page = context.new_page()
    page.set_content("<html><body><main><img src='x.png'><button></button></main></body></html>")
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page, "self-test")
    assert "button-name" in str(failed.value)
    assert "image-alt" in str(failed.value)
