"""Process anomalies: the farm behaving unlike itself, not a probe lying.

* :class:`DailyProfileDetector` learns what each hour of the day looks like for one quantity
  of one node (a pond's DO peaks in the afternoon, a barn's THI too) and scores how far a
  reading is from its hour's usual range. A DO of 5 mg/L is fine at 06:00 and alarming at
  15:00; a fixed threshold cannot say that, a daily profile can.
* :class:`IsolationForestDetector` looks at a node's quantities together (scikit-learn's
  IsolationForest over recent history, refit on a schedule): warm and humid and no rise in
  water use is odd for a barn even when each value alone is in range.
* :class:`RobustZScoreDetector`: rolling median and MAD, for the days before a daily profile
  has been learned.

All follow :mod:`farmwatch_analytics.detectors.base`: neutral score while learning, bounded
state, picklable (the analytics service persists them so a restart does not forget).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np
from farmwatch_analytics.detectors.base import NEUTRAL_SCORE
from farmwatch_analytics.detectors.forest import CompiledForest
from farmwatch_analytics.stateful import Stateful
from mypy_extensions import mypyc_attr

__all__ = ["DailyProfileDetector", "IsolationForestDetector", "RobustZScoreDetector"]


@mypyc_attr(allow_interpreted_subclasses=True)
class DailyProfileDetector(Stateful):
    """How far a reading is from its hour of the day's usual level, in robust units.

    Per hour bin (local time, ``utc_offset_h``) an exponentially weighted mean and mean
    absolute deviation; the score rises from 0 at ``limit`` deviations to 1 far beyond. The
    weights (``alpha`` per reading of that bin) make the profile follow the season within a
    couple of weeks. A bin says nothing until it has seen ``warmup_days`` of readings.

    >>> det = DailyProfileDetector(warmup_days=2)
    >>> for i in range(12 * 24 * 4):  # four days, every 5 minutes, a daily swing of ±2
    ...     t = i * 300.0
    ...     det.learn_one(6.0 + 2.0 * math.sin(2 * math.pi * t / 86400), t)
    >>> afternoon = 12 * 24 * 4 * 300.0 + 6 * 3600.0  # 13:00 local: the swing's top, 8.0
    >>> det.score_one(8.0, afternoon) < 0.1, det.score_one(4.0, afternoon) > 0.9
    (True, True)
    """

    def __init__(
        self,
        bins: int = 24,
        alpha: float = 0.02,
        limit: float = 4.0,
        warmup_days: float = 3.0,
        utc_offset_h: float = 7.0,
    ) -> None:
        self.bins = bins
        self.alpha = alpha
        self.limit = limit
        self.warmup_days = warmup_days
        self.utc_offset_h = utc_offset_h
        self._mean: list[float | None] = [None] * bins
        self._spread: list[float] = [0.0] * bins
        self._count: list[int] = [0] * bins
        self._per_day: float | None = None  # readings per bin per day, from the first day
        self._first_t: float | None = None

    def __repr__(self) -> str:
        return (
            f"DailyProfileDetector(bins={self.bins!r}, alpha={self.alpha!r}, "
            f"limit={self.limit!r}, warmup_days={self.warmup_days!r}, "
            f"utc_offset_h={self.utc_offset_h!r})"
        )

    def _bin(self, t: float) -> int:
        return int(((t / 3600.0 + self.utc_offset_h) % 24.0) * self.bins / 24.0)

    def ready(self, t: float) -> bool:
        """Whether the profile has learned long enough to score readings at ``t``."""
        return self._first_t is not None and t - self._first_t >= self.warmup_days * 86400

    def deviation(self, x: float, t: float) -> float | None:
        """Robust deviations of ``x`` from its hour's level, or ``None`` while learning."""
        b = self._bin(t)
        mean = self._mean[b]
        if mean is None or self._first_t is None or t - self._first_t < self.warmup_days * 86400:
            return None
        return abs(x - mean) / max(self._spread[b] * 1.2533, 1e-9)

    def score_one(self, x: float, t: float | None = None) -> float:
        if t is None or math.isnan(x):
            return NEUTRAL_SCORE
        z = self.deviation(x, t)
        if z is None or z <= self.limit:
            return NEUTRAL_SCORE
        return 1.0 - math.exp(-(z - self.limit) / self.limit)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None or math.isnan(x):
            return
        self._learn(x, t, self._bin(t))

    def update(self, x: float, t: float, guard: float) -> float:
        """``score_one``, then ``learn_one`` unless the score reached ``guard``, in one pass.

        The analytics engine does exactly that for every reading (a flagged reading is not
        learned); one hour-bin lookup instead of three. Equal to the two calls by test.
        """
        score = self.update_ready(x, t, guard)
        if score is not None:
            return score
        if not math.isnan(x) and guard > NEUTRAL_SCORE:  # still learning: learn it
            self._learn(x, t, self._bin(t))
        return NEUTRAL_SCORE

    def update_ready(self, x: float, t: float, guard: float) -> float | None:
        """``update`` when the profile is ``ready`` at ``t``; ``None`` (nothing done) if not.

        The engine asks both for every reading of a node with a profile; one call, and the
        warm-up test once, instead of two. Equal to ``ready`` then ``update`` by test.
        """
        first = self._first_t
        if first is None or not t - first >= self.warmup_days * 86400:
            return None
        if math.isnan(x):
            return NEUTRAL_SCORE
        b = self._bin(t)
        mean = self._mean[b]
        score = NEUTRAL_SCORE
        if mean is not None:
            z = abs(x - mean) / max(self._spread[b] * 1.2533, 1e-9)
            if z > self.limit:
                score = 1.0 - math.exp(-(z - self.limit) / self.limit)
        if score < guard:
            self._learn(x, t, b)
        return score

    def _learn(self, x: float, t: float, b: int) -> None:
        if self._first_t is None:
            self._first_t = t
        mean = self._mean[b]
        self._count[b] += 1
        if mean is None:
            self._mean[b] = x
            return
        # A running mean for the first readings of a bin, then the EWMA: early bins settle
        # fast without letting the first reading dominate.
        rate = max(self.alpha, 1.0 / self._count[b])
        deviation = abs(x - mean)
        if self._count[b] > 2 and self._spread[b] > 0.0:
            deviation = min(deviation, 4.0 * self._spread[b])  # one outlier can't blow it up
        self._spread[b] += rate * (deviation - self._spread[b])
        self._mean[b] = mean + rate * (x - mean)


