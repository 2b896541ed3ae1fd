"""Sensor-fault detectors: is the probe lying, rather than is the farm in trouble?

A farmer who gets "DO 0.0 mg/L" at 3 a.m. from a probe that came loose has to trust farmwatch
less the next time, so faults are told apart from process anomalies and routed differently
(to the cooperative's technician, not as a pond emergency). Each detector watches one node's
one quantity and follows the streaming interface of :mod:`farmwatch_analytics.detectors.base`;
scores of :data:`ALARM` (0.5) and above mean "this reading is faulty".

Each detector learns what normal looks like *for this sensor* (how often a DO probe repeats a
value, how big a normal step of an illuminance sensor is) instead of using fixed constants,
because the quantities differ by orders of magnitude, and none learns from the readings it
flags, so a lasting fault never becomes the new normal.

========================  ====================================================================
fault (simulator label)   detector
========================  ====================================================================
out of range              :class:`RangeDetector`: outside the plausible band of the quantity
stuck                     :class:`FlatlineDetector`: a run of identical values far longer than
                          this sensor's normal runs
spike, unit error         :class:`SpikeDetector`: a step far beyond this sensor's normal steps,
                          held while the value stays away from the last trusted one
noise burst               :class:`NoiseDetector`: the last hour's steps several times the normal
drift                     :class:`NeighbourDriftDetector`: the difference to the other
                          nodes of the farm, its 1-, 6- and 12-hour means against their own
                          spreads, and a change-point test for a jump; :class:`DriftDetector`
                          for a lone node: CUSUM of the residual from its own daily profile
dropout / offline         :class:`DropoutDetector`: a silence of several reporting intervals
battery death             :class:`BatteryDetector`: low voltage or a discharge far steeper than
                          a night's
========================  ====================================================================
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from farmwatch_analytics.detectors.base import NEUTRAL_SCORE
from farmwatch_analytics.stateful import Stateful
from mypy_extensions import mypyc_attr

__all__ = [
    "ALARM",
    "BatteryDetector",
    "DriftDetector",
    "DropoutDetector",
    "FlatlineDetector",
    "NeighbourDriftDetector",
    "NoiseDetector",
    "RangeDetector",
    "SpikeDetector",
]

ALARM = 0.5  # a score at or above this flags the reading


def _ramp(excess: float, scale: float) -> float:
    """Map how far past its threshold a statistic is onto [ALARM, 1)."""
    if excess < 0.0:
        return NEUTRAL_SCORE
    return ALARM + (1.0 - ALARM) * (1.0 - math.exp(-excess / max(scale, 1e-12)))


@mypyc_attr(allow_interpreted_subclasses=True)
class RangeDetector(Stateful):
    """Readings outside ``[low, high]``: a plausibility band tighter than the contract's bounds.

    The contract's bounds reject the physically impossible at ingest; this catches the merely
    implausible (a pond at 45 °C, a Fahrenheit number declared as Celsius that happens to fit).

    >>> RangeDetector(0.0, 40.0).score_one(86.0), RangeDetector(0.0, 40.0).score_one(30.0)
    (1.0, 0.0)
    """

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high

    def __repr__(self) -> str:
        return f"RangeDetector(low={self.low!r}, high={self.high!r})"

    def learn_one(self, x: float, t: float | None = None) -> None:
        """Nothing to learn: the band is configuration."""

    def score_one(self, x: float, t: float | None = None) -> float:
        if math.isnan(x) or x < self.low or x > self.high:
            return 1.0
        return NEUTRAL_SCORE


@mypyc_attr(allow_interpreted_subclasses=True)
class FlatlineDetector(Stateful):
    """A stuck sensor: the same value repeated far longer than this sensor's normal runs.

    A DO probe that reports two decimals rarely repeats itself three times; a rain gauge sits
    at 0 for days. So the threshold is ``factor`` times the longest run seen in normal data
    (at least ``min_run`` readings), and values in ``ignore`` (a rain gauge's 0, a lux meter's
    dark night) never count as stuck. It says nothing during ``warmup`` (a day of 5-minute
    readings): the longest normal run needs that long to be seen.

    >>> det = FlatlineDetector(min_run=6, warmup=50)
    >>> for i in range(200):
    ...     det.learn_one(5.0 + 0.01 * (i % 7))
    >>> scores = []
    >>> for _ in range(10):
    ...     scores.append(det.score_one(4.2)); det.learn_one(4.2)
    >>> scores.index(next(s for s in scores if s >= ALARM))  # flagged from the 6th repeat
    5
    """

    def __init__(
        self,
        min_run: int = 8,
        factor: float = 2.5,
        tolerance: float = 0.0,
        ignore: tuple[float, ...] = (),
        warmup: int = 288,
    ) -> None:
        self.min_run = min_run
        self.factor = factor
        self.tolerance = tolerance
        self.ignore = ignore
        self.warmup = warmup
        self._last: float | None = None
        self._run = 0
        self._longest_normal = 1
        self._seen = 0

    def __repr__(self) -> str:
        return (
            f"FlatlineDetector(min_run={self.min_run!r}, factor={self.factor!r}, "
            f"tolerance={self.tolerance!r}, ignore={self.ignore!r}, warmup={self.warmup!r})"
        )

    def _threshold(self) -> float:
        return max(float(self.min_run), self.factor * self._longest_normal)

    def _run_with(self, x: float) -> int:
        if self._last is not None and abs(x - self._last) <= self.tolerance:
            return self._run + 1
        return 1

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._seen < self.warmup or any(abs(x - v) <= self.tolerance for v in self.ignore):
            return NEUTRAL_SCORE
        threshold = self._threshold()
        return _ramp(self._run_with(x) - threshold, threshold)

    def learn_one(self, x: float, t: float | None = None) -> None:
        run = self._run_with(x)
        warming = self._seen < self.warmup
        if run == 1 and self._run > 0 and (warming or self._run < self._threshold()):
            # A run just ended unflagged (or while learning what normal is): learn its length.
            self._longest_normal = max(self._longest_normal, self._run)
        self._last, self._run = x, run
        self._seen += 1


@mypyc_attr(allow_interpreted_subclasses=True)
class _StepScale(Stateful):
    """The distribution of a sensor's normal step sizes |x − previous|, over a bounded window.

    Quantiles are recomputed every ``refresh`` steps, not per reading, to keep scoring O(1).
    The window is a numpy ring buffer (grown by doubling up to ``window``: 16 kB for a week
    of 5-minute steps, a quarter of what a deque of Python floats takes) and a refresh picks
    the two order statistics with ``np.partition`` (~12 µs for 2,016 steps, where sorting
    them costs ~80 µs): the same values a sort would give. A NaN step has no place in an
    order and is skipped (ingest refuses NaN readings anyway).
    """

    def __init__(self, window: int, refresh: int = 64) -> None:
        self.window = window
        self.refresh = refresh
        self._since = refresh
        self.median = 0.0
        self.high = 0.0
        self.count = 0  # steps in the window
        self._buffer: np.ndarray[Any, np.dtype[np.float64]] = np.empty(0)
        self._oldest = 0  # once full, where the oldest step is (the next to be replaced)

    def add(self, step: float) -> None:
        if step != step:  # noqa: PLR0124 -- NaN (math.isnan costs a call, on every reading)
            return
        buffer, count = self._buffer, self.count
        if count < self.window:
            if count == len(buffer):
                grown = np.zeros(min(self.window, max(64, 2 * count)))
                grown[:count] = buffer
                self._buffer = buffer = grown
            buffer[count] = step
            self.count = count = count + 1
        else:
            oldest = self._oldest
            buffer[oldest] = step
            self._oldest = oldest + 1 if oldest + 1 < count else 0
        self._since += 1
        if self._since >= self.refresh:
            middle, high = count // 2, min(count - 1, int(0.999 * count))
            ordered = np.partition(buffer[:count], (middle, high))
            self.median = float(ordered[middle])
            self.high = float(ordered[high])
            self._since = 0


@mypyc_attr(allow_interpreted_subclasses=True)
class SpikeDetector(Stateful):
    """A step far beyond this sensor's normal steps, held while the value stays off.

    The reference is the last *trusted* reading, so a spike's return to normal is not a second
    alarm, and a lasting jump (a unit error: °F sent as °C, % sent as a fraction) stays flagged
    until it ends, or for ``relearn_after`` readings, after which the new level is accepted (a
    replaced probe is not a fault forever).

    >>> det = SpikeDetector()
    >>> for i in range(300):
    ...     det.learn_one(20.0 + 0.1 * math.sin(i / 5))
    >>> det.score_one(50.0) >= ALARM, det.score_one(20.0 + 0.1 * math.sin(300 / 5)) < ALARM
    (True, True)
    """

    def __init__(
        self,
        factor: float = 2.5,
        window: int = 2016,
        warmup: int = 100,
        relearn_after: int = 24,
        min_step: float = 0.0,
    ) -> None:
        self.factor = factor
        self.window = window
        self.warmup = warmup
        self.relearn_after = relearn_after
        self.min_step = min_step
        self._scale = _StepScale(window)
        self._reference: float | None = None
        self._flagged_run = 0

    def __repr__(self) -> str:
        return (
            f"SpikeDetector(factor={self.factor!r}, window={self.window!r}, "
            f"warmup={self.warmup!r}, relearn_after={self.relearn_after!r}, "
            f"min_step={self.min_step!r})"
        )

    def _threshold(self) -> float:
        return max(self.min_step, self.factor * self._scale.high, 1e-9)

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._reference is None or self._scale.count < self.warmup:
            return NEUTRAL_SCORE
        threshold = self._threshold()
        return _ramp(abs(x - self._reference) - threshold, threshold)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._reference is None:
            self._reference = x
            return
        if self.score_one(x, t) >= ALARM:
            self._flagged_run += 1
            if self._flagged_run < self.relearn_after:
                return
        self._flagged_run = 0
        self._scale.add(abs(x - self._reference))
        self._reference = x


@mypyc_attr(allow_interpreted_subclasses=True)
class NoiseDetector(Stateful):
    """A noise burst: the last ``short`` steps are ``factor`` times this sensor's normal steps.

    >>> import random
    >>> rng = random.Random(1)
    >>> det = NoiseDetector()
    >>> for i in range(500):
    ...     det.learn_one(30.0 + 0.05 * math.sin(i / 10) + rng.gauss(0, 0.02))
    >>> for _ in range(12):
    ...     x = 30.0 + rng.gauss(0, 1.0); s = det.score_one(x); det.learn_one(x)
    >>> s >= ALARM
    True
    """

    def __init__(
        self, factor: float = 4.0, short: int = 12, window: int = 2016, warmup: int = 200
    ) -> None:
        self.factor = factor
        self.short = short
        self.window = window
        self.warmup = warmup
        self._scale = _StepScale(window)
        self._recent: deque[float] = deque(maxlen=short)
        self._last: float | None = None

    def __repr__(self) -> str:
        return (
            f"NoiseDetector(factor={self.factor!r}, short={self.short!r}, "
            f"window={self.window!r}, warmup={self.warmup!r})"
        )

    def _ratio_excess(self, steps: list[float]) -> tuple[float, float]:
        typical = max(self._scale.median, 1e-9)
        recent = sorted(steps)[len(steps) // 2]  # the median: one spike is not noise
        threshold = self.factor * typical
        return recent - threshold, threshold

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._last is None or self._scale.count < self.warmup:
            return NEUTRAL_SCORE
        if len(self._recent) + 1 < self.short:
            return NEUTRAL_SCORE
        step = abs(x - self._last)
        threshold = self.factor * max(self._scale.median, 1e-9)
        # The median of the last ``short`` steps can pass the threshold only if at least half
        # of them do; checking that first skips the sort on almost every reading.
        above = (step >= threshold) + sum(1 for s in self._recent if s >= threshold)
        if above < (self.short + 1) // 2:
            return NEUTRAL_SCORE
        steps = [*self._recent, step][-self.short :]
        excess, threshold = self._ratio_excess(steps)
        return _ramp(excess, threshold)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._last is not None:
            step = abs(x - self._last)
            flagged = self.score_one(x, t) >= ALARM
            self._recent.append(step)
            if not flagged:
                self._scale.add(step)
        self._last = x


@mypyc_attr(allow_interpreted_subclasses=True)
class DriftDetector(Stateful):
    """A slow drift or bias: CUSUM of the residual from the sensor's own daily profile.

    The profile is the mean per hour of the day (local solar-ish hour from ``t``), learned over
    days; the residual is standardised by its typical size and accumulated by a two-sided CUSUM
    (Page 1954) with slack ``k`` and alarm level ``h``. Fed the difference between a node and
    the median of its neighbours instead of a raw value, the same detector finds a probe
    drifting away from the others in the farm. While the CUSUM is raised the profile does not
    learn, so the drift does not become the profile.

    >>> det = DriftDetector(warmup_days=1.0)
    >>> hours = [h * 3600.0 for h in range(24 * 6)]
    >>> for t in hours[: 24 * 3]:
    ...     det.learn_one(7.5 + 0.3 * math.sin(2 * math.pi * t / 86400), t)
    >>> scores = []
    >>> for i, t in enumerate(hours[24 * 3 :]):
    ...     x = 7.5 + 0.3 * math.sin(2 * math.pi * t / 86400) + 0.02 * i  # +0.48 pH/day
    ...     scores.append(det.score_one(x, t)); det.learn_one(x, t)
    >>> 0 < next(i for i, s in enumerate(scores) if s >= ALARM) < 24  # within a day
    True
    """

    def __init__(
        self,
        k: float = 0.5,
        h: float = 12.0,
        bins: int = 24,
        utc_offset_h: float = 7.0,
        alpha: float = 0.3,
        warmup_days: float = 2.0,
    ) -> None:
        self.k = k
        self.h = h
        self.bins = bins
        self.utc_offset_h = utc_offset_h
        self.alpha = alpha
        self.warmup_days = warmup_days
        self._profile: list[float | None] = [None] * bins
        self._day_sum = [0.0] * bins
        self._day_n = [0] * bins
        self._scale: float | None = None
        self._up = 0.0
        self._down = 0.0
        self._first_t: float | None = None
        self._last_t: float | None = None

    def __repr__(self) -> str:
        return (
            f"DriftDetector(k={self.k!r}, h={self.h!r}, bins={self.bins!r}, "
            f"utc_offset_h={self.utc_offset_h!r}, alpha={self.alpha!r}, "
            f"warmup_days={self.warmup_days!r})"
        )

    def _bin(self, t: float) -> int:
        return int(((t / 3600.0 + self.utc_offset_h) % 24.0) * self.bins / 24.0)

    def _cusum(self, x: float, t: float) -> tuple[float, float, float] | None:
        """The CUSUM statistics after ``x``: (up, down, standardised residual)."""
        if t is None or self._scale is None or self._first_t is None:
            return None
        if t - self._first_t < self.warmup_days * 86400.0:
            return None
        expected = self._profile[self._bin(t)]
        if expected is None:
            return None
        z = (x - expected) / max(self._scale, 1e-9)
        up = max(0.0, self._up + z - self.k)
        down = max(0.0, self._down - z - self.k)
        return up, down, z

    def score_one(self, x: float, t: float | None = None) -> float:
        if t is None:
            return NEUTRAL_SCORE
        stats = self._cusum(x, t)
        if stats is None:
            return NEUTRAL_SCORE
        return _ramp(max(stats[0], stats[1]) - self.h, self.h)

    def _close_day(self) -> None:
        """Fold the finished day's hourly means into the profile and the residual scale."""
        for b in range(self.bins):
            if self._day_n[b] == 0:
                continue
            mean = self._day_sum[b] / self._day_n[b]
            old = self._profile[b]
            if old is None:
                self._profile[b] = mean
            else:
                deviation = abs(mean - old)
                self._scale = (
                    deviation
                    if self._scale is None
                    else self._scale + self.alpha * (deviation - self._scale)
                )
                self._profile[b] = old + self.alpha * (mean - old)
        self._day_sum = [0.0] * self.bins
        self._day_n = [0] * self.bins

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None:
            return
        if self._first_t is None:
            self._first_t = t
        if self._last_t is not None and self._bin(t) < self._bin(self._last_t):
            self._close_day()
        if self._last_t is not None and t - self._last_t > 86400.0:
            self._close_day()
        self._last_t = t
        stats = self._cusum(x, t)
        if stats is not None:
            self._up, self._down, _ = stats
            if max(self._up, self._down) >= self.h:
                return  # drifting: keep it out of the profile
        b = self._bin(t)
        self._day_sum[b] += x
        self._day_n[b] += 1


