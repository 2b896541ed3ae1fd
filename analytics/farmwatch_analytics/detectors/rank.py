"""Empirical tail: how extreme a reading is among the last ``window`` readings, by rank alone.

The Gaussian view assumes thin tails; request counts, tweet volumes and pump currents have fat
ones, where a "5-sigma" reading happens every day. Ranking the reading among recent ones makes no
assumption about the shape: a reading is rare only if such readings were actually rare.
"""

from __future__ import annotations

import bisect
from collections import deque

from farmwatch_analytics.detectors.base import NEUTRAL_SCORE

__all__ = ["EmpiricalTail"]


class EmpiricalTail:
    """Score ``1 - 2 × (smoothed two-sided tail rank)`` of ``x`` among the last ``window``.

    The tail is ``(readings at least as extreme + 1) / (n + 1)``, so a new record among ``n``
    readings scores ``1 - 2 / (n + 1)`` and a median reading about 0. Memory: ``2 × window``
    floats (the window in arrival order and sorted).

    >>> from farmwatch_analytics.detectors.base import score_stream
    >>> values = [float(i % 7) for i in range(99)] + [50.0]
    >>> scores = score_stream(EmpiricalTail(window=100, warmup=10), values)
    >>> scores[-1] > 0.97, scores[-2] < 0.9
    (True, True)
    """

    def __init__(self, window: int = 6400, warmup: int = 30) -> None:
        self.window = window
        self.warmup = warmup
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def __repr__(self) -> str:
        return f"EmpiricalTail(window={self.window!r}, warmup={self.warmup!r})"

    def score_one(self, x: float, t: float | None = None) -> float:
        ordered = self._sorted
        n = len(ordered)
        if n < self.warmup:
            return NEUTRAL_SCORE
        below = bisect.bisect_right(ordered, x)  # readings <= x
        above = n - bisect.bisect_left(ordered, x)  # readings >= x
        tail = (min(below, above) + 1) / (n + 1)
        return max(0.0, 1.0 - 2.0 * tail)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if len(self._fifo) == self.window:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._fifo.append(x)
        bisect.insort(self._sorted, x)
