"""``tokenward demo``: the whole connect flow on one machine, with no external account
(docs/demo.md)."""

from tokenward.demo.runner import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
