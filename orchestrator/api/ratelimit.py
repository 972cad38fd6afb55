"""Per-token rate limiting: a token bucket per token, held in this API process's memory.

In-process rather than in PostgreSQL: checking costs no round trip, and with N API
processes behind a balancer a token gets at most N times its rate, which is the usual
trade-off (GitHub's and GitLab's limits are per node too). Buckets idle for long are dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate`` requests per second per key, with bursts of up to ``burst``."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Refill at ``rate``/s up to ``burst`` tokens; ``clock`` is injectable for tests."""
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one request for ``key``: 0 when allowed, else seconds until one is."""
        now = self._clock()
        with self._lock:
            level, then = self._buckets.get(key, (self._burst, now))
            level = min(self._burst, level + (now - then) * self._rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            if len(self._buckets) > 10_000:
                self._forget_idle(now)
        return (1.0 - level) / self._rate if self._rate > 0 else math.inf

    def _forget_idle(self, now: float) -> None:
        full_after = self._burst / self._rate if self._rate > 0 else math.inf
        idle = [k for k, (_, then) in self._buckets.items() if now - then > full_after]
        for key in idle:
            del self._buckets[key]
