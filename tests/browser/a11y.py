"""The automated accessibility check of the browser tests: axe-core (from the npm registry,
pinned in ``tests/browser/axe/package-lock.json``; ``npm ci --prefix tests/browser/axe``) run in
the page under test. Any violation of impact *serious* or *critical* fails the test; the full
axe report is written to ``test-artifacts/browser/a11y/<name>.json`` either way.

The script is evaluated through the DevTools protocol (``page.evaluate``), not added as a
``<script>`` element, so the pages' nonce-based CSP does not block it and the pages need no
exception for the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from browser_support import ARTIFACTS
from playwright.sync_api import Page

__all__ = ["AXE_SCRIPT", "FAILING_IMPACTS", "assert_accessible", "axe_report"]

AXE_SCRIPT = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = frozenset({"serious", "critical"})
_REPORTS = ARTIFACTS / "a11y"

# Runs axe on the whole document with the WCAG 2.x A/AA rule sets and best practices; returns
# the plain JSON-able result (violations with their nodes).
_RUN = """async () => {
  const result = await window.axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    resultTypes: ["violations"]
  });
  return {url: result.url, violations: result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))
  }))};
}"""


def _axe_source() -> str:
    if not AXE_SCRIPT.exists():
        raise AssertionError(
            f"{AXE_SCRIPT} is missing: run `npm ci --prefix tests/browser/axe --no-audit "
            "--no-fund` (.ci/run does)"
        )
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_report(page: Page) -> dict[str, Any]:
    """axe-core's violations on the page as it is now (axe injected once per document)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Wrapped in a function so that the UMD preamble sees no `module`/`define` and sets
        # `window.axe`.
        page.evaluate("source => { (0, eval)(source); }", _axe_source())
    report: dict[str, Any] = page.evaluate(_RUN)
    return report


def _describe(violation: dict[str, Any]) -> str:
    nodes = "; ".join(
        f"{' '.join(map(str, node['target']))}: {node['summary']}".replace("\n", " ")
        for node in violation["nodes"][:5]
    )
    return f"[{violation['impact']}] {violation['id']} ({violation['help']}) at {nodes}"


def assert_accessible(page: Page, name: str) -> dict[str, Any]:
    """Fail when axe-core finds a serious or critical violation on ``page``; ``name`` names the
    report file (one per check). Returns the report (minor/moderate findings included)."""
    report = axe_report(page)
    _REPORTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    (_REPORTS / f"{safe}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    failing = [v for v in report["violations"] if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"accessibility violations on {name} ({report['url']}):\n" + "\n".join(
        _describe(v) for v in failing
    )
    return report
