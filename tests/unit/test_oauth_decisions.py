"""Refresh decisions with reason codes and jittered backoff (SECURITY.md §3.2, R-06, R-13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.oauth.decisions import Decision, backoff_delay, refresh_decision, refresh_margin

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("expires_in", "has_refresh", "refreshed_ago", "keepalive", "expected"),
    [
        (None, False, None, DAY, Decision(False, "no_refresh_token")),
        (-MIN, False, MIN, None, Decision(False, "no_refresh_token")),
        (-MIN, True, MIN, None, Decision(True, "expired")),
        (timedelta(0), True, MIN, None, Decision(True, "expired")),
        (5 * MIN, True, MIN, None, Decision(True, "expiring_soon")),
        (4 * MIN, True, MIN, DAY, Decision(True, "expiring_soon")),
        (60 * MIN, True, 2 * DAY, DAY, Decision(True, "keepalive")),
        (60 * MIN, True, DAY, DAY, Decision(True, "keepalive")),
        (60 * MIN, True, None, DAY, Decision(True, "keepalive")),
        (None, True, 2 * DAY, DAY, Decision(True, "keepalive")),
        (60 * MIN, True, MIN, DAY, Decision(False, "fresh")),
        (60 * MIN, True, None, None, Decision(False, "fresh")),
        (None, True, MIN, DAY, Decision(False, "unknown_expiry")),
        (None, True, None, None, Decision(False, "unknown_expiry")),
    ],
)
def test_r13_refresh_decision_table(
    expires_in: timedelta | None,
    has_refresh: bool,
    refreshed_ago: timedelta | None,
    keepalive: timedelta | None,
    expected: Decision,
) -> None:
    """Each situation gives the expected refresh verdict and reason code."""
    decision = refresh_decision(
        now=NOW,
        expires_at=None if expires_in is None else NOW + expires_in,
        refresh_token_present=has_refresh,
        last_refreshed=None if refreshed_ago is None else NOW - refreshed_ago,
        margin=5 * MIN,
        keepalive_after=keepalive,
    )
    assert decision == expected


@pytest.mark.parametrize(
    ("lifetime", "expected"),
    [
        (None, 5 * MIN),
        (timedelta(hours=1), 6 * MIN),
        (timedelta(hours=10), 60 * MIN),
        (timedelta(minutes=20), 5 * MIN),
        (timedelta(minutes=4), 2 * MIN),
    ],
)
def test_refresh_margin(lifetime: timedelta | None, expected: timedelta) -> None:
    """The margin is max(5 min, 10 % of lifetime), and at most half of a short lifetime."""
    assert refresh_margin(lifetime) == expected


@given(st.integers(1, 10**7))
def test_refresh_margin_never_swallows_the_lifetime(seconds: int) -> None:
    """A freshly issued token is never already inside its own refresh margin."""
    lifetime = timedelta(seconds=seconds)
    assert timedelta(0) < refresh_margin(lifetime) < lifetime


def test_r06_backoff_grows_exponentially_under_the_cap() -> None:
    """With rand()=1 the delay doubles per attempt until the cap."""
    delays = [
        backoff_delay(n, base=1, cap=10, retry_after=None, rand=lambda: 1.0) for n in range(6)
    ]
    assert delays == [1, 2, 4, 8, 10, 10]


def test_r06_full_jitter() -> None:
    """The delay is the random share of the exponential ceiling."""
    assert backoff_delay(3, base=1, cap=60, retry_after=None, rand=lambda: 0.25) == 2.0
    assert backoff_delay(3, base=1, cap=60, retry_after=None, rand=lambda: 0.0) == 0.0


@pytest.mark.parametrize(("retry_after", "expected"), [(30, 30), (5, 8), (300, 60), (None, 8)])
def test_r06_retry_after_is_a_floor_bounded_by_the_cap(
    retry_after: float | None, expected: float
) -> None:
    """Retry-After raises the delay, but never past the cap."""
    delay = backoff_delay(3, base=1, cap=60, retry_after=retry_after, rand=lambda: 1.0)
    assert delay == expected


@pytest.mark.parametrize(("attempt", "base", "cap"), [(-1, 1, 1), (0, -1, 1), (0, 1, float("inf"))])
def test_backoff_refuses_nonsense_arguments(attempt: int, base: float, cap: float) -> None:
    """Negative attempts, bases or caps (or an infinite cap) are programming errors."""
    with pytest.raises(ValueError, match="non-negative"):
        backoff_delay(attempt, base=base, cap=cap, retry_after=None, rand=lambda: 0.5)


@given(
    attempt=st.integers(0, 10**6),
    base=st.floats(0, 1e6),
    cap=st.floats(0, 1e6),
    retry_after=st.none() | st.floats(allow_nan=True),
    share=st.floats(allow_nan=True),
)
def test_r06_backoff_always_within_zero_and_cap(
    attempt: int, base: float, cap: float, retry_after: float | None, share: float
) -> None:
    """Whatever the attempt, Retry-After or random source, the delay stays in [0, cap]."""
    delay = backoff_delay(attempt, base=base, cap=cap, retry_after=retry_after, rand=lambda: share)
    assert 0 <= delay <= cap
