"""The webflow's paths, matched whatever their case.

Cyclr's documentation spells the start URL both ``/connectorauth/updateaccountconnectoroauth``
and ``/UpdateAccountConnectorOAuth`` casings (and ``/Account/SignInWithToken`` for the sign-in of
LAUNCH URLs), and .NET routing ignores case; FastAPI's does not.
This pure ASGI middleware rewrites a webflow path in any casing to the routed one; every other
path is left alone.
"""

from __future__ import annotations

from tokenward.web.middleware._asgi import ASGIApp, Receive, Scope, Send

__all__ = [
    "CALLBACK_PATH",
    "COMPLETE_PATH",
    "SIGNIN_PATH",
    "START_PATH",
    "WEBFLOW_PATHS",
    "WebflowPathMiddleware",
]

START_PATH = "/connectorauth/updateaccountconnectoroauth"
CALLBACK_PATH = "/connector/callback"
COMPLETE_PATH = "/connector/complete"
SIGNIN_PATH = "/account/signinwithtoken"  # LAUNCH/Marketplace URLs (web/connect)
WEBFLOW_PATHS = frozenset({START_PATH, CALLBACK_PATH, COMPLETE_PATH, SIGNIN_PATH})


class WebflowPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in WEBFLOW_PATHS:
            lowered = path.lower()
            if lowered in WEBFLOW_PATHS:
                scope = dict(scope)
                scope["path"] = lowered
                scope["raw_path"] = lowered.encode()
        await self.app(scope, receive, send)
