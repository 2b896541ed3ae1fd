"""Token buckets per client, for the API's public endpoints.

Each key (bucket name, client IP) holds up to ``burst`` tokens and regains ``per_minute``
a minute; a request takes one or is refused with the seconds until one is back (the HTTP
``Retry-After``). In-process: every API process (each ``--workers`` worker) limits on its
own, so N processes allow N times the rate — fine against guessing ack codes or tokens, which
needs millions of tries, and no shared store to run. Memory is bounded: past ``max_keys``
clients the full (idle) buckets are forgotten first, then the oldest.

    >>> t = [0.0]
    >>> limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: t[0])
    >>> limiter.take("ip"), limiter.take("ip"), limiter.take("ip")
    (0.0, 0.0, 1.0)
    >>> t[0] = 1.0
    >>> limiter.take("ip"), limiter.take("other")
    (0.0, 0.0)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by anything hashable (e.g. ``("ack", "203.0.113.7")``)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _level(self, key: Hashable, now: float) -> float:
        level, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, level + (now - at) * self.rate)

    def take(self, key: Hashable) -> float:
        """0.0 if a token was taken, else the seconds to wait for one (nothing taken)."""
        with self._lock:
            now = self.clock()
            level = self._level(key, now)
            if level < 1.0:
                self._buckets[key] = (level, now)
                return (1.0 - level) / self.rate
            self._buckets[key] = (level - 1.0, now)
            self._buckets.move_to_end(key)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return 0.0

    def peek(self, key: Hashable) -> float:
        """Like :meth:`take` but takes nothing: the wait if the bucket is empty, else 0.0."""
        with self._lock:
            level = self._level(key, self.clock())
            return 0.0 if level >= 1.0 else (1.0 - level) / self.rate

    def _forget(self, now: float) -> None:
        for key in [k for k in self._buckets if self._level(k, now) >= self.burst]:
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
