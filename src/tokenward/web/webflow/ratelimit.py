"""A per-client token bucket for the webflow's endpoints (SECURITY.md C-10).

In-process and approximate on purpose: it makes floods of manufactured callbacks and sign-in
attempts cheap to refuse before any database or provider work, without a shared store. Each
process of a multi-host deployment keeps its own buckets.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``per_minute`` requests per key, in bursts of up to ``per_minute``."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, updated)
        self._lock = threading.Lock()

    def take(self, key: str) -> int | None:
        """None when the request may go ahead; else the seconds to wait (``Retry-After``)."""
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - updated) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / self.rate))
            if key not in self._buckets and len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # forgetting is safe: a bucket starts full anyway
            self._buckets[key] = (tokens - 1.0, now)
            return None