@mypyc_attr(allow_interpreted_subclasses=True)
class RobustZScoreDetector(Stateful):
    """How far a reading is from the recent median, in robust units (median / MAD).

    The rolling statistics need no history of the time of day, so they work from the first
    hours of a new node, while :class:`DailyProfileDetector` is still learning its profile
    (the engine uses this one for exactly that period). Median and MAD (scaled by 1.4826 to
    a normal SD, Rousseeuw & Croux 1993) of the last ``window`` readings are recomputed every
    ``refresh`` readings, so a reading costs O(1) amortised plus a sort per refresh; a MAD
    below ``min_mad`` (a sensor at a constant level) is raised to it. The score rises from 0
    at ``limit`` robust deviations to 1 far beyond; nothing is scored before ``warmup``
    readings. With a one-day window a normal daily swing stays inside the limit.

    >>> det = RobustZScoreDetector(window=100, refresh=10, warmup=50)
    >>> for i in range(120):
    ...     det.learn_one(20.0 + 0.5 * math.sin(i / 5))
    >>> det.score_one(20.3) == 0.0, det.score_one(26.0) > 0.5
    (True, True)
    """

    def __init__(
        self,
        window: int = 288,
        refresh: int = 12,
        limit: float = 6.0,
        warmup: int = 72,
        min_mad: float = 1e-6,
    ) -> None:
        self.window = window
        self.refresh = refresh
        self.limit = limit
        self.warmup = warmup
        self.min_mad = min_mad
        self._values: deque[float] = deque(maxlen=window)
        self._since = refresh
        self._median = 0.0
        self._scale = math.inf

    def __repr__(self) -> str:
        return (
            f"RobustZScoreDetector(window={self.window!r}, refresh={self.refresh!r}, "
            f"limit={self.limit!r}, warmup={self.warmup!r}, min_mad={self.min_mad!r})"
        )

    def score_one(self, x: float, t: float | None = None) -> float:
        if len(self._values) < self.warmup or math.isnan(x):
            return NEUTRAL_SCORE
        z = abs(x - self._median) / self._scale
        if z <= self.limit:
            return NEUTRAL_SCORE
        return 1.0 - math.exp(-(z - self.limit) / self.limit)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if math.isnan(x):
            return
        self._values.append(x)
        self._since += 1
        if self._since >= self.refresh:
            ordered = sorted(self._values)
            median = ordered[len(ordered) // 2]
            deviations = sorted(abs(v - median) for v in ordered)
            self._median = median
            self._scale = 1.4826 * max(deviations[len(deviations) // 2], self.min_mad)
            self._since = 0


@mypyc_attr(allow_interpreted_subclasses=True)
class IsolationForestDetector(Stateful):
    """A node's record as a whole, scored by an IsolationForest fitted on its recent past.

    ``x`` maps quantity → value (one record, or the analytics engine's hourly means of a
    node). The forest (scikit-learn's, Liu, Ting & Zhou 2008) is fitted on the last
    ``history`` rows once ``min_fit`` have been seen, and refitted on a schedule: whenever the
    rows since the last fit reach the number it was fitted on (so early models improve fast:
    fits at ``min_fit``, twice that, four times...), and at least every ``refit_every`` rows,
    so it follows the season. Between fits it is frozen, which is what makes scoring cheap
    and streaming-honest (each score uses a model fitted on earlier rows only).

    The raw isolation score is turned into the share of the training rows that were more
    normal, so 0.99 means "stranger than 99 % of the last ``history`` rows", and 1.0 "stranger
    than all of them". Rows missing a quantity the model knows are scored neutral (the fault
    detectors handle missing data). The fitted trees are kept as a
    :class:`~farmwatch_analytics.detectors.forest.CompiledForest`: scoring one row costs
    ~70 µs instead of scikit-learn's ~4 ms, and the pickled state needs no scikit-learn.

    >>> import random
    >>> rng = random.Random(3)
    >>> det = IsolationForestDetector(history=500, min_fit=300, refit_every=300, seed=1)
    >>> for _ in range(400):
    ...     t = rng.uniform(20, 35)
    ...     det.learn_one({"air_temperature": t, "relative_humidity": 140 - 2.5 * t})
    >>> det.score_one({"air_temperature": 28, "relative_humidity": 70}) < 0.9
    True
    >>> det.score_one({"air_temperature": 34, "relative_humidity": 95}) > 0.99
    True
    """

    multivariate = True  # x is a record (quantity → value), not one reading

    def __init__(
        self,
        history: int = 2016,
        min_fit: int = 576,
        refit_every: int = 288,
        trees: int = 64,
        seed: int = 0,
    ) -> None:
        self.history = history
        self.min_fit = min_fit
        self.refit_every = refit_every
        self.trees = trees
        self.seed = seed
        self._rows: deque[tuple[float, ...]] = deque(maxlen=history)
        self._keys: tuple[str, ...] | None = None
        self._forest: CompiledForest | None = None
        self._train_scores: list[float] = []  # sorted raw scores of the rows fitted on
        self._since_fit = 0
        self._fitted_on = 0
        self.fits = 0

    def __repr__(self) -> str:
        return (
            f"IsolationForestDetector(history={self.history!r}, min_fit={self.min_fit!r}, "
            f"refit_every={self.refit_every!r}, trees={self.trees!r}, seed={self.seed!r})"
        )

    @property
    def ready(self) -> bool:
        """Whether a model has been fitted (before that every score is neutral)."""
        return self._forest is not None

    @property
    def fitted_on(self) -> int:
        """How many rows the current model was fitted on (0 before the first fit)."""
        return self._fitted_on

    def _vector(self, x: Mapping[str, float]) -> tuple[float, ...] | None:
        if self._keys is None:
            return None
        try:
            row = tuple(float(x[key]) for key in self._keys)
        except KeyError:
            return None
        return None if any(math.isnan(v) for v in row) else row

    def raw_score(self, x: Mapping[str, float]) -> float | None:
        """The forest's isolation score of ``x`` (0.5 ordinary, → 1 isolated), or ``None``."""
        row = self._vector(x)
        if self._forest is None or row is None:
            return None
        return self._forest.score(row)

    def score_many(self, records: Sequence[Mapping[str, float]]) -> list[float]:
        """Scores of several records with the current model (``score_one`` on each)."""
        return [self.score_one(record) for record in records]

    def rank(self, raw: float | None) -> float:
        """A raw isolation score as the share of the fitted rows that were more normal."""
        if raw is None or not self._train_scores:
            return NEUTRAL_SCORE
        return bisect.bisect_left(self._train_scores, raw) / len(self._train_scores)

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        return self.rank(self.raw_score(x))

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        if self._keys is None:
            self._keys = tuple(sorted(x))
        row = self._vector(x)
        if row is None:
            return
        self._rows.append(row)
        self._since_fit += 1
        if len(self._rows) < self.min_fit:
            return
        due = self._forest is None or self._since_fit >= min(self.refit_every, self._fitted_on)
        if due:
            self._fit()

    def _fit(self) -> None:
        matrix = np.asarray(self._rows, dtype=float)
        self._forest, scores = CompiledForest.fit(matrix, self.trees, self.seed + self.fits)
        self._train_scores = sorted(scores.tolist())
        self._since_fit = 0
        self._fitted_on = len(matrix)
        self.fits += 1
