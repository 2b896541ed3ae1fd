"""The general-purpose univariate detector: an ensemble, a likelihood, and alarm suppression.

This is the detector farmwatch runs on any numeric series it knows nothing about, and the one
``bench/nab.py`` scores on the Numenta Anomaly Benchmark. Three ideas, each measured on NAB
(docs/analytics.md has the figures of every variant):

1. **Several views of "unusual"**, each a detector of its own: the reading against a long
   window's mean and spread (:class:`WindowedGaussian`), the *change* since the previous reading
   against the usual changes (the same on :class:`Differenced` input), both again by rank alone
   (:class:`EmpiricalTail`, for fat-tailed series where "5 sigma" happens daily), optionally the
   shape of the last readings against past shapes (:class:`ConformalKNN`, off by default: it
   cost NAB points and 20 times the CPU), whether the recent *sequence* of coarse levels has
   been seen before, and whether this level has been seen at this hour of the day
   (:class:`ContextNovelty`, the idea of CAD OSE: a change of shape at normal levels), and a
   value outside everything seen so far ("spatial" novelty, as Numenta's NAB detector does).
2. **Anomaly likelihood** per view (:class:`AnomalyLikelihood`) on the view's *surprise*
   (decades of improbability): the recent mean surprise against its own long-run distribution,
   so that one threshold fits a noisy and a calm series. The Gaussian and the rank view of the
   same thing (the level, the change) share one likelihood fed with the mean of their two
   surprises: on a fat-tailed series the Gaussian alone calls the daily burst rare and the rank
   view does not, so the mean stays ordinary; a real anomaly is rare by both. The ensemble
   reports the largest likelihood.
3. **Alarm suppression**: after an alarm the next ``rest`` readings are damped. One event is one
   alarm; a farmer (and NAB, which rewards only the first detection of each anomaly and penalises
   every false positive) does not want the same event reported fifty times.
"""

from __future__ import annotations

import math

from farmwatch_analytics.detectors.base import NEUTRAL_SCORE, Detector, Differenced
from farmwatch_analytics.detectors.context import ContextNovelty
from farmwatch_analytics.detectors.gaussian import WindowedGaussian
from farmwatch_analytics.detectors.knn import ConformalKNN
from farmwatch_analytics.detectors.likelihood import AnomalyLikelihood
from farmwatch_analytics.detectors.rank import EmpiricalTail

__all__ = ["EnsembleDetector"]

#: The period of the time-of-day context view, in seconds.
_DAY_S = 86_400.0


