"""Readings per second scored by the full analytics suite on one core.

Generates a simulated deployment offline (``--farms-per-model`` farms of each model type with
two nodes each, ``--days`` of 5-minute records), then times, in the same run and on the same
records:

* ``baseline``: a loop that only walks the readings (the cost of the data structures alone);
* ``faults``: the sensor-fault suite alone (``FaultSuite``);
* ``engine``: the whole :class:`~farmwatch_analytics.engine.AnalyticsEngine` — fault suite,
  daily-profile anomaly scores, indicators, the dawn DO forecast, limits and episodes.

Each is run ``--repeat`` times on a fresh engine and the median is reported. The target
(issue 6) is ``readings_per_s`` ≥ 100,000 on one core. The last line printed is one JSON
object with ``readings_per_s`` (the engine), ``faults_readings_per_s``,
``baseline_readings_per_s`` and ``readings``.

    .venv/bin/python bench/analytics.py
    .venv/bin/python bench/analytics.py --farms-per-model 1 --days 1 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from farmwatch_analytics.engine import AnalyticsEngine
from farmwatch_analytics.fault_suite import FaultSuite
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.registry import Deployment
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenario import MODEL_CYCLE
from farmwatch_simulators.scenarios import parse_scenario

Rows = list[tuple[str, str, Any]]


def scenario_text(farms_per_model: int, days: float) -> str:
    groups = "\n".join(
        f"  - {{model: {model.value}, count: {farms_per_model}, nodes_per_farm: 2}}"
        for model in MODEL_CYCLE
    )
    return (
        f"name: analytics-bench\nseed: 9\nstart: 2026-05-01T17:00:00Z\n"
        f"duration: {days * 24:g}h\ninterval: 5m\nfarms:\n{groups}\n"
    )


def engine_for(deployment: Deployment) -> AnalyticsEngine:
    farms = deployment.farms
    return AnalyticsEngine(
        {farm.id: profile_for_model(farm.model) for farm in farms},
        {farm.id: [node.id for node in farm.nodes] for farm in farms},
    )


def timed(run: Callable[[], None], repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        started = time.process_time()  # CPU time of this process: one core, not the wall
        run()
        seconds.append(time.process_time() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--farms-per-model", type=int, default=2)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    scenario = parse_scenario(scenario_text(args.farms_per_model, args.days), "analytics-bench")
    print(f"generating {args.days:g} days of {len(scenario.deployment.farms)} farms...", flush=True)
    rows: Rows = list(generate_dataset(scenario))
    readings = sum(len(record.readings) for _, _, record in rows)
    print(f"{len(rows)} records, {readings} readings", flush=True)

    def baseline() -> None:
        total = 0.0
        for _farm, _node, record in rows:
            for value in record.readings.values():
                total += value

    def faults() -> None:
        farms = scenario.deployment.farms
        suite = FaultSuite(
            {farm.id: profile_for_model(farm.model).shared_quantities for farm in farms},
            {farm.id: [node.id for node in farm.nodes] for farm in farms},
        )
        for farm, node, record in rows:
            suite.observe(farm, node, record.ts, record.readings)

    def engine() -> None:
        analytics = engine_for(scenario.deployment)
        for farm, node, record in rows:
            analytics.process(farm, node, record.ts, record.readings)

    figures = {}
    for name, run in (("baseline", baseline), ("faults", faults), ("engine", engine)):
        seconds = timed(run, args.repeat)
        figures[name] = readings / seconds
        print(f"{name:<9} {figures[name]:>12,.0f} readings/s  ({seconds:.2f} CPU s)", flush=True)
    print(
        json.dumps(
            {
                "readings_per_s": round(figures["engine"]),
                "faults_readings_per_s": round(figures["faults"]),
                "baseline_readings_per_s": round(figures["baseline"]),
                "engine_to_baseline_ratio": round(figures["engine"] / figures["baseline"], 4),
                "readings": readings,
                "target_readings_per_s": 100_000,
            }
        )
    )


if __name__ == "__main__":
    main()
