"""The sensor-fault detectors against the simulators' labelled faults, and on clean data.

The floors here are below what ``bench/faults.py`` measures on its larger scenario (the README
has those figures) so the test is stable, yet a detector that stops working fails them: every
kind must be found on this small farm set, and the clean twin must stay nearly silent.
"""

from __future__ import annotations

from functools import cache

import pytest
from farmwatch_analytics.detectors.sensor_faults import (
    ALARM,
    FlatlineDetector,
    NeighbourDriftDetector,
    SpikeDetector,
)
from farmwatch_analytics.fault_evaluation import (
    SENSOR_FAULT_KINDS,
    Alarm,
    FaultScore,
    evaluate,
    run_detectors,
)
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.registry import ModelType
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.fault_bench import build_fault_scenario
from farmwatch_simulators.scenarios import Scenario, parse_scenario

DAYS = 9


@cache
def scenario() -> Scenario:
    drift = {model.value: profile_for_model(model).shared_quantities for model in ModelType}
    text = build_fault_scenario(
        farms_per_model=2, days=DAYS, per_kind=1, seed=3, drift_quantities=drift
    )
    return parse_scenario(text, "fault-test")


def shared() -> dict[str, tuple[str, ...]]:
    return {
        farm.id: profile_for_model(farm.model).shared_quantities
        for farm in scenario().deployment.farms
    }


@cache
def faulted() -> tuple[dict[str, FaultScore], list[Alarm]]:
    run = generate_dataset(scenario())
    rows = list(run)
    alarms, readings = run_detectors(rows, shared())
    assert readings > 100_000
    return evaluate(run.labels(), alarms), alarms


@pytest.mark.parametrize("kind", SENSOR_FAULT_KINDS)
def test_every_injected_fault_kind_is_found(kind: str) -> None:
    scores, _ = faulted()
    assert scores[kind].labels == 1
    assert scores[kind].recall == 1.0, kind


def test_alarms_point_at_real_faults() -> None:
    scores, _ = faulted()
    alarms = sum(score.alarms for score in scores.values())
    true = sum(score.true_alarms for score in scores.values())
    assert alarms > 0
    assert true / alarms >= 0.9


def test_clean_farms_stay_nearly_silent() -> None:
    """Below one false alarm per 20 node-days on the fault-free twin of the same farms."""
    rows = list(generate_dataset(scenario(), faults=False, events=False))
    alarms, _ = run_detectors(rows, shared())
    nodes = sum(len(farm.nodes) for farm in scenario().deployment.farms)
    assert len(alarms) <= nodes * DAYS / 20, [(a.detector, a.node, a.quantity) for a in alarms]


def test_a_flagged_spike_is_not_learned_as_the_new_normal() -> None:
    det = SpikeDetector(warmup=50)
    for i in range(400):
        det.learn_one(20.0 + 0.05 * (i % 10))
    for _ in range(10):  # a unit error: the °F number of 20 °C, ten readings long
        assert det.score_one(68.0) >= ALARM
        det.learn_one(68.0)
    assert det.score_one(20.2) < ALARM  # back to normal: no alarm on the return


def test_a_replaced_probe_is_accepted_after_relearn_after_readings() -> None:
    det = SpikeDetector(warmup=50, relearn_after=5)
    for i in range(400):
        det.learn_one(7.0 + 0.01 * (i % 10))
    flagged = []
    for _ in range(8):
        flagged.append(det.score_one(9.0) >= ALARM)
        det.learn_one(9.0)
    assert flagged[:5] == [True] * 5
    assert flagged[-1] is False


def test_stuck_threshold_follows_the_sensors_own_repeats() -> None:
    """A sensor that normally repeats 10 times is not stuck at 12; a DO probe would be."""
    coarse = FlatlineDetector(warmup=100)
    for i in range(600):
        coarse.learn_one(float(i // 10))  # runs of 10
    for _ in range(11):
        coarse.learn_one(99.0)
    assert coarse.score_one(99.0) < ALARM  # run of 12 < 2 × 10
    fine = FlatlineDetector(warmup=100)
    for i in range(600):
        fine.learn_one(5.0 + 0.01 * (i % 7))
    for _ in range(11):
        fine.learn_one(4.0)
    assert fine.score_one(4.0) >= ALARM


def test_neighbour_drift_ignores_a_steady_calibration_offset() -> None:
    det = NeighbourDriftDetector()
    step = 300.0
    scores = []
    for i in range(12 * 24 * 5):
        offset = 0.4 + (0.02 if (i // 6) % 2 else -0.02)  # a steady offset with slow wander
        det.learn_one(offset, i * step)
        scores.append(det.score_one(offset, (i + 1) * step))
    assert max(scores) < ALARM
