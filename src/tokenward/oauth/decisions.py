"""Pure decisions about credentials over time: refresh now or not (and why), how long to wait.

Both functions take the clock and the randomness as arguments, so the scheduler, the on-demand
path and the tests all ask the same question and get the same, explainable answer
(STYLE.md habit 1; DESIGN.md §8; SECURITY.md §3.2 items 3-4, R-06, R-13).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "EXPIRED",
    "EXPIRING_SOON",
    "FRESH",
    "KEEPALIVE",
    "NO_REFRESH_TOKEN",
    "UNKNOWN_EXPIRY",
    "Decision",
    "backoff_delay",
    "refresh_decision",
    "refresh_margin",
]

EXPIRED = "expired"
EXPIRING_SOON = "expiring_soon"
KEEPALIVE = "keepalive"
FRESH = "fresh"
NO_REFRESH_TOKEN = "no_refresh_token"  # noqa: S105  (a reason code, not a secret)
UNKNOWN_EXPIRY = "unknown_expiry"

# Beyond this many doublings every sensible cap is reached; stops 2**attempt overflowing.
_MAX_DOUBLINGS = 62


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to refresh, and the reason code (logged, counted, shown in events)."""

    refresh: bool
    reason: str


def refresh_decision(
    *,
    now: datetime,
    expires_at: datetime | None,
    refresh_token_present: bool,
    last_refreshed: datetime | None,
    margin: timedelta,
    keepalive_after: timedelta | None,
) -> Decision:
    """Should this credential be refreshed now? (SECURITY.md §3.2 item 3.)

    In order: without a refresh token nothing can be refreshed (``no_refresh_token``); an
    expired token must be (``expired``); one inside ``margin`` of expiry should be
    (``expiring_soon``); an idle one past ``keepalive_after`` is, so providers that expire idle
    refresh tokens keep them alive (``keepalive``, R-13; with ``last_refreshed`` unknown the age
    is unknown, so it is due). Otherwise ``fresh`` — or ``unknown_expiry`` when the provider
    gave no lifetime: such a token is refreshed on a 401 only (T-04). All datetimes are aware.
    """
    if not refresh_token_present:
        return Decision(False, NO_REFRESH_TOKEN)
    if expires_at is not None and now >= expires_at:
        return Decision(True, EXPIRED)
    if expires_at is not None and expires_at - now <= margin:
        return Decision(True, EXPIRING_SOON)
    if keepalive_after is not None and (
        last_refreshed is None or now - last_refreshed >= keepalive_after
    ):
        return Decision(True, KEEPALIVE)
    return Decision(False, FRESH if expires_at is not None else UNKNOWN_EXPIRY)


def refresh_margin(
    lifetime: timedelta | None,
    *,
    floor: timedelta = timedelta(minutes=5),
    fraction: float = 0.1,
) -> timedelta:
    """How early to refresh: ``max(floor, fraction * lifetime)`` (SECURITY.md §3.2 item 3).

    Never more than the lifetime itself, or a short-lived token would always be "expiring soon"
    and be refreshed on every look.
    """
    if lifetime is None:
        return floor
    wanted = max(floor, lifetime * fraction)
    return min(wanted, lifetime / 2) if wanted >= lifetime else wanted


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None,
    rand: Callable[[], float],
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based), always within ``[0, cap]``.

    Exponential backoff with full jitter — ``rand() * min(cap, base * 2^attempt)`` — so
    providers are not hit in waves (SECURITY.md §3.2 item 4, R-06). A ``Retry-After`` from the
    provider is a floor (RFC 9110 §10.2.3), still bounded by ``cap``: the caller that sees
    ``retry_after > cap`` should end the attempts of this lease rather than wait longer.
    ``rand`` returns a float in [0, 1) (e.g. ``random.random``); out-of-range values are clamped.
    """
    if attempt < 0 or not (math.isfinite(base) and base >= 0 and math.isfinite(cap) and cap >= 0):
        raise ValueError("attempt, base and cap must be finite and non-negative")
    ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_DOUBLINGS))
    share = rand()
    share = 0.0 if not math.isfinite(share) else min(1.0, max(0.0, share))
    delay = share * ceiling
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        delay = max(delay, retry_after)
    return min(cap, max(0.0, delay))
