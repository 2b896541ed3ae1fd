"""Process-anomaly detectors: the conformance checks for the multivariate one, and quality on
labelled simulator events (an ammonia rise, a cooling failure) against the quiet days before.
"""

from __future__ import annotations

import copy
import math
import pickle
from functools import cache

import numpy as np
from farmwatch_analytics.detectors.base import NEUTRAL_SCORE
from farmwatch_analytics.detectors.process import DailyProfileDetector, IsolationForestDetector
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.faults import Label
from farmwatch_simulators.scenarios import parse_scenario

SCENARIO = """
name: barn-events
seed: 21
start: 2026-05-01T17:00:00Z
duration: 7d
interval: 5m
farms:
  - {model: pig_barn, count: 2, nodes_per_farm: 1}
events:
  - {kind: ammonia_rise, farms: [pig-02], start: +5d, duration: 1d}
  - {kind: heat_stress, farms: [pig-01], start: +5d, duration: 1d, cooling: false}
"""

Rows = list[tuple[float, dict[str, float]]]


@cache
def barn_data() -> tuple[dict[str, Rows], tuple[Label, ...]]:
    run = generate_dataset(parse_scenario(SCENARIO, "barn-events"))
    rows: dict[str, Rows] = {}
    for _farm, node, record in run:
        readings = {
            q: v for q, v in record.readings.items() if q not in {"battery_voltage", "rssi"}
        }
        rows.setdefault(node, []).append((record.ts.timestamp(), readings))
    return rows, tuple(run.labels())


def _in_label(t: float, node: str, labels: tuple[Label, ...]) -> bool:
    return any(
        lb.node_id == node and lb.start.timestamp() <= t <= lb.end.timestamp() for lb in labels
    )


def _auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a random in-event score beats a random quiet one (ties count half)."""
    pos, neg = np.asarray(positive), np.asarray(negative)
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + ties / 2)


def test_isolation_forest_finds_the_barn_events() -> None:
    rows, labels = barn_data()
    for node, series in rows.items():
        det = IsolationForestDetector(seed=1)
        inside: list[float] = []
        outside: list[float] = []
        for t, record in series:
            score = det.score_one(record, t)
            det.learn_one(record, t)
            if t < series[0][0] + 3 * 86400:
                continue  # warming up and first fits
            (inside if _in_label(t, node, labels) else outside).append(score)
        assert inside, node
        assert _auc(inside, outside) >= 0.75, node


def test_daily_profile_flags_the_ammonia_rise_and_little_else() -> None:
    rows, labels = barn_data()
    det = DailyProfileDetector()
    flagged_in, flagged_out, n_in, n_out = 0, 0, 0, 0
    for t, record in rows["pig-02-n1"]:
        score = det.score_one(record["nh3"], t)
        if score < 0.5:
            det.learn_one(record["nh3"], t)  # don't learn what is flagged (ThresholdFilter)
        inside = _in_label(t, "pig-02-n1", labels)
        n_in += inside
        n_out += not inside
        flagged_in += inside and score >= 0.5
        flagged_out += (not inside) and score >= 0.5
    assert flagged_in / n_in >= 0.3
    assert flagged_out / n_out <= 0.01


def test_isolation_forest_conformance() -> None:
    """River's checks for a multivariate detector: cold start, no mutation, pickling, memory."""
    rows, _ = barn_data()
    series = rows["pig-01-n1"]
    det = IsolationForestDetector(history=400, min_fit=300, refit_every=200, seed=2)
    first = dict(series[0][1])
    assert det.score_one(first) == NEUTRAL_SCORE  # cold start: neutral, no exception
    det.learn_one(first)
    assert first == series[0][1]  # input not mutated
    for t, record in series[1:700]:
        det.learn_one(record, t)
    clone = pickle.loads(pickle.dumps(det))  # noqa: S301 - our own bytes, just made
    later = series[700:1200]
    for t, record in later:
        assert clone.score_one(record, t) == det.score_one(record, t)
        clone.learn_one(record, t)
        det.learn_one(record, t)
    size_early = len(pickle.dumps(copy.deepcopy(det)))
    for t, record in series[1200:]:
        det.learn_one(record, t)
    assert len(pickle.dumps(det)) < size_early * 1.2  # history is bounded
    scores = det.score_many([record for _, record in series[-50:]])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == [det.score_one(record) for _, record in series[-50:]]
    assert det.score_one({"air_temperature": 30.0}) == NEUTRAL_SCORE  # a record missing keys


def test_the_daily_profiles_fused_update_equals_score_then_guarded_learn() -> None:
    rows, _ = barn_data()
    fused, reference = DailyProfileDetector(), DailyProfileDetector()
    for t, record in rows["pig-02-n1"]:
        expected = reference.score_one(record["nh3"], t)
        if expected < 0.5:
            reference.learn_one(record["nh3"], t)
        assert fused.update(record["nh3"], t, 0.5) == expected
    assert pickle.dumps(fused) == pickle.dumps(reference)


def test_the_daily_profiles_update_when_ready_is_ready_then_update() -> None:
    """``update_ready`` (the engine's): nothing before ``ready``, then score + guarded learn."""
    rows, _ = barn_data()
    fused, reference = DailyProfileDetector(), DailyProfileDetector()
    scored = 0
    for i, (t, record) in enumerate(rows["pig-02-n1"]):
        x = math.nan if i % 97 == 0 else record["nh3"] * (3.0 if i % 211 == 0 else 1.0)
        if not reference.ready(t):
            assert fused.update_ready(x, t, 0.5) is None
            fused.learn_one(x, t)
            reference.learn_one(x, t)
            continue
        expected = reference.score_one(x, t)
        if expected < 0.5:
            reference.learn_one(x, t)
        assert fused.update_ready(x, t, 0.5) == expected
        scored += 1
        assert pickle.dumps(fused) == pickle.dumps(reference)
    assert scored > 1000
