"""The fault suite's fast path finds exactly what its per-detector reference finds.

``FaultSuite`` runs the value checks of a reading in one fused function (``fused=True``, the
default) instead of asking each detector ``score_one`` and ``learn_one`` (``fused=False``, the
reference). The fused function spells the detectors' rules a second time, so these tests feed
both paths the same records, with every kind of simulated fault, and require the same
findings (scores included) and the same detector state afterwards: if anyone changes a
detector and not the fast path (or the other way round), this fails.
"""

from __future__ import annotations

import copyreg
import math
import pickle
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from farmwatch_analytics.detectors.sensor_faults import BatteryDetector, RangeDetector
from farmwatch_analytics.fault_suite import FaultSuite, Finding, _Series
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.registry import ModelType
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.fault_bench import SENSOR_FAULT_KINDS, build_fault_scenario
from farmwatch_simulators.scenarios import Scenario, parse_scenario

Rows = list[tuple[str, str, Any]]


@cache
def scenario() -> Scenario:
    drift = {model.value: profile_for_model(model).shared_quantities for model in ModelType}
    text = build_fault_scenario(
        farms_per_model=1, days=7, per_kind=1, seed=5, drift_quantities=drift
    )
    return parse_scenario(text, "fault-fast-path")


@cache
def generated() -> tuple[Rows, frozenset[str]]:
    run = generate_dataset(scenario())
    records = list(run)
    return records, frozenset(label.kind for label in run.labels() if label.category == "fault")


def rows() -> Rows:
    return generated()[0]


def suite(*, fused: bool, registry: bool = True) -> FaultSuite:
    farms = scenario().deployment.farms
    shared = {farm.id: profile_for_model(farm.model).shared_quantities for farm in farms}
    nodes = {farm.id: [node.id for node in farm.nodes] for farm in farms} if registry else None
    return FaultSuite(shared, nodes, fused=fused)


def run(faults: FaultSuite, records: Rows) -> list[Finding]:
    found: list[Finding] = []
    for farm, node, record in records:
        found.extend(faults.observe(farm, node, record.ts, record.readings))
    return found


def state(faults: FaultSuite) -> bytes:
    """Every detector's state, as bytes: equal bytes, equal state (floats to the last bit)."""
    return pickle.dumps((faults._series, faults._nodes, faults._latest, faults.readings))


@cache
def both() -> tuple[list[Finding], list[Finding], FaultSuite, FaultSuite]:
    fast, reference = suite(fused=True), suite(fused=False)
    return run(fast, rows()), run(reference, rows()), fast, reference


def test_the_scenario_has_every_fault_kind() -> None:
    assert generated()[1] >= set(SENSOR_FAULT_KINDS)


def test_fast_path_findings_equal_the_reference() -> None:
    fast, reference, _, _ = both()
    # Not vacuous: every detector the fast path fuses, and the others, flagged something.
    detectors = {finding.detector for finding in reference}
    assert {"flatline", "spike", "noise", "neighbour_drift", "dropout", "battery"} <= detectors
    assert len(fast) == len(reference)
    for i, (a, b) in enumerate(zip(fast, reference, strict=True)):
        assert a == b, (i, a, b)


def test_fast_path_leaves_the_detectors_as_the_reference_does() -> None:
    _, _, fast, reference = both()
    assert fast.readings == reference.readings > 100_000
    assert state(fast) == state(reference)


def test_fast_path_learns_nodes_without_a_registry_like_the_reference() -> None:
    records = rows()[: len(rows()) // 2]
    fast, reference = suite(fused=True, registry=False), suite(fused=False, registry=False)
    assert run(fast, records) == run(reference, records)
    assert state(fast) == state(reference)


@pytest.mark.parametrize(
    "hostile",
    [math.nan, 1e12, -1e12, 0.0, math.inf],
    ids=["nan", "huge", "-huge", "zero", "inf"],
)
def test_fast_path_equals_the_reference_on_hostile_values(hostile: float) -> None:
    """Constants, alternations, impossible and non-finite values: both paths agree."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    records = []
    for i in range(1500):
        value = 7.0 + 0.01 * (i % 5) if i < 700 else 7.0 + (-1.0) ** i * 1e-9
        if i in (900, 905, 906, 1200):
            value = hostile
        readings = {"ph": value, "water_temperature": 25.0 + 0.1 * math.sin(i / 20), "rain": 0.0}
        records.append(("pond-x", "pond-x-n1", start + timedelta(minutes=5 * i), readings))
        records.append(("pond-x", "pond-x-n2", start + timedelta(minutes=5 * i), {"ph": 7.1}))
    found = {}
    for fused in (True, False):
        faults = FaultSuite({"pond-x": ("ph", "water_temperature")}, fused=fused)
        found[fused] = [
            f for farm, node, ts, r in records for f in faults.observe(farm, node, ts, r)
        ]
    # NaN scores (a NaN reading's spike score) compare unequal to themselves: compare reprs.
    assert repr(found[True]) == repr(found[False])
    assert found[True], "the hostile values were not flagged at all"


def test_a_pickled_suite_continues_where_it_stopped() -> None:
    records = rows()
    half = len(records) // 2
    faults = suite(fused=True)
    run(faults, records[:half])
    clone = pickle.loads(pickle.dumps(faults))  # noqa: S301 -- our own bytes, just made
    assert run(clone, records[half : half + 20_000]) == run(faults, records[half : half + 20_000])


def test_state_pickled_by_an_older_suite_is_refused() -> None:
    """The service starts fresh on a ValueError, rather than crash on a missing attribute."""

    class OlderSuite:  # pickles as an older farmwatch's FaultSuite did: class and __dict__
        def __reduce__(self) -> tuple[object, ...]:
            state = {"shared": {}, "farm_nodes": {}, "_detectors": {}, "readings": 0}
            return (copyreg.__newobj__, (FaultSuite,), state)  # type: ignore[attr-defined]

    with pytest.raises(ValueError, match="older version"):
        # protocol 1: the same calls on loading, without protocol 2's class check on dumping
        pickle.loads(pickle.dumps(OlderSuite(), protocol=1))  # noqa: S301 -- our own bytes


def test_checks_the_fast_path_does_not_know_go_the_reference_way() -> None:
    """A set of detectors the fused function was not written for is still run, by the book."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    found = {}
    for fused in (True, False):
        faults = FaultSuite(fused=fused)
        odd = {"range": RangeDetector(6.0, 9.0), "battery": BatteryDetector(low_v=6.5)}
        faults._series[("pond-x-n1", "ph")] = _Series("ph", odd)  # type: ignore[arg-type]
        found[fused] = [
            finding
            for i in range(300)
            for finding in faults.observe(
                "pond-x", "pond-x-n1", start + timedelta(minutes=5 * i), {"ph": 8.9 - 0.02 * i}
            )
        ]
    assert found[True] == found[False]
    assert {f.detector for f in found[True]} == {"range", "battery"}