class EnsembleDetector:
    """Level, change and context views through anomaly likelihoods, then alarm suppression.

    Every default below is the single configuration scored on all 58 NAB series; where it comes
    from is documented in docs/analytics.md. ``gaussian_window`` (6,400) is NAB's Windowed
    Gaussian window; ``diff_gaussian_window`` the same for reading-to-reading changes (``None``
    disables that view); ``short_gaussian_window`` an optional second, shorter level view;
    ``rank_window`` and ``diff_rank_window`` the same two views by empirical rank (6,400 too).
    ``average_pairs``: the Gaussian and the rank view of the level, and those of the change,
    share one likelihood on their mean surprise (True; False gives every view its own).
    ``context_levels``: the coarse symbols of the two :class:`ContextNovelty` views (8, CAD
    OSE's 3 bits); ``context_order`` the longest sequence of the first (7, CAD OSE's; ``None``
    disables it); ``daily_buckets`` the time-of-day buckets of the second (24: hours; ``None``
    disables it) and ``daily_order`` its longest sequence (1: "this level after that one at
    this hour"); ``context_memory`` the contexts each remembers. Both learn from reading one but
    score, and feed their likelihood, only once their scale is set (after ``warmup``).
    ``likelihood_*`` configure :class:`AnomalyLikelihood` (Ahmad et al. 2017 values for short,
    history; learning = 300 readings, about a day of 5-minute data). ``surprise_floor``: the
    smallest tail probability told apart (1e-4, i.e. 4 decades = surprise 1). ``alarm``: the
    combined score from which a reading counts as an alarm (0.5 is a tail probability of 1e-5 on
    the likelihood's log scale). ``rest``: readings damped after an alarm; ``damping``: the factor
    applied to them. ``novelty_margin``: a reading further than this fraction of the range seen
    so far beyond its minimum or maximum scores 1 (Numenta's NAB detector uses 0.05; ``None``
    disables). ``warmup``: readings learned before any score other than neutral.

    >>> from farmwatch_analytics.detectors.base import score_stream
    >>> import math, random
    >>> rng = random.Random(1)
    >>> series = [10 + math.sin(i / 8) + rng.gauss(0, 0.1) for i in range(2000)]
    >>> series[1500] = 14.0
    >>> scores = score_stream(EnsembleDetector(), series)
    >>> max(scores[:1500]) < 0.5 <= scores[1500]
    True
    """

    def __init__(
        self,
        *,
        gaussian_window: int = 6400,
        diff_gaussian_window: int | None = 6400,
        short_gaussian_window: int | None = None,
        use_knn: bool = False,
        rank_window: int | None = 6400,
        diff_rank_window: int | None = 6400,
        knn_dim: int = 10,
        knn_k: int = 5,
        knn_bank: int = 1500,
        knn_weight: float = 1.0,
        knn_min_std: float = 0.05,
        average_pairs: bool = True,
        context_levels: int = 8,
        context_order: int | None = 7,
        daily_buckets: int | None = 24,
        daily_order: int = 1,
        context_memory: int = 50_000,
        likelihood_short: int = 10,
        likelihood_history: int = 8640,
        likelihood_learning: int = 300,
        likelihood_min_std: float = 0.05,
        surprise_floor: float = 1e-4,
        novelty_margin: float | None = 0.05,
        alarm: float = 0.5,
        rest: int = 100,
        damping: float = 0.0,
        warmup: int = 300,
    ) -> None:
        self.gaussian_window = gaussian_window
        self.diff_gaussian_window = diff_gaussian_window
        self.short_gaussian_window = short_gaussian_window
        self.use_knn = use_knn
        self.rank_window = rank_window
        self.diff_rank_window = diff_rank_window
        self.knn_dim = knn_dim
        self.knn_k = knn_k
        self.knn_bank = knn_bank
        self.knn_weight = knn_weight
        self.knn_min_std = knn_min_std
        self.average_pairs = average_pairs
        self.context_levels = context_levels
        self.context_order = context_order
        self.daily_buckets = daily_buckets
        self.daily_order = daily_order
        self.context_memory = context_memory
        self.likelihood_short = likelihood_short
        self.likelihood_history = likelihood_history
        self.likelihood_learning = likelihood_learning
        self.likelihood_min_std = likelihood_min_std
        self.surprise_floor = surprise_floor
        self.novelty_margin = novelty_margin
        self.alarm = alarm
        self.rest = rest
        self.damping = damping
        self.warmup = warmup
        self._state: _State | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"EnsembleDetector({args})"

    def _ensure(self) -> _State:
        if self._state is None:
            self._state = _State(self)
        return self._state

    def score_one(self, x: float, t: float | None = None) -> float:
        return self._ensure().step(x, t, learn=False)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._ensure().step(x, t, learn=True)


def _surprise(score: float, floor: float) -> float:
    """A view's score as decades of improbability, scaled so ``floor`` maps to 1.

    The views report "the fraction of normal behaviour closer than this" (a Gaussian mass, a
    conformal rank): uniform on normal data, so their short-term mean hardly moves when something
    happens. ``-log10(1 - score)`` is near 0 for normal data and large only for rare readings,
    the sparse kind of raw score the likelihood can tell apart from its history.
    """
    return math.log10(max(1.0 - score, floor)) / math.log10(floor)