@mypyc_attr(allow_interpreted_subclasses=True)
class NeighbourDriftDetector(Stateful):
    """A probe drifting away from the other nodes of its farm, or jumping off them.

    Fed ``x`` = this node's reading minus the median of its neighbours' readings of the same
    quantity at about the same time (``t`` required). Nodes of one pond or barn see the same
    water or air, so the difference is small and steady (a calibration offset plus a daily
    rhythm, both learned), and a drift or bias shows in it long before it would against the
    weather's own day-to-day variation.

    The difference wanders slowly, so consecutive 5-minute values are far from independent and
    a CUSUM over them fires on every wander. Instead the residual from the learned daily
    profile is averaged over the last hour, the last ``long_h`` hours and the last
    ``sustained_h`` hours, and each average is compared with the typical size of *that same
    average* in normal data: wandering inflates both alike, a drift only the numerator. The
    long average catches a drift that grows; the sustained one a constant bias on a difference
    that wanders fast (barn CO2 swings by ±150 ppm within hours, a 12-hour mean far less).

    A difference that wanders *slowly* (barn NH3 over days) hides a bias of the same size from
    every average, but not its onset: a probe knocked out of calibration jumps within one
    reading, while the wander needs hours. So the median of the last ``step_n`` differences is
    also compared with the median of the ``step_n`` before, against the typical size of that
    change (a change-point test); a jump beyond ``step_limit`` opens a *hold* that lasts while
    the hourly residual stays more than half the jump away from its level before the jump.

    The limits are in units of each statistic's own typical size in normal data, so one set
    serves every quantity. ``step_limit`` 9: on the simulated farms' fault-free twins (two
    seeds, 48 nodes, 14 days each) the largest 30-minute change of the median difference was
    about 6.7 typical changes; the onset of a bias of a quarter of the quantity's typical
    excursion about 12-25 on NH3, pH and temperatures, and only 2-7 on CO2 and humidity, whose
    differences move faster: the 12-hour mean finds those (bench/faults.py, docs/analytics.md).
    ``sustained_h`` 12: a calibration bias lasts a day or more, half a day of it is enough to
    judge; ``sustained_limit`` as ``long_limit``. ``alpha_step`` 0.0005 per reading is about a
    week of 5-minute readings, as ``alpha_spread`` 0.006 per hour.

    Any of these beyond its limit flags. While flagged, nothing is learned, so the drift never
    becomes the baseline (for at most ``relearn_h`` hours: a re-calibrated pair is not a fault
    forever). With two nodes the difference cannot say which one drifted, so both get the
    alarm; with three or more the median points at the culprit.

    >>> import random
    >>> rng = random.Random(2)
    >>> det = NeighbourDriftDetector()
    >>> hour = 3600.0
    >>> for i in range(12 * 24 * 4):  # four days of 5-minute differences
    ...     det.learn_one(0.1 + rng.gauss(0, 0.05), i * hour / 12)
    >>> scores = []
    >>> for i in range(12 * 24 * 4, 12 * 24 * 5):
    ...     x = 0.1 + rng.gauss(0, 0.05) + 0.002 * (i - 12 * 24 * 4)  # +0.024 per hour
    ...     scores.append(det.score_one(x, i * hour / 12)); det.learn_one(x, i * hour / 12)
    >>> next(i for i, s in enumerate(scores) if s >= ALARM) < 12 * 6  # within six hours
    True

    A bias of a third of the slow wander's range, flagged once most of the last six readings
    carry it (a median: one odd reading is not a jump), and held while it lasts:

    >>> det = NeighbourDriftDetector()
    >>> def wander(i):
    ...     return 1.5 * math.sin(2 * math.pi * i / (12 * 24 * 3)) + rng.gauss(0, 0.05)
    >>> for i in range(12 * 24 * 4):
    ...     det.learn_one(wander(i), i * hour / 12)
    >>> start = 12 * 24 * 4
    >>> scores = []
    >>> for i in range(start, start + 12 * 3):  # three hours
    ...     x = wander(i) + 1.0
    ...     scores.append(det.score_one(x, i * hour / 12)); det.learn_one(x, i * hour / 12)
    >>> first = next(i for i, s in enumerate(scores) if s >= ALARM)
    >>> first <= 3, min(scores[first:]) >= ALARM
    (True, True)
    """

    def __init__(
        self,
        short_limit: float = 8.0,
        long_limit: float = 6.0,
        long_h: int = 6,
        sustained_limit: float = 6.0,
        sustained_h: int = 12,
        step_limit: float = 9.0,
        step_n: int = 6,
        max_gap_s: float = 1800.0,
        warmup_h: float = 72.0,
        relearn_h: float = 48.0,
        alpha_profile: float = 0.2,
        alpha_spread: float = 0.006,
        alpha_step: float = 0.0005,
        utc_offset_h: float = 7.0,
    ) -> None:
        self.short_limit = short_limit
        self.long_limit = long_limit
        self.long_h = long_h
        self.sustained_limit = sustained_limit
        self.sustained_h = sustained_h
        self.step_limit = step_limit
        self.step_n = step_n
        self.max_gap_s = max_gap_s
        self.warmup_h = warmup_h
        self.relearn_h = relearn_h
        self.alpha_profile = alpha_profile
        self.alpha_spread = alpha_spread
        self.alpha_step = alpha_step
        self.utc_offset_h = utc_offset_h
        self._profile: list[float | None] = [None] * 24
        self._short_spread: float | None = None
        self._long_spread: float | None = None
        self._sustained_spread: float | None = None
        # Recent hourly residual means, as many as the longest average needs.
        self._hourly: deque[float] = deque(maxlen=max(long_h, sustained_h))
        self._hour: int | None = None  # hours since the epoch of the hour being accumulated
        self._sum = 0.0
        self._n = 0
        self._hours = 0
        self._flagged_hours = 0
        self._last_excess: float | None = None
        self._recent: deque[float] = deque(maxlen=2 * step_n)  # the last differences
        self._last_t: float | None = None
        self._step_spread: float | None = None
        self._steps = 0
        # After a jump: the residual level before it, its size, the hour it came in, and how
        # many readings ago it was first seen (the median takes a few readings to follow it).
        self._hold: list[float] | None = None

    def __repr__(self) -> str:
        return (
            f"NeighbourDriftDetector(short_limit={self.short_limit!r}, "
            f"long_limit={self.long_limit!r}, long_h={self.long_h!r}, "
            f"sustained_limit={self.sustained_limit!r}, sustained_h={self.sustained_h!r}, "
            f"step_limit={self.step_limit!r}, step_n={self.step_n!r}, "
            f"max_gap_s={self.max_gap_s!r}, warmup_h={self.warmup_h!r}, "
            f"relearn_h={self.relearn_h!r}, alpha_profile={self.alpha_profile!r}, "
            f"alpha_spread={self.alpha_spread!r}, alpha_step={self.alpha_step!r}, "
            f"utc_offset_h={self.utc_offset_h!r})"
        )

    def _bin(self, hour: int) -> int:
        return int((hour + self.utc_offset_h) % 24)

    def _short(self, residual: float) -> float:
        spread = self._short_spread if self._short_spread is not None else math.inf
        return abs(residual) / max(spread, 1e-9) - self.short_limit

    @staticmethod
    def _average(residuals: list[float], spread: float | None, limit: float) -> float:
        """How far past ``limit`` the mean of ``residuals`` is, in units of its spread."""
        spread = spread if spread is not None else math.inf
        mean = sum(residuals) / len(residuals)
        return abs(mean) / max(spread, 1e-9) - limit

    def _excess(self, hour: int, mean: float, hourly: list[float]) -> float | None:
        """How far past its limit the worst of the tests is (negative: within).

        An hour beyond the short limit is an alarm on its own and stays out of the longer
        averages, so a big but brief fault does not hold them up for hours after.
        """
        expected = self._profile[self._bin(hour)]
        if expected is None or self._short_spread is None or self._long_spread is None:
            return None
        residual = mean - expected
        short = self._short(residual)
        if short >= 0.0:
            return short
        history = [*hourly, residual]
        worst = max(
            short, self._average(history[-self.long_h :], self._long_spread, self.long_limit)
        )
        if len(history) >= self.sustained_h and self._sustained_spread is not None:
            sustained = history[-self.sustained_h :]
            worst = max(
                worst, self._average(sustained, self._sustained_spread, self.sustained_limit)
            )
        if self._hold is not None:
            level, jump, since, _ = self._hold
            # Held while the level stays more than half the jump away from where it was; the
            # hour of the jump itself is held whatever its mean (the jump may come at its end).
            held = abs(residual - level) / max(abs(jump) / 2.0, 1e-12) - 1.0
            worst = max(worst, max(held, 0.0) if hour == since else held)
        return worst

    @staticmethod
    def _median(values: list[float]) -> float:
        ordered = sorted(values)
        n = len(ordered)
        return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0

    def _step_at(self, x: float, t: float) -> float | None:
        """The change of the median over the last ``step_n`` differences, ending with ``x`` at
        ``t``; ``None`` with fewer readings or a gap of more than ``max_gap_s`` before ``t``."""
        last_t = self._last_t
        if last_t is None or t - last_t > self.max_gap_s:
            return None
        recent = self._recent
        n = self.step_n
        if len(recent) + 1 < 2 * n:
            return None
        values = [*recent, x]
        after = sorted(values[-n:])  # the medians as in _median, spelled out: a hot path
        before = sorted(values[-2 * n : -n])
        lo, hi = (n - 1) // 2, n // 2
        return (after[lo] + after[hi]) / 2.0 - (before[lo] + before[hi]) / 2.0

    def _jump_excess(self, jump: float) -> float | None:
        """How far past ``step_limit`` a jump is, or ``None`` while one is held or unlearned."""
        spread = self._step_spread
        if spread is None or self._hold is not None:
            return None
        return abs(jump) / max(spread, 1e-9) - self.step_limit

    def score_one(self, x: float, t: float | None = None) -> float:
        if t is None:
            return NEUTRAL_SCORE
        return self._score(t, self._step_at(x, t))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None:
            return
        self._learn(x, t, self._step_at(x, t))

    def score_learn_one(self, x: float, t: float) -> float:
        """``score_one`` then ``learn_one``, measuring the jump once (the fault suite's call).

        Nearly every reading falls in the running hour of a warmed-up detector with nothing
        flagged or held: then only the change-point test can speak, and learning is adding to
        the hour and to the typical jump. That case is spelled out here in one frame (the
        general path's arithmetic, step by step); hour ends, holds and flagged stretches take
        the general path. Equal to ``score_one`` + ``learn_one`` by test
        (tests/analytics/test_sensor_faults.py).
        """
        hour = int(t // 3600.0)
        if (
            hour != self._hour
            or self._hold is not None
            or self._flagged_hours
            or self._hours < self.warmup_h
        ):
            jump = self._step_at(x, t)
            score = self._score(t, jump)
            self._learn(x, t, jump)
            return score
        recent = self._recent
        last_t = self._last_t
        n = self.step_n
        self._sum += x
        self._n += 1
        if last_t is None or t - last_t > self.max_gap_s or len(recent) + 1 < 2 * n:
            # No jump to judge (as _step_at): start over after a gap, else just remember x.
            if last_t is None or t - last_t > self.max_gap_s:
                recent.clear()
            recent.append(x)
            self._last_t = t
            return NEUTRAL_SCORE
        values = [*recent, x]
        after = sorted(values[-n:])
        before = sorted(values[-2 * n : -n])
        lo, hi = (n - 1) // 2, n // 2
        jump = (after[lo] + after[hi]) / 2.0 - (before[lo] + before[hi]) / 2.0
        recent.append(x)
        self._last_t = t
        expected = self._profile[int((hour + self.utc_offset_h) % 24)]
        spread = self._step_spread
        if spread is None:
            self._steps += 1
            self._step_spread = abs(jump)
            return NEUTRAL_SCORE
        size = abs(jump)
        # max(spread, 1e-9) and min(size, 3 spreads) as the general path, spelled out (a
        # builtin call costs more than the comparison; the same result, NaN included).
        floor = 1e-9 if spread < 1e-9 else spread  # noqa: FURB136
        ratio = size / floor
        score = NEUTRAL_SCORE
        if expected is not None:
            score = _ramp(ratio - self.step_limit, self.short_limit)
            if ratio >= self.step_limit:
                self._hold = [self._median(values[-2 * n : -n]) - expected, jump, hour, 0]
                return score
        self._steps += 1
        capped = 3.0 * spread
        capped = capped if capped < size else size  # noqa: FURB136
        self._step_spread = spread + self.alpha_step * (capped - spread)
        return score

    def _score(self, t: float, jump: float | None) -> float:
        current = self._hour
        if current is None or self._hours < self.warmup_h:
            return NEUTRAL_SCORE
        hour = int(t // 3600.0)
        if hour != current:
            # The running hour is complete: judge it as closing it will.
            hourly = list(self._hourly)
            excess = self._excess(current, self._sum / self._n, hourly) if self._n else None
        elif self._flagged_hours:
            # Within an hour, the verdict of the last complete one stands: a part of an hour is
            # too noisy a mean to judge (and one odd reading is the spike detector's business).
            excess = self._last_excess
        else:
            excess = 0.0 if self._hold is not None else None  # a jump earlier in this hour
        if jump is not None and self._profile[self._bin(hour)] is not None:
            step = self._jump_excess(jump)
            if step is not None and (excess is None or step > excess):
                excess = step
        if excess is None:
            return NEUTRAL_SCORE
        return _ramp(excess, self.short_limit)

    def _close_hour(self) -> None:
        if self._hour is None or self._n == 0:
            return
        mean = self._sum / self._n
        self._hours += 1
        b = self._bin(self._hour)
        expected = self._profile[b]
        excess = self._excess(self._hour, mean, list(self._hourly))
        self._last_excess = excess
        held = self._hold is not None and self._hour != self._hold[2]
        if held and (excess is None or excess < 0.0):
            self._hold = None  # back where it was before the jump
        if excess is not None and excess >= 0.0 and self._hours >= self.warmup_h:
            self._flagged_hours += 1
            if self._flagged_hours < self.relearn_h:
                if expected is not None and self._short(mean - expected) < 0.0:
                    self._hourly.append(mean - expected)  # a slow drift: keep tracking it
                return  # flagged: keep it out of the baseline
        if self._flagged_hours:
            self._hourly.clear()  # the episode is over; its hours must not linger
            self._hold = None
        self._flagged_hours = 0
        if expected is None:
            self._profile[b] = mean
            return
        residual = mean - expected
        self._hourly.append(residual)
        history = list(self._hourly)
        long_mean = abs(sum(history[-self.long_h :]) / min(len(history), self.long_h))
        self._short_spread = self._learn_spread(self._short_spread, abs(residual))
        self._long_spread = self._learn_spread(self._long_spread, long_mean)
        if len(history) >= self.sustained_h:
            sustained = abs(sum(history[-self.sustained_h :]) / self.sustained_h)
            self._sustained_spread = self._learn_spread(self._sustained_spread, sustained)
        self._profile[b] = expected + self.alpha_profile * residual

    def _learn_spread(self, spread: float | None, value: float) -> float:
        """An EWMA of |residual|, fast while warming up, then slow and winsorised.

        A slow drift stays under the limits for hours; if every such hour fed the spread at
        full weight, the spread would grow as fast as the drift and never let it cross. Capped
        at three spreads and learned over about a week, it cannot.
        """
        if spread is None:
            return value
        warm = self._hours >= self.warmup_h
        # While warming up, a plain running mean: every hour seen so far counts the same.
        rate = self.alpha_spread if warm else 1.0 / max(1.0, self._hours - 24.0)
        value = min(value, 3.0 * spread) if warm else value
        return spread + rate * (value - spread)

    def _learn(self, x: float, t: float, jump: float | None) -> None:  # noqa: PLR0912 -- hot path
        """Fold ``x`` into its hour; open a hold on a jump, or learn the size of normal ones."""
        hour = int(t // 3600.0)
        if hour != self._hour:
            if self._hour is not None:
                self._close_hour()
                self._sum, self._n = 0.0, 0
            self._hour = hour
        self._sum += x
        self._n += 1
        recent = self._recent
        if jump is None:
            # Not contiguous with the readings before (or too few): start over from here.
            if self._last_t is None or t - self._last_t > self.max_gap_s:
                recent.clear()
            recent.append(x)
            self._last_t = t
            return
        recent.append(x)
        self._last_t = t
        hold = self._hold
        if hold is not None:
            if hold[3] < self.step_n:
                # The medians straddle the jump for step_n readings: its full size shows last.
                hold[3] += 1
                if abs(jump) > abs(hold[1]) and jump * hold[1] > 0.0:
                    hold[1] = jump
            return  # a suspect stretch: not a normal change
        warm = self._hours >= self.warmup_h
        spread = self._step_spread
        if spread is None:
            if not self._flagged_hours:
                self._steps += 1
                self._step_spread = abs(jump)
            return
        if warm and abs(jump) / max(spread, 1e-9) >= self.step_limit:  # _jump_excess >= 0
            expected = self._profile[self._bin(hour)]
            if expected is not None:
                before = list(recent)[-2 * self.step_n : -self.step_n]
                self._hold = [self._median(before) - expected, jump, hour, 0]
                return
        if self._flagged_hours:
            return
        self._steps += 1
        # Like _learn_spread, per reading: a running mean while warming up, then a slow,
        # winsorised EWMA (0.0005 per 5-minute reading: about a week).
        if warm:
            self._step_spread = spread + self.alpha_step * (min(abs(jump), 3.0 * spread) - spread)
        else:
            self._step_spread = spread + 1.0 / self._steps * (abs(jump) - spread)


@mypyc_attr(allow_interpreted_subclasses=True)
class DropoutDetector(Stateful):
    """A node gone quiet: no reading for ``factor`` times its usual reporting interval.

    ``score_one`` judges the gap that ends with a reading (the streaming view); ``silence``
    judges the gap up to now, which is what the analytics service checks on a timer, so a dead
    node is noticed while it is dead rather than when it comes back.

    >>> det = DropoutDetector()
    >>> for i in range(50):
    ...     det.learn_one(1.0, 300.0 * i)
    >>> det.silence(300.0 * 49 + 600) < ALARM <= det.silence(300.0 * 49 + 1200)
    True
    """

    def __init__(self, factor: float = 3.0, warmup: int = 10) -> None:
        self.factor = factor
        self.warmup = warmup
        self._last_t: float | None = None
        self._interval: float | None = None
        self._seen = 0

    def __repr__(self) -> str:
        return f"DropoutDetector(factor={self.factor!r}, warmup={self.warmup!r})"

    @property
    def interval(self) -> float | None:
        """The learned reporting interval in seconds."""
        return self._interval

    @property
    def last_seen(self) -> float | None:
        """When the last reading came (seconds since the epoch)."""
        return self._last_t

    def silence(self, now: float) -> float:
        """How anomalous the silence from the last reading until ``now`` is."""
        if self._last_t is None or self._interval is None or self._seen < self.warmup:
            return NEUTRAL_SCORE
        threshold = self.factor * self._interval
        excess = now - self._last_t - threshold
        return NEUTRAL_SCORE if excess < 0.0 else _ramp(excess, threshold)  # mostly the former

    def score_one(self, x: float, t: float | None = None) -> float:
        return NEUTRAL_SCORE if t is None else self.silence(t)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None:
            return
        if self._last_t is not None and t > self._last_t:
            gap = t - self._last_t
            if self._interval is None:
                self._interval = gap
            elif gap < self.factor * self._interval:
                # A slow EWMA of normal gaps; gaps of a dropout don't stretch the interval.
                self._interval += 0.05 * (gap - self._interval)
        self._last_t = t if self._last_t is None else max(self._last_t, t)
        self._seen += 1


@mypyc_attr(allow_interpreted_subclasses=True)
class BatteryDetector(Stateful):
    """A battery dying: below ``low_v``, or discharging much faster than a normal night.

    A solar-charged Li-ion node sags ~0.01 V/h overnight and recovers by day; a failing cell or
    charger loses several times that and the node goes dark within hours, so a steep slope over
    the last ``window_h`` is the early warning and ``low_v`` the late one.

    The least-squares slope comes from running sums over the window (times from an origin
    that moves up every ``_REBASE`` readings, when the sums are also recomputed, so rounding
    never builds up): O(1) a reading instead of four passes over the window.

    >>> det = BatteryDetector()
    >>> for i in range(48):
    ...     det.learn_one(4.15 - 0.001 * i, 300.0 * i)
    >>> det.score_one(4.10, 300.0 * 48) < ALARM
    True
    >>> for i in range(48, 72):
    ...     det.learn_one(4.10 - 0.006 * (i - 48), 300.0 * i)  # -0.07 V/h
    >>> det.score_one(3.95, 300.0 * 72) >= ALARM
    True
    """

    _REBASE = 256

    def __init__(
        self, low_v: float = 3.5, slope_v_per_h: float = -0.035, window_h: float = 1.5
    ) -> None:
        self.low_v = low_v
        self.slope_v_per_h = slope_v_per_h
        self.window_h = window_h
        self._recent: deque[tuple[float, float]] = deque()  # (t, volts) within the window
        self._origin = 0.0
        # Over _recent, with d = t - origin: sum of d, of volts, of d², of d × volts.
        self._sums = (0.0, 0.0, 0.0, 0.0)
        self._learned = 0

    def __repr__(self) -> str:
        return (
            f"BatteryDetector(low_v={self.low_v!r}, slope_v_per_h={self.slope_v_per_h!r}, "
            f"window_h={self.window_h!r})"
        )

    def _slope(self, x: float, t: float) -> float | None:
        """Least-squares slope in V/h of the window ending with ``(t, x)``, or ``None``.

        ``None`` with fewer than 6 points or a span under three quarters of the window.
        """
        window = self.window_h * 3600.0
        recent, origin = self._recent, self._origin
        st, sv, stt, stv = self._sums
        n = len(recent)
        i = 0
        while i < n and t - recent[i][0] > window:  # these leave the window at t
            pt, pv = recent[i]
            d = pt - origin
            st, sv, stt, stv = st - d, sv - pv, stt - d * d, stv - d * pv
            i += 1
        m = n - i + 1
        if m < 6 or t - recent[i][0] < 0.75 * window:
            return None
        d = t - origin
        st, sv, stt, stv = st + d, sv + x, stt + d * d, stv + d * x
        # The span check above keeps the variance of the times far from zero.
        return (stv - st * sv / m) / (stt - st * st / m) * 3600.0

    def score_one(self, x: float, t: float | None = None) -> float:
        if x < self.low_v:
            return 1.0
        if t is None:
            return NEUTRAL_SCORE
        slope = self._slope(x, t)
        if slope is None:
            return NEUTRAL_SCORE
        return _ramp(self.slope_v_per_h - slope, -self.slope_v_per_h)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None:
            return
        window = self.window_h * 3600.0
        recent, origin = self._recent, self._origin
        st, sv, stt, stv = self._sums
        recent.append((t, x))
        d = t - origin
        st, sv, stt, stv = st + d, sv + x, stt + d * d, stv + d * x
        while recent and t - recent[0][0] > window:
            pt, pv = recent.popleft()
            d = pt - origin
            st, sv, stt, stv = st - d, sv - pv, stt - d * d, stv - d * pv
        self._sums = (st, sv, stt, stv)
        self._learned += 1
        if self._learned % self._REBASE == 0:
            self._origin = origin = recent[0][0]
            offsets = [p[0] - origin for p in recent]
            self._sums = (
                sum(offsets),
                sum(p[1] for p in recent),
                sum(d * d for d in offsets),
                sum(d * p[1] for d, p in zip(offsets, recent, strict=True)),
            )
