"""What every console route shares: the way to the sign-in page, refusals and error statuses."""

from __future__ import annotations

from fastapi.responses import Response

from tokenward.errors import ServiceError, StoreError
from tokenward.services.console_auth import ConsoleIdentity
from tokenward.web.console.pages import redirect, render
from tokenward.web.errors import STATUS

__all__ = ["CSRF_MESSAGE", "csrf_refused", "failure", "status_of", "to_login"]

CSRF_MESSAGE = (
    "This form has expired or did not come from this console, so nothing was changed. "
    "Reload the page and try again."
)


def to_login() -> Response:
    return redirect("/console/login")


def csrf_refused(identity: ConsoleIdentity | None) -> Response:
    """403: the POST's CSRF token is missing or not its session's; nothing changed."""
    return render(
        "console_message.html",
        title="Request refused",
        identity=identity,
        status=403,
        error=CSRF_MESSAGE,
    )


def status_of(exc: Exception) -> int:
    if isinstance(exc, ServiceError):
        return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 400)
    if isinstance(exc, StoreError):
        return 503
    return 502  # the provider could not be used (ProtocolError)


def failure(exc: Exception) -> str:
    """The message to show for a refused action (never a secret: services' messages are not)."""
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, StoreError):
        return "The service cannot reach its database; try again shortly."
    return "The provider could not be used; see the account connector's last error."