class _State:
    """Everything the ensemble learns, apart from its parameters (so pickling is plain).

    A *channel* is one or more views whose surprises are averaged into one likelihood.
    """

    def __init__(self, p: EnsembleDetector) -> None:
        level: list[Detector] = []
        change: list[Detector] = []
        single: list[Detector] = []
        if p.gaussian_window:
            level.append(WindowedGaussian(p.gaussian_window))
        if p.diff_gaussian_window is not None:
            change.append(Differenced(WindowedGaussian(p.diff_gaussian_window)))
        if p.short_gaussian_window is not None:
            single.append(WindowedGaussian(p.short_gaussian_window))
        if p.rank_window is not None:
            level.append(EmpiricalTail(p.rank_window))
        if p.diff_rank_window is not None:
            change.append(Differenced(EmpiricalTail(p.diff_rank_window)))
        context: list[Detector] = []
        if p.context_order is not None:
            context.append(
                ContextNovelty(
                    levels=p.context_levels,
                    max_order=p.context_order,
                    memory=p.context_memory,
                    scale_after=p.warmup,
                )
            )
        if p.daily_buckets is not None:
            context.append(
                ContextNovelty(
                    levels=p.context_levels,
                    max_order=p.daily_order,
                    memory=p.context_memory,
                    scale_after=p.warmup,
                    period=_DAY_S,
                    buckets=p.daily_buckets,
                )
            )
        groups = [level, change] if p.average_pairs else [[v] for v in (*level, *change)]
        groups += [[v] for v in single]
        # (views, their likelihood, weight, readings before the likelihood learns): a context
        # view says nothing before its scale is set, and a likelihood that learned those zeros
        # would take its first ordinary scores for an anomaly.
        self.channels: list[tuple[list[Detector], AnomalyLikelihood, float, int]] = [
            (views, self._likelihood(p), 1.0, 0) for views in groups if views
        ]
        self.channels += [([v], self._likelihood(p), 1.0, p.warmup) for v in context]
        if p.use_knn:
            knn = ConformalKNN(dim=p.knn_dim, k=p.knn_k, bank=p.knn_bank)
            self.channels.append(([knn], self._likelihood(p, p.knn_min_std), p.knn_weight, 0))
        self.p = p
        self.seen = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.since_alarm = p.rest
        # score_one then learn_one on the same reading is the usual call pattern: the channels'
        # surprises computed by the first are reused by the second (half the CPU).
        self.cached: tuple[tuple[float, float | None], list[float]] | None = None

    @staticmethod
    def _likelihood(p: EnsembleDetector, min_std: float | None = None) -> AnomalyLikelihood:
        return AnomalyLikelihood(
            short=p.likelihood_short,
            history=p.likelihood_history,
            learning=p.likelihood_learning,
            min_std=p.likelihood_min_std if min_std is None else min_std,
        )

    def surprises(self, x: float, t: float | None) -> list[float]:
        floor = self.p.surprise_floor
        return [
            math.fsum(_surprise(view.score_one(x, t), floor) for view in views) / len(views)
            for views, _, _, _ in self.channels
        ]

    def step(self, x: float, t: float | None, *, learn: bool) -> float:
        p = self.p
        cached = self.cached
        if cached is not None and cached[0] == (x, t):
            surprises = cached[1]
        else:
            surprises = self.surprises(x, t)
        combined = 0.0
        for (views, likelihood, weight, start), surprise in zip(
            self.channels, surprises, strict=True
        ):
            if self.seen >= start:
                tail = likelihood.update(surprise) if learn else likelihood.peek(surprise)
                combined = max(combined, weight * tail)
            if learn:
                for view in views:
                    view.learn_one(x, t)
        if p.novelty_margin is not None and self.seen >= p.warmup:
            margin = p.novelty_margin * (self.hi - self.lo)
            if x > self.hi + margin or x < self.lo - margin:
                combined = 1.0
        if self.seen < p.warmup:
            combined = NEUTRAL_SCORE
        score = combined * p.damping if self.since_alarm < p.rest else combined
        if learn:
            self.cached = None
            self.seen += 1
            self.lo = min(self.lo, x)
            self.hi = max(self.hi, x)
            self.since_alarm = 0 if score >= p.alarm else self.since_alarm + 1
        else:
            self.cached = ((x, t), surprises)
        return score
