"""The streaming detector interface every farmwatch detector implements, and the wrappers on it.

A detector sees one reading at a time, as River's anomaly detectors do (``river/base/
anomaly_detector.py``): ``score_one(x)`` says how unusual ``x`` is given what was learned so far
(it never changes the detector), ``learn_one(x)`` folds ``x`` into the detector's state. Scores
lie in [0, 1], higher is more anomalous, and a detector that has not learned enough yet returns
:data:`NEUTRAL_SCORE` rather than raising, so a freshly (re)started pipeline never crashes.

Why ``x`` is a ``float`` and not a mapping (River passes a ``dict``): farmwatch detectors run per
node *and quantity* -- the contract already splits a payload into one reading per quantity, and
the pipeline keys detectors by (node, quantity). A mapping would make every univariate detector
pick its single key out of a dict on each call and would let a typo in a key pass silently. A
multivariate detector (one model over several quantities of a node) takes a
``Mapping[str, float]`` instead and implements :class:`MultivariateDetector`.

``t`` is the reading's time in seconds since the epoch (UTC). Detectors that model daily profiles
or gaps use it; the others ignore it, which is why it is optional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

__all__ = [
    "NEUTRAL_SCORE",
    "Detector",
    "Differenced",
    "MultivariateDetector",
    "ThresholdFilter",
    "score_stream",
]

#: What a detector says before it has seen enough data: "no opinion". River's detectors return
#: 0 in this situation; we use 0 too, so a cold detector never raises an alarm on its own.
NEUTRAL_SCORE = 0.0


@runtime_checkable
class Detector(Protocol):
    """A univariate streaming anomaly detector (one node, one quantity).

    Implementations keep their constructor to storing parameters (so ``repr``, copying and
    pickling work without special code) and keep bounded state: memory must not grow with the
    length of the stream. ``tests/analytics/test_detector_conformance.py`` checks all of this
    for every detector in this package.
    """

    def learn_one(self, x: float, t: float | None = None) -> None:
        """Fold one reading into the detector's state."""

    def score_one(self, x: float, t: float | None = None) -> float:
        """How anomalous ``x`` is, in [0, 1], given what was learned; must not change state."""


@runtime_checkable
class MultivariateDetector(Protocol):
    """The same contract over several quantities of one node at once."""

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        """Fold one record into the detector's state."""

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        """How anomalous the record is, in [0, 1]; must not change state."""


class ThresholdFilter:
    """Score with ``detector`` but do not let it learn from the readings it flags.

    Why: a detector that learns every reading slowly accepts a lasting fault (a stuck sensor, a
    drifting probe) as the new normal. This is River's ``anomaly.ThresholdFilter`` idea: readings
    scored at or above ``threshold`` are reported and kept out of the model.

    >>> from farmwatch_analytics.detectors.gaussian import WindowedGaussian
    >>> guarded = ThresholdFilter(WindowedGaussian(window=50, warmup=10), threshold=0.99)
    >>> for i in range(100):
    ...     guarded.learn_one(20.0 + 0.1 * (i % 5))
    >>> guarded.score_one(80.0) > 0.99
    True
    >>> guarded.learn_one(80.0)  # flagged: not learned
    >>> guarded.skipped
    1
    """

    def __init__(self, detector: Detector, threshold: float = 0.99) -> None:
        self.detector = detector
        self.threshold = threshold
        self.skipped = 0

    def __repr__(self) -> str:
        return f"ThresholdFilter({self.detector!r}, threshold={self.threshold!r})"

    def score_one(self, x: float, t: float | None = None) -> float:
        return self.detector.score_one(x, t)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self.detector.score_one(x, t) >= self.threshold:
            self.skipped += 1
            return
        self.detector.learn_one(x, t)


class Differenced:
    """Feed ``detector`` the change since the previous reading instead of the reading.

    Why: on a series that trends or swings daily, a sudden jump is small next to the series'
    overall spread but huge next to its usual step-to-step change.

    >>> from farmwatch_analytics.detectors.gaussian import WindowedGaussian
    >>> ramp = Differenced(WindowedGaussian(window=100, warmup=10))
    >>> for i in range(50):
    ...     ramp.learn_one(i + 0.1 * (i % 2))
    >>> ramp.score_one(50.0) < 0.9 < ramp.score_one(60.0)
    True
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._last: float | None = None

    def __repr__(self) -> str:
        return f"Differenced({self.detector!r})"

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._last is None:
            return NEUTRAL_SCORE
        return self.detector.score_one(x - self._last, t)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._last is not None:
            self.detector.learn_one(x - self._last, t)
        self._last = x


def score_stream(
    detector: Detector, values: Iterable[float], times: Iterable[float | None] | None = None
) -> list[float]:
    """Score each reading against what came before it, then learn it: the streaming protocol.

    >>> from farmwatch_analytics.detectors.gaussian import WindowedGaussian
    >>> scores = score_stream(WindowedGaussian(window=20, warmup=5), [1.0, 1.1, 0.9] * 10 + [9.0])
    >>> scores[0], scores[-1] > 0.99
    (0.0, True)
    """
    out: list[float] = []
    if times is None:
        for x in values:
            out.append(detector.score_one(x))
            detector.learn_one(x)
        return out
    for x, t in zip(values, times, strict=True):
        out.append(detector.score_one(x, t))
        detector.learn_one(x, t)
    return out
