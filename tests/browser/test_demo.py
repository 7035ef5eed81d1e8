"""``tokenward demo`` end to end (docs/demo.md): the command runs as a subprocess on free ports,
prints one URL, and a newcomer's clicks in Chromium go through the whole connect flow (the
sandbox provider's login form in a popup) and a method call; Ctrl-C (SIGINT) stops it cleanly
and removes its temporary data folder."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

_SCRIPT = Path(sys.executable).with_name("tokenward")
COMMAND = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from tokenward.cli.main import main; main()"]
)
URL = re.compile(r"http://127\.0\.0\.1:\d+/")


@dataclass
class Demo:
    process: subprocess.Popen[str]
    url: str
    stderr: Path

    def folder(self) -> Path:
        """The temporary data folder the demo reported creating."""
        found = re.search(r"created data folder (\S+)", self.stderr.read_text())
        assert found, self.stderr.read_text()
        return Path(found.group(1))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """``tokenward demo --port 0 --host-port 0``, once it printed its URL."""
    stderr = tmp_path / "demo.stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [*COMMAND, "demo", "--port", "0", "--host-port", "0"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the demo is ready (or exits)
        found = URL.search(line)
        assert found, f"no URL in {line!r}; stderr:\n{stderr.read_text()}"
        yield Demo(process, found.group(0), stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.slow
def test_demo_connects_the_sandbox_provider_and_calls_a_method(
    demo: Demo, context: BrowserContext, artifacts: Path
) -> None:
    """Open the one printed URL, click Connect, sign in at the sandbox provider as demo/demo in
    the popup: the page shows the connection; click the method button: the provider's answer
    (who the token speaks for) is shown. SIGINT then stops the demo with status 0 and removes
    its temporary folder."""
    page = context.new_page()
    page.goto(demo.url)
    page.wait_for_function("window.tokenward !== undefined")
    page.screenshot(path=artifacts / "1-host-page.png", full_page=True)
    with context.expect_page() as opened:
        page.get_by_role("button", name="Connect Sandbox").click()
    popup = opened.value
    popup.wait_for_selector("#username")
    popup.fill("#username", "demo")
    popup.fill("#password", "demo")
    popup.screenshot(path=artifacts / "2-sandbox-login.png")
    popup.click("#login")
    page.wait_for_selector("#connection.ok")
    assert "Connected" in page.inner_text("#connection")
    page.screenshot(path=artifacts / "3-connected.png", full_page=True)
    page.get_by_role("button", name="Call “Get Me”").click()
    page.wait_for_selector("#result:not([hidden])")
    page.screenshot(path=artifacts / "4-method-called.png", full_page=True)
    assert "answered 200" in page.inner_text("#call-status")
    assert json.loads(page.inner_text("#result"))["sub"] == "demo"
    assert popup.is_closed()
    folder = demo.folder()
    assert folder.exists()
    assert "back up" not in demo.stderr.read_text()  # a folder for this run only
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(20) == 0
    assert not folder.exists()
    assert "stopped" in demo.stderr.read_text()
