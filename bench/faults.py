"""Precision, recall and detection delay of the sensor-fault detectors, per fault kind.

Builds a scenario with ``--per-kind`` faults of every kind (``farmwatch_simulators.
fault_bench``), generates it offline with its ground-truth labels, streams every reading
through the detector suite (``farmwatch_analytics.fault_evaluation``) and matches alarms to
labels. The same run scores the clean twin (no faults) as a baseline: every alarm there is
false, which shows the detectors' false-alarm rate on normal data.

Targets (issue 6): recall ≥ 0.95 and precision ≥ 0.9 for every sensor-fault kind.

The last line printed is one JSON object: per kind ``recall``, ``precision``, ``alarms``,
``delay_median_s``, plus ``readings_per_s`` (wall clock, the suite and the alarm bookkeeping)
and ``clean_false_alarms_per_node_day``. ``--reference`` runs the suite's per-detector
reference path instead of its fused fast path: the same figures, slower.

    .venv/bin/python bench/faults.py                     # 24 farms, 14 days, 8 per kind
    .venv/bin/python bench/faults.py --farms-per-model 1 --days 7 --per-kind 1   # quick
"""

from __future__ import annotations

import argparse
import json
import time

from farmwatch_analytics.fault_evaluation import SENSOR_FAULT_KINDS, evaluate, run_detectors
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.registry import ModelType
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.fault_bench import build_fault_scenario
from farmwatch_simulators.scenarios import parse_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--farms-per-model", type=int, default=4)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--nodes-per-farm", type=int, default=2)
    parser.add_argument(
        "--reference",
        action="store_true",
        help="run the suite's per-detector reference path instead of its fused fast path",
    )
    args = parser.parse_args()

    # Drift is found against neighbours, so drifts go on quantities nodes of a farm share.
    drift_quantities = {
        model.value: profile_for_model(model).shared_quantities for model in ModelType
    }
    text = build_fault_scenario(
        args.farms_per_model,
        args.days,
        args.per_kind,
        args.seed,
        nodes_per_farm=args.nodes_per_farm,
        drift_quantities=drift_quantities,
    )
    scenario = parse_scenario(text, "fault-bench")
    nodes = sum(len(farm.nodes) for farm in scenario.deployment.farms)
    print(
        f"scenario: {nodes} nodes × {args.days} days, {args.per_kind} faults per kind", flush=True
    )

    run = generate_dataset(scenario)
    rows = list(run)
    labels = run.labels()
    started = time.perf_counter()
    shared = {
        farm.id: profile_for_model(farm.model).shared_quantities
        for farm in scenario.deployment.farms
    }
    alarms, readings = run_detectors(rows, shared, fused=not args.reference)
    elapsed = time.perf_counter() - started
    scores = evaluate(labels, alarms)

    clean_rows = list(generate_dataset(scenario, faults=False, events=False))
    clean_alarms, _ = run_detectors(clean_rows, shared, fused=not args.reference)
    clean_rate = len(clean_alarms) / (nodes * args.days)

    print(
        f"{'kind':<14}{'labels':>7}{'recall':>8}{'precision':>10}{'alarms':>8}{'delay_med_s':>12}"
    )
    result: dict[str, object] = {}
    for kind in SENSOR_FAULT_KINDS:
        figures = scores[kind].as_dict()
        result[kind] = figures
        print(
            f"{kind:<14}{figures['labels']:>7}{figures['recall']:>8}{figures['precision']:>10}"
            f"{figures['alarms']:>8}{figures['delay_median_s']!s:>12}"
        )
    print(f"clean twin: {len(clean_alarms)} alarms ({clean_rate:.3f} per node-day)")
    by_detector: dict[str, int] = {}
    for alarm in clean_alarms:
        by_detector[alarm.detector] = by_detector.get(alarm.detector, 0) + 1
    print(f"clean alarms by detector: {by_detector}")
    result.update(
        nodes=nodes,
        days=args.days,
        per_kind=args.per_kind,
        path="reference" if args.reference else "fused",
        readings_scored=readings,
        readings_per_s=round(readings / elapsed),
        clean_false_alarms_per_node_day=round(clean_rate, 4),
        min_recall=min(scores[k].recall for k in SENSOR_FAULT_KINDS),
        min_precision=min(scores[k].precision for k in SENSOR_FAULT_KINDS),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
