"""Every detector in farmwatch_analytics.detectors goes through the same checks (River's idea).

Detectors are discovered, not listed, so a new detector is checked the day it lands. Each one
runs in a small configuration where it has one (short windows, so that "state stops growing"
shows within a few thousand readings), else with its defaults; the default configuration is
also checked for cold start and score range. Readings come every 5 minutes with their times,
as on a farm. The quality check here is for the general-purpose detectors (spikes on a noisy
daily swing); the sensor-fault detectors are held to the simulators' labelled faults by their
own tests and ``bench/faults.py``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pickle
import pkgutil
import random
from collections.abc import Callable

import farmwatch_analytics.detectors as detectors_pkg
import pytest
from farmwatch_analytics.detectors.base import (
    NEUTRAL_SCORE,
    Detector,
    Differenced,
    ThresholdFilter,
    score_stream,
)
from farmwatch_analytics.detectors.context import ContextNovelty
from farmwatch_analytics.detectors.ensemble import EnsembleDetector
from farmwatch_analytics.detectors.gaussian import WindowedGaussian
from farmwatch_analytics.detectors.knn import ConformalKNN
from farmwatch_analytics.detectors.rank import EmpiricalTail

Factory = Callable[[], Detector]


def discover() -> dict[str, type]:
    """Every public class of the package with ``learn_one`` and ``score_one``."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(detectors_pkg.__path__):
        module = importlib.import_module(f"{detectors_pkg.__name__}.{info.name}")
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                obj.__module__ == module.__name__
                and not name.startswith("_")
                and callable(getattr(obj, "learn_one", None))
                and callable(getattr(obj, "score_one", None))
                and not getattr(obj, "_is_protocol", False)
                and not getattr(obj, "multivariate", False)  # own checks: test_process_detectors
            ):
                found[f"{module.__name__}.{name}"] = obj
    return found


# Small configurations: windows of a few hundred readings, so bounded memory shows quickly.
SMALL: dict[type, Factory] = {
    WindowedGaussian: lambda: WindowedGaussian(window=200, warmup=20),
    ConformalKNN: lambda: ConformalKNN(dim=6, k=3, bank=150, calibration=100),
    EnsembleDetector: lambda: EnsembleDetector(
        gaussian_window=200,
        diff_gaussian_window=200,
        short_gaussian_window=50,
        rank_window=200,
        diff_rank_window=200,
        use_knn=True,
        knn_bank=150,
        likelihood_history=300,
        likelihood_learning=100,
        context_memory=500,
        warmup=100,
    ),
    ThresholdFilter: lambda: ThresholdFilter(WindowedGaussian(window=200, warmup=20), 0.99),
    Differenced: lambda: Differenced(WindowedGaussian(window=200, warmup=20)),
    EmpiricalTail: lambda: EmpiricalTail(window=200, warmup=20),
    ContextNovelty: lambda: ContextNovelty(memory=500, scale_after=100, period=86400.0),
}
# Wrappers need a detector to wrap, a plausibility band needs its band; everything else must
# work with its defaults. Keyed by name so a detector module can be added without editing here.
DEFAULT: dict[str, Callable[[type], Detector]] = {
    "ThresholdFilter": lambda cls: cls(WindowedGaussian()),
    "Differenced": lambda cls: cls(WindowedGaussian()),
    "RangeDetector": lambda cls: cls(0.0, 40.0),
}
GENERAL_PURPOSE = [
    EnsembleDetector,
    WindowedGaussian,
    EmpiricalTail,
    ConformalKNN,
    ContextNovelty,
    ThresholdFilter,
    Differenced,
]
STEP_S = 300.0
CLASSES = sorted(discover().values(), key=lambda c: c.__name__)
IDS = [c.__name__ for c in CLASSES]


def default(cls: type) -> Detector:
    made = DEFAULT[cls.__name__](cls) if cls.__name__ in DEFAULT else cls()
    assert isinstance(made, Detector), f"{cls.__name__} does not implement Detector"
    return made


def small(cls: type) -> Detector:
    return SMALL[cls]() if cls in SMALL else default(cls)


def run(detector: Detector, values: list[float], start: int = 0) -> list[float]:
    times = [(start + i) * STEP_S for i in range(len(values))]
    return score_stream(detector, values, times)


