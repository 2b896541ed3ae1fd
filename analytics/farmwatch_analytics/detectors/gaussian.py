"""Windowed Gaussian: the textbook baseline every other detector has to beat.

It is NAB's "Windowed Gaussian" detector (published standard score 39.6): the reading's
two-sided Gaussian tail against the mean and standard deviation of the last ``window``
readings. We keep it because its score is easy to explain to a farmer ("far outside the usual
spread") and because ``bench/nab.py`` reports it next to the ensemble, so the README can show
what the ensemble's extra parts buy.
"""

from __future__ import annotations

import math

from farmwatch_analytics.detectors.base import NEUTRAL_SCORE
from farmwatch_analytics.detectors.window import RollingMoments

__all__ = ["WindowedGaussian"]


class WindowedGaussian:
    """Score ``erf(|z| / sqrt 2)``: the probability mass closer to the mean than ``x``.

    ``window`` is NAB's own setting for this detector (6,400 readings, about three weeks of
    5-minute data); ``warmup`` readings are learned before it scores anything.

    >>> from farmwatch_analytics.detectors.base import score_stream
    >>> scores = score_stream(WindowedGaussian(window=100, warmup=10), [0.0, 1.0] * 20 + [0.5, 9])
    >>> round(scores[-2], 3), scores[-1] > 0.999
    (0.0, True)
    """

    def __init__(self, window: int = 6400, warmup: int = 30) -> None:
        self.window = window
        self.warmup = warmup
        self._moments: RollingMoments | None = None

    def __repr__(self) -> str:
        return f"WindowedGaussian(window={self.window!r}, warmup={self.warmup!r})"

    def score_one(self, x: float, t: float | None = None) -> float:
        m = self._moments
        if m is None or m.count < self.warmup:
            return NEUTRAL_SCORE
        std = m.std()
        if std <= 0.0:
            return NEUTRAL_SCORE if x == m.mean() else 1.0
        return math.erf(abs(x - m.mean()) / (std * math.sqrt(2.0)))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._moments is None:
            self._moments = RollingMoments(self.window)
        self._moments.push(x)
