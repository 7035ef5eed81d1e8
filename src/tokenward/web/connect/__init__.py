"""The connect page (DESIGN.md §7): sign-in with a token, the page, its actions."""

from __future__ import annotations

from tokenward.web.connect.routes import router

__all__ = ["router"]
