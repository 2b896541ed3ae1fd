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
drift                     :class:`NeighbourDriftDetector`: CUSUM of the difference to the
                          other nodes of the farm; :class:`DriftDetector` for a lone node:
                          CUSUM of the residual from the sensor's own daily profile
dropout / offline         :class:`DropoutDetector`: a silence of several reporting intervals
battery death             :class:`BatteryDetector`: low voltage or a discharge far steeper than
                          a night's
========================  ====================================================================
"""

from __future__ import annotations

import math
from collections import deque

from farmwatch_analytics.detectors.base import NEUTRAL_SCORE

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


class RangeDetector:
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


class FlatlineDetector:
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


class _StepScale:
    """The distribution of a sensor's normal step sizes |x − previous|, over a bounded window.

    Quantiles are recomputed every ``refresh`` steps, not per reading, to keep scoring O(1).
    """

    def __init__(self, window: int, refresh: int = 64) -> None:
        self.steps: deque[float] = deque(maxlen=window)
        self.refresh = refresh
        self._since = refresh
        self.median = 0.0
        self.high = 0.0

    def add(self, step: float) -> None:
        self.steps.append(step)
        self._since += 1
        if self._since >= self.refresh:
            ordered = sorted(self.steps)
            n = len(ordered)
            self.median = ordered[n // 2]
            self.high = ordered[min(n - 1, int(0.999 * n))]
            self._since = 0


class SpikeDetector:
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
        if self._reference is None or len(self._scale.steps) < self.warmup:
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


class NoiseDetector:
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
        if self._last is None or len(self._scale.steps) < self.warmup:
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


class DriftDetector:
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


class NeighbourDriftDetector:
    """A probe drifting away from the other nodes of its farm.

    Fed ``x`` = this node's reading minus the median of its neighbours' readings of the same
    quantity at about the same time (``t`` required). Nodes of one pond or barn see the same
    water or air, so the difference is small and steady (a calibration offset plus a daily
    rhythm, both learned), and a drift or bias shows in it long before it would against the
    weather's own day-to-day variation.

    The difference wanders slowly, so consecutive 5-minute values are far from independent and
    a CUSUM over them fires on every wander. Instead the residual from the learned daily
    profile is averaged over the last hour and the last ``long_h`` hours, and each average is
    compared with the typical size of *that same average* in normal data: wandering inflates
    both alike, a drift only the numerator. Either beyond its limit flags. While flagged,
    nothing is learned, so the drift never becomes the baseline (for at most ``relearn_h``
    hours: a re-calibrated pair is not a fault forever). With two nodes the difference cannot
    say which one drifted, so both get the alarm; with three or more the median points at the
    culprit.

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
    """

    def __init__(
        self,
        short_limit: float = 8.0,
        long_limit: float = 6.0,
        long_h: int = 6,
        warmup_h: float = 72.0,
        relearn_h: float = 48.0,
        alpha_profile: float = 0.2,
        alpha_spread: float = 0.006,
        utc_offset_h: float = 7.0,
    ) -> None:
        self.short_limit = short_limit
        self.long_limit = long_limit
        self.long_h = long_h
        self.warmup_h = warmup_h
        self.relearn_h = relearn_h
        self.alpha_profile = alpha_profile
        self.alpha_spread = alpha_spread
        self.utc_offset_h = utc_offset_h
        self._profile: list[float | None] = [None] * 24
        self._short_spread: float | None = None
        self._long_spread: float | None = None
        self._hourly: deque[float] = deque(maxlen=long_h)  # recent hourly residual means
        self._hour: int | None = None  # hours since the epoch of the hour being accumulated
        self._sum = 0.0
        self._n = 0
        self._hours = 0
        self._flagged_hours = 0
        self._last_excess: float | None = None

    def __repr__(self) -> str:
        return (
            f"NeighbourDriftDetector(short_limit={self.short_limit!r}, "
            f"long_limit={self.long_limit!r}, long_h={self.long_h!r}, "
            f"warmup_h={self.warmup_h!r}, relearn_h={self.relearn_h!r}, "
            f"alpha_profile={self.alpha_profile!r}, alpha_spread={self.alpha_spread!r}, "
            f"utc_offset_h={self.utc_offset_h!r})"
        )

    def _bin(self, hour: int) -> int:
        return int((hour + self.utc_offset_h) % 24)

    def _short(self, residual: float) -> float:
        spread = self._short_spread if self._short_spread is not None else math.inf
        return abs(residual) / max(spread, 1e-9) - self.short_limit

    def _long(self, residuals: list[float]) -> float:
        spread = self._long_spread if self._long_spread is not None else math.inf
        mean = sum(residuals) / len(residuals)
        return abs(mean) / max(spread, 1e-9) - self.long_limit

    def _excess(self, hour: int, mean: float, hourly: list[float]) -> float | None:
        """How far past its limit the worse of the two averages is (negative: within).

        An hour beyond the short limit is an alarm on its own and stays out of the long
        average, so a big but brief fault does not hold the long average up for hours after.
        """
        expected = self._profile[self._bin(hour)]
        if expected is None or self._short_spread is None or self._long_spread is None:
            return None
        residual = mean - expected
        short = self._short(residual)
        if short >= 0.0:
            return short
        return max(short, self._long([*hourly, residual][-self.long_h :]))

    def score_one(self, x: float, t: float | None = None) -> float:
        if t is None or self._hour is None or self._hours < self.warmup_h:
            return NEUTRAL_SCORE
        if int(t // 3600.0) != self._hour:
            # The running hour is complete: judge it as closing it will.
            hourly = list(self._hourly)
            excess = self._excess(self._hour, self._sum / self._n, hourly) if self._n else None
        else:
            # Within an hour, the verdict of the last complete one stands: a part of an hour is
            # too noisy a mean to judge (and one odd reading is the spike detector's business).
            excess = self._last_excess if self._flagged_hours else None
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
        if excess is not None and excess >= 0.0 and self._hours >= self.warmup_h:
            self._flagged_hours += 1
            if self._flagged_hours < self.relearn_h:
                if expected is not None and self._short(mean - expected) < 0.0:
                    self._hourly.append(mean - expected)  # a slow drift: keep tracking it
                return  # flagged: keep it out of the baseline
        if self._flagged_hours:
            self._hourly.clear()  # the episode is over; its hours must not linger
        self._flagged_hours = 0
        if expected is None:
            self._profile[b] = mean
            return
        residual = mean - expected
        self._hourly.append(residual)
        long_mean = abs(sum(self._hourly) / len(self._hourly))
        self._short_spread = self._learn_spread(self._short_spread, abs(residual))
        self._long_spread = self._learn_spread(self._long_spread, long_mean)
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

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None:
            return
        hour = int(t // 3600.0)
        if self._hour is not None and hour != self._hour:
            self._close_hour()
            self._sum, self._n = 0.0, 0
        self._hour = hour
        self._sum += x
        self._n += 1


class DropoutDetector:
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
        return _ramp(now - self._last_t - threshold, threshold)

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


class BatteryDetector:
    """A battery dying: below ``low_v``, or discharging much faster than a normal night.

    A solar-charged Li-ion node sags ~0.01 V/h overnight and recovers by day; a failing cell or
    charger loses several times that and the node goes dark within hours, so a steep slope over
    the last ``window_h`` is the early warning and ``low_v`` the late one.

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

    def __init__(
        self, low_v: float = 3.5, slope_v_per_h: float = -0.035, window_h: float = 1.5
    ) -> None:
        self.low_v = low_v
        self.slope_v_per_h = slope_v_per_h
        self.window_h = window_h
        self._recent: deque[tuple[float, float]] = deque()

    def __repr__(self) -> str:
        return (
            f"BatteryDetector(low_v={self.low_v!r}, slope_v_per_h={self.slope_v_per_h!r}, "
            f"window_h={self.window_h!r})"
        )

    def _slope(self, points: list[tuple[float, float]]) -> float | None:
        """Least-squares slope in V/h, or ``None`` without enough span."""
        if len(points) < 6 or points[-1][0] - points[0][0] < 0.75 * self.window_h * 3600.0:
            return None
        n = len(points)
        mt = sum(p[0] for p in points) / n
        mv = sum(p[1] for p in points) / n
        var = sum((p[0] - mt) ** 2 for p in points)
        if var == 0.0:
            return None
        return sum((p[0] - mt) * (p[1] - mv) for p in points) / var * 3600.0

    def score_one(self, x: float, t: float | None = None) -> float:
        if x < self.low_v:
            return 1.0
        if t is None:
            return NEUTRAL_SCORE
        points = [p for p in self._recent if t - p[0] <= self.window_h * 3600.0]
        slope = self._slope([*points, (t, x)])
        if slope is None:
            return NEUTRAL_SCORE
        return _ramp(self.slope_v_per_h - slope, -self.slope_v_per_h)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None:
            return
        self._recent.append((t, x))
        while self._recent and t - self._recent[0][0] > self.window_h * 3600.0:
            self._recent.popleft()
