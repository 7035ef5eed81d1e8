"""Pure ASGI middleware: security headers, body limit, access log and metrics, idempotency,
trailing slashes.

One module per middleware; the classes are re-exported here for the app factory.
"""

from __future__ import annotations

from tokenward.web.middleware.access_log import AccessLogMiddleware
from tokenward.web.middleware.body_limit import BodyLimitMiddleware
from tokenward.web.middleware.idempotency import IdempotencyMiddleware
from tokenward.web.middleware.security_headers import SecurityHeadersMiddleware
from tokenward.web.middleware.trailing_slash import TrailingSlashMiddleware

__all__ = [
    "AccessLogMiddleware",
    "BodyLimitMiddleware",
    "IdempotencyMiddleware",
    "SecurityHeadersMiddleware",
    "TrailingSlashMiddleware",
]
