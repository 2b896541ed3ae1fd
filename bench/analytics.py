"""Readings per second scored by the full analytics suite on one core.

Generates a simulated deployment offline (``--farms-per-model`` farms of each model type with
two nodes each, ``--warmup-days`` then ``--days`` of 5-minute records). An engine learns the
warm-up days once (timed: ``warmup_readings_per_s``, a new deployment's first days, when the
detectors are still learning and the multivariate models get their first fits); its state is
pickled, as the analytics service does, and each repeat restores it and times, on the same
following days:

* ``baseline``: a loop that only walks the readings (the cost of the data structures alone);
* ``faults``: the sensor-fault suite alone (``FaultSuite``, from a fresh start);
* ``engine``: the whole :class:`~farmwatch_analytics.engine.AnalyticsEngine` in its steady
  state — fault suite, daily-profile anomaly scores, the hourly IsolationForest with its
  scheduled refits, indicators, the dawn DO forecast, daily indicators, limits and episodes.

scikit-learn is imported before timing (a service imports it once, at its first fit). Each is
run ``--repeat`` times and the median is reported. The hot modules are compiled with mypyc
(``make native``); the same bench then runs again in a subprocess on the pure-Python source
(``pure_python_readings_per_s``, the build a gateway without a C compiler runs), so the gain
is a ratio measured in the same minutes on the same machine. The target (issue 6) is
``readings_per_s`` ≥ 100,000 on one core. The last line printed is one JSON object with
``readings_per_s`` (the engine, steady state), ``warmup_readings_per_s``,
``faults_readings_per_s``, ``baseline_readings_per_s``, ``pure_python_readings_per_s``,
``compiled_to_pure_ratio``, ``compiled`` and ``readings``.

    .venv/bin/python bench/analytics.py
    .venv/bin/python bench/analytics.py --farms-per-model 1 --warmup-days 2 --days 1 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from farmwatch_analytics.engine import AnalyticsEngine
from farmwatch_analytics.fault_suite import FaultSuite
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_analytics.stateful import is_compiled
from farmwatch_core.registry import Deployment
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenario import MODEL_CYCLE
from farmwatch_simulators.scenarios import parse_scenario

Rows = list[tuple[str, str, Any]]


def scenario_text(farms_per_model: int, days: float) -> str:  # days: the whole span
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


def pure_python_rate(argv: list[str]) -> int:
    """The engine's readings/s with the same arguments on the pure-Python modules."""
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "scripts"))
    from build_native import pure_python_copy

    print("the same on the pure-Python modules (a subprocess)...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(pure_python_copy(Path(tmp))))
        done = subprocess.run(
            [sys.executable, __file__, *argv, "--no-pure"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["compiled"]:
        raise RuntimeError("the pure-Python run imported the compiled modules")
    rate: int = figures["readings_per_s"]
    print(f"pure Python {rate:>10,.0f} readings/s (engine)", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--farms-per-model", type=int, default=2)
    parser.add_argument("--warmup-days", type=float, default=4.0)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-pure", action="store_true", help="skip the pure-Python run (the subprocess's own)"
    )
    args = parser.parse_args()

    span = args.warmup_days + args.days
    scenario = parse_scenario(scenario_text(args.farms_per_model, span), "analytics-bench")
    print(f"generating {span:g} days of {len(scenario.deployment.farms)} farms...", flush=True)
    every: Rows = list(generate_dataset(scenario))
    split = every[0][2].ts.timestamp() + args.warmup_days * 86400
    early = [row for row in every if row[2].ts.timestamp() < split]
    rows = [row for row in every if row[2].ts.timestamp() >= split]
    readings = sum(len(record.readings) for _, _, record in rows)
    early_readings = sum(len(record.readings) for _, _, record in early)
    print(
        f"warm-up {len(early)} records; timed {len(rows)} records, {readings} readings", flush=True
    )

    import sklearn.ensemble  # noqa: F401 - imported once per process, as the service does

    warm = engine_for(scenario.deployment)
    started = time.process_time()
    for farm, node, record in early:
        warm.process(farm, node, record.ts, record.readings)
    warmup_rate = early_readings / (time.process_time() - started)
    print(
        f"warm-up   {warmup_rate:>12,.0f} readings/s (first days: detectors learning)", flush=True
    )
    state = pickle.dumps(warm, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"engine state {len(state) / 1e6:.1f} MB pickled", flush=True)

    def baseline() -> None:
        total = 0.0
        for _farm, _node, record in rows:
            for value in record.readings.values():
                total += value

    farms = scenario.deployment.farms
    shared = {farm.id: profile_for_model(farm.model).shared_quantities for farm in farms}
    farm_nodes = {farm.id: [node.id for node in farm.nodes] for farm in farms}

    def faults() -> None:
        suite = FaultSuite(shared, farm_nodes)  # profiles read above: YAML is not the suite
        for farm, node, record in rows:
            suite.observe(farm, node, record.ts, record.readings)

    restored = [pickle.loads(state) for _ in range(args.repeat)]  # noqa: S301 - our own bytes

    def engine() -> None:
        analytics = restored.pop()
        for farm, node, record in rows:
            analytics.process(farm, node, record.ts, record.readings)

    figures = {}
    for name, run in (("baseline", baseline), ("faults", faults), ("engine", engine)):
        seconds = timed(run, args.repeat)
        figures[name] = readings / seconds
        print(f"{name:<9} {figures[name]:>12,.0f} readings/s  ({seconds:.2f} CPU s)", flush=True)
    pure = None if args.no_pure or not is_compiled() else pure_python_rate(sys.argv[1:])
    print(
        json.dumps(
            {
                "readings_per_s": round(figures["engine"]),
                "compiled": is_compiled(),
                "pure_python_readings_per_s": pure,
                "compiled_to_pure_ratio": round(figures["engine"] / pure, 2) if pure else None,
                "warmup_readings_per_s": round(warmup_rate),
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
