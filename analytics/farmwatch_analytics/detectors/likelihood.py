"""Anomaly likelihood: turn a stream of raw scores into "how unusual is this run of scores".

Raw anomaly scores differ wildly between series: a noisy series scores 0.9 all day, a calm one
never passes 0.3. Ahmad, Lavin, Purdy and Agha (2017), "Unsupervised real-time anomaly
detection for streaming data", Neurocomputing 262:134-147, section 4.3, fix this by comparing
the mean raw score of the last few readings with the distribution of such means over a long
history, and reporting the Gaussian tail of that comparison on a log scale. Two series, one
threshold: that is what a farm with hundreds of sensors needs, and what NAB measures (one
threshold over 58 series).
"""

from __future__ import annotations

import math
from collections import deque

from farmwatch_analytics.detectors.window import RollingMoments

__all__ = ["AnomalyLikelihood"]

#: 1e-10: the tail probability mapped to score 1 (Ahmad et al. 2017 use the same scale: their
#: log-likelihood is log(1.0000000001 - L) / log(1e-10)), so a tail of 1e-5 scores 0.5.
_LOG_FLOOR = math.log(1e-10)


class AnomalyLikelihood:
    """Raw score -> log-scaled upper-tail probability of its short-term mean, in [0, 1].

    ``short``: readings averaged (10 in Ahmad et al.). ``history``: how many averaged scores
    the reference distribution covers (8,640 in Ahmad et al.: a month of 5-minute data).
    ``learning``: averaged scores needed before anything but 0 is said. ``min_std``: the
    reference spread is at least this, so a detector that said exactly 0 for weeks does not turn
    its first 0.05 into a certainty.

    >>> ll = AnomalyLikelihood(short=3, history=100, learning=20)
    >>> calm = [ll.update(0.1 * (i % 3)) for i in range(60)]
    >>> max(calm) < 0.5, ll.update(1.0) > ll.update(0.0)
    (True, True)
    """

    def __init__(
        self, short: int = 10, history: int = 8640, learning: int = 300, min_std: float = 0.05
    ) -> None:
        self.short = short
        self.history = history
        self.learning = learning
        self.min_std = min_std
        self._recent: deque[float] = deque(maxlen=short)
        self._recent_sum = 0.0
        self._reference = RollingMoments(history)

    def __repr__(self) -> str:
        return (
            f"AnomalyLikelihood(short={self.short!r}, history={self.history!r}, "
            f"learning={self.learning!r}, min_std={self.min_std!r})"
        )

    def peek(self, raw: float) -> float:
        """The score ``update(raw)`` would return, without changing anything."""
        recent = self._recent
        total = self._recent_sum + raw
        n = len(recent) + 1
        if len(recent) == self.short:
            total -= recent[0]
            n -= 1
        return self._score(total / n)

    def update(self, raw: float) -> float:
        """Score ``raw`` against the reference distribution, then add it to that distribution."""
        score = self.peek(raw)
        recent = self._recent
        if len(recent) == self.short:
            self._recent_sum -= recent[0]
        recent.append(raw)
        self._recent_sum += raw
        self._reference.push(self._recent_sum / len(recent))
        return score

    def _score(self, mean_recent: float) -> float:
        ref = self._reference
        if ref.count < self.learning:
            return 0.0
        std = max(ref.std(), self.min_std)
        z = (mean_recent - ref.mean()) / std
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        return min(1.0, math.log(tail + 1e-10) / _LOG_FLOOR)
