"""The analytics engine end to end over simulated farms: what a farmer would be told, once."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

from farmwatch_analytics.engine import AlertCandidate, AnalyticsEngine, CandidateKind
from farmwatch_analytics.model_profiles import Severity, profile_for_model
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import load_scenario


def _run(name: str) -> tuple[list[AlertCandidate], Counter[str], AnalyticsEngine]:
    scenario = load_scenario(name)
    farms = scenario.deployment.farms
    engine = AnalyticsEngine(
        {farm.id: profile_for_model(farm.model) for farm in farms},
        {farm.id: [node.id for node in farm.nodes] for farm in farms},
    )
    candidates: list[AlertCandidate] = []
    derived: Counter[str] = Counter()
    for farm, node, record in generate_dataset(scenario):
        out = engine.process(farm, node, record.ts, record.readings)
        candidates.extend(out.candidates)
        derived.update(point.name for point in out.derived)
    return candidates, derived, engine


def test_the_dawn_crash_is_forecast_then_confirmed_then_resolved() -> None:
    candidates, derived, _ = _run("dawn-do-crash")
    forecasts = [c for c in candidates if c.kind is CandidateKind.FORECAST]
    assert {(c.node, c.state) for c in forecasts} == {
        ("pond-01-n1", "firing"),
        ("pond-01-n1", "resolved"),
    }
    firing = next(c for c in forecasts if c.state == "firing")
    critical = [
        c
        for c in candidates
        if c.kind is CandidateKind.LIMIT and c.severity is Severity.CRITICAL and c.state == "firing"
    ]
    crash = [c for c in critical if c.subject == "dissolved_oxygen"]
    assert [c.node for c in crash] == ["pond-01-n1"]  # once, for the crashing pond only
    assert crash[0].ts - firing.ts >= timedelta(hours=2)  # the forecast came hours earlier
    assert crash[0].limit == 2.3
    assert "tilapia" in (crash[0].limit_source or "")
    resolved = [c for c in candidates if c.key == crash[0].key and c.state == "resolved"]
    assert len(resolved) == 1
    assert resolved[0].ts > crash[0].ts
    assert derived["do_percent_saturation"] > 0
    assert derived["unionised_ammonia"] > 0


def test_every_episode_that_fires_resolves_or_is_still_open() -> None:
    candidates, _, _engine = _run("dawn-do-crash")
    states: dict[tuple[str, str, str, str], list[str]] = {}
    for c in candidates:
        states.setdefault(c.key, []).append(c.state)
    for key, sequence in states.items():
        # firing, resolved, firing, resolved... never two firings in a row
        assert all(a != b for a, b in itertools.pairwise(sequence)), key
        assert sequence[0] == "firing"


def test_sensor_faults_reach_the_technician_not_the_farmer() -> None:
    candidates, _, _ = _run("sensor-faults")
    faults = {(c.node, c.subject) for c in candidates if c.kind is CandidateKind.SENSOR_FAULT}
    assert ("pig-02-n1", "nh3") in faults  # the spike
    assert ("poultry-05-n1", "air_temperature") in faults  # the unit error
    offline = {c.node for c in candidates if c.kind is CandidateKind.OFFLINE}
    assert "gh-03-n1" in offline  # the dropout
    assert all(
        c.severity is Severity.WARNING
        for c in candidates
        if c.kind in (CandidateKind.SENSOR_FAULT, CandidateKind.OFFLINE)
    )
