"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (one browser per test
module, a fresh context per test; module scope so that Playwright's event loop is gone before
other modules' asyncio tests run), the partner's host page server, and tokenward served on a
loopback port for each test (on SQLite and PostgreSQL through ``database_url``).

Chromium must be at ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it
when missing). Without it these tests fail: they never skip. Playwright's own browser downloads
are never used.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, HostServer, Service, serve
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the item, so the context fixture knows a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    with HostServer() as server:
        yield server


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/browser/<test>`` (git-ignored; CI keeps it): screenshots of the test."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture
def context(
    browser: Browser, request: pytest.FixtureRequest, artifacts: Path
) -> Iterator[BrowserContext]:
    """A fresh browser profile (cookies, storage) per test; every page still open is
    photographed when the test failed."""
    ctx = browser.new_context(viewport={"width": 900, "height": 700})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            for index, page in enumerate(ctx.pages):
                with contextlib.suppress(PlaywrightError):  # a crashed page: keep the failure
                    page.screenshot(path=artifacts / f"failed-{index}.png", full_page=True)
        ctx.close()


@pytest.fixture
def service(
    database_url: str, encryption_keys: str, tmp_path: Path, host: HostServer
) -> Iterator[Service]:
    with serve(database_url, encryption_keys, tmp_path / "data", host) as running:
        yield running