def series(n: int, seed: int = 7) -> list[float]:
    """Daily swing, noise, a few spikes and a level shift: something to react to."""
    rng = random.Random(seed)
    out = [20 + 3 * math.sin(2 * math.pi * i / 96) + rng.gauss(0, 0.3) for i in range(n)]
    for i in range(500, n, 701):
        out[i] += 15.0
    for i in range(n * 2 // 3, n):
        out[i] += 6.0
    return out


def test_discovery_finds_the_detectors() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {
        "EnsembleDetector",
        "WindowedGaussian",
        "ConformalKNN",
        "ContextNovelty",
        "ThresholdFilter",
    } <= names


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_cold_start_is_neutral(cls: type) -> None:
    """An ordinary reading gets "no opinion" before anything is learned; nothing raises.

    (Rule-based detectors, a plausibility band, may flag an absurd reading from the start.)
    """
    for detector in (default(cls), small(cls)):
        assert detector.score_one(20.0, 0.0) == NEUTRAL_SCORE
        assert 0.0 <= detector.score_one(-1e9, 0.0) <= 1.0
        detector.learn_one(20.0, 0.0)  # learning the very first reading must not raise either
        assert 0.0 <= detector.score_one(20.0, STEP_S) <= 1.0


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_scoring_changes_nothing(cls: type) -> None:
    """score_one is a question, not an update: extra questions leave later scores unchanged."""
    data = series(1500)
    asked, quiet = small(cls), small(cls)
    with_questions: list[float] = []
    for i, x in enumerate(data):
        t = i * STEP_S
        asked.score_one(x * 3.0 + 100.0, t)  # an unrelated reading, scored and never learned
        first = asked.score_one(x, t)
        assert asked.score_one(x, t) == first
        with_questions.append(first)
        asked.learn_one(x, t)
    before = list(data)
    assert run(quiet, data) == with_questions
    assert data == before  # the input sequence is not mutated


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_pickle_round_trip_mid_stream(cls: type) -> None:
    data = series(2000)
    detector = small(cls)
    run(detector, data[:1000])
    clone = pickle.loads(pickle.dumps(detector))  # noqa: S301 -- our own bytes, just made
    assert run(clone, data[1000:], 1000) == run(detector, data[1000:], 1000)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_memory_is_bounded(cls: type) -> None:
    """State after 30 days of 5-minute readings is no larger than after 10 (windows are full)."""
    data = series(9000)
    detector = small(cls)
    run(detector, data[:3000])
    size_early = len(pickle.dumps(detector))
    run(detector, data[3000:], 3000)
    size_late = len(pickle.dumps(detector))
    assert size_late <= size_early * 1.05 + 64, (size_early, size_late)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_streaming_prefix_scores_do_not_change(cls: type) -> None:
    data = series(2000)
    full = run(small(cls), data)
    prefix = run(small(cls), data[:1200])
    assert full[:1200] == prefix


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_scores_stay_in_unit_interval_on_nasty_input(cls: type) -> None:
    nasty = [5.0] * 400 + [1e12, -1e12, 0.0, 5.0, 5.0] + [(-1.0) ** i * 1e-9 for i in range(600)]
    for detector in (small(cls), default(cls)):
        for i, x in enumerate(nasty):
            score = detector.score_one(x, i * STEP_S)
            assert 0.0 <= score <= 1.0, (x, score)
            detector.learn_one(x, i * STEP_S)


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a labelled reading outscores an unlabelled one (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = sorted(s for s, y in zip(scores, labels, strict=True) if not y)
    wins = 0.0
    for s in pos:
        below = sum(1 for v in neg if v < s)
        ties = sum(1 for v in neg if v == s)
        wins += below + ties / 2
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("cls", GENERAL_PURPOSE, ids=lambda c: c.__name__)
def test_better_than_chance_on_injected_spikes(cls: type) -> None:
    """Spikes of 8 noise-sigmas on a noisy daily swing, 300 readings apart, after warm-up."""
    rng = random.Random(11)
    n = 4000
    data = [20 + 3 * math.sin(2 * math.pi * i / 96) + rng.gauss(0, 0.5) for i in range(n)]
    spikes = set(range(1000, n, 300))
    for i in spikes:
        data[i] += 8 * 0.5 * rng.choice((-1, 1)) + (8 if i % 600 == 0 else 0)
    scores = run(small(cls), data)
    labels = [i in spikes for i in range(n)]
    auc = roc_auc(scores[500:], labels[500:])
    assert auc >= 0.8, auc
