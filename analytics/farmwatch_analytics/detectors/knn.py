"""Conformal k-nearest-neighbour scores on lagged windows, the idea of KNN-CAD.

Burnaev and Ishimtsev (2016), "Conformalized density- and distance-based anomaly detection in
time-series data" (arXiv:1608.04585): embed the series as windows of the last ``dim`` readings,
take the mean distance of the current window to its ``k`` nearest past windows as the
non-conformity, and report the fraction of recent non-conformities it exceeds (a conformal
p-value). The window makes it see *shapes* -- a pump cycle that stops, a daily swing that goes
flat -- that a per-reading z-score cannot; the conformal rank makes the score comparable across
series without knowing their scale.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt
from farmwatch_analytics.detectors.base import NEUTRAL_SCORE

__all__ = ["ConformalKNN"]

FloatArray = npt.NDArray[np.float64]


class ConformalKNN:
    """Conformal KNN distance of the last ``dim`` readings to the last ``bank`` such windows.

    Windows enter the bank ``dim`` readings late, so a window is never compared with itself
    shifted by one reading (which would make every smooth series look perfectly normal).
    ``calibration`` past non-conformities rank the current one. Memory: ``bank × dim`` floats.

    >>> from farmwatch_analytics.detectors.base import score_stream
    >>> import math
    >>> wave = [math.sin(2 * math.pi * i / 20) for i in range(600)]
    >>> scores = score_stream(ConformalKNN(dim=8, k=3, bank=200, calibration=100), wave + [3.0])
    >>> scores[-1], sum(scores[400:600]) / 200 < 0.75
    (1.0, True)
    """

    def __init__(self, dim: int = 10, k: int = 5, bank: int = 1500, calibration: int = 500) -> None:
        self.dim = dim
        self.k = k
        self.bank = bank
        self.calibration = calibration
        self._recent: deque[float] = deque(maxlen=dim)
        self._pending: deque[FloatArray] = deque(maxlen=dim)
        self._bank: FloatArray | None = None
        self._bank_len = 0
        self._bank_pos = 0
        self._alphas: FloatArray | None = None
        self._alpha_len = 0
        self._alpha_pos = 0
        self._lo = float("inf")
        self._hi = float("-inf")

    def __repr__(self) -> str:
        return (
            f"ConformalKNN(dim={self.dim!r}, k={self.k!r}, bank={self.bank!r}, "
            f"calibration={self.calibration!r})"
        )

    def _window(self, x: float) -> FloatArray | None:
        if len(self._recent) < self.dim - 1:
            return None
        window = np.empty(self.dim)
        window[: self.dim - 1] = list(self._recent)[-(self.dim - 1) :] if self.dim > 1 else []
        window[-1] = x
        return window

    def _alpha(self, window: FloatArray) -> float | None:
        if self._bank is None or self._bank_len < self.k:
            return None
        span = self._hi - self._lo
        if span <= 0.0:
            span = 1.0
        diff = self._bank[: self._bank_len] - window
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        nearest = np.partition(dist, self.k - 1)[: self.k]
        return float(nearest.mean()) / span

    def score_one(self, x: float, t: float | None = None) -> float:
        window = self._window(x)
        if window is None:
            return NEUTRAL_SCORE
        alpha = self._alpha(window)
        if alpha is None or self._alphas is None or self._alpha_len < self.calibration // 4:
            return NEUTRAL_SCORE
        calib = self._alphas[: self._alpha_len]
        return float(np.count_nonzero(calib < alpha)) / self._alpha_len

    def learn_one(self, x: float, t: float | None = None) -> None:
        window = self._window(x)
        if window is not None:
            alpha = self._alpha(window)
            if alpha is not None:
                if self._alphas is None:
                    self._alphas = np.empty(self.calibration)
                self._alphas[self._alpha_pos] = alpha
                self._alpha_pos = (self._alpha_pos + 1) % self.calibration
                self._alpha_len = min(self._alpha_len + 1, self.calibration)
            if len(self._pending) == self.dim:
                self._store(self._pending[0])
            self._pending.append(window)
        self._recent.append(x)
        self._lo = min(self._lo, x)
        self._hi = max(self._hi, x)

    def _store(self, window: FloatArray) -> None:
        if self._bank is None:
            self._bank = np.empty((self.bank, self.dim))
        self._bank[self._bank_pos] = window
        self._bank_pos = (self._bank_pos + 1) % self.bank
        self._bank_len = min(self._bank_len + 1, self.bank)
