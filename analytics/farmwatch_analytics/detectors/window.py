"""Bounded rolling statistics shared by the detectors: O(1) per reading, O(window) memory."""

from __future__ import annotations

import math
from collections import deque

__all__ = ["RollingMoments"]


class RollingMoments:
    """Mean and standard deviation of the last ``size`` values, updated in O(1).

    Running sums drift when values are large and the window is long, so the sums are recomputed
    from the buffer every ``size`` pushes (amortised O(1)); values are shifted by the first one
    seen so that a large level with a small spread (1e6 ± 1) keeps its precision.

    >>> m = RollingMoments(3)
    >>> for v in (1.0, 2.0, 3.0, 4.0):
    ...     m.push(v)
    >>> m.mean(), round(m.std(), 6), m.count
    (3.0, 0.816497, 3)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1, got {size}")
        self.size = size
        self._buf: deque[float] = deque(maxlen=size)
        self._sum = 0.0
        self._sumsq = 0.0
        self._since_exact = 0
        self._shift: float | None = None

    @property
    def count(self) -> int:
        return len(self._buf)

    def push(self, x: float) -> None:
        if self._shift is None:
            self._shift = x
        x -= self._shift
        buf = self._buf
        if len(buf) == self.size:
            old = buf[0]
            self._sum -= old
            self._sumsq -= old * old
        buf.append(x)
        self._sum += x
        self._sumsq += x * x
        self._since_exact += 1
        if self._since_exact >= self.size:
            self._sum = math.fsum(buf)
            self._sumsq = math.fsum(v * v for v in buf)
            self._since_exact = 0

    def mean(self) -> float:
        n = len(self._buf)
        return self._sum / n + (self._shift or 0.0) if n else 0.0

    def std(self) -> float:
        n = len(self._buf)
        if n < 2:
            return 0.0
        mean = self._sum / n
        return math.sqrt(max(self._sumsq / n - mean * mean, 0.0))
