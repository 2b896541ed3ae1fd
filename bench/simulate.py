"""How many nodes and records per second one simulator process generates.

Dataset mode (the default) runs a scenario of ``--nodes`` nodes for ``--days`` simulated days
at ``--interval`` seconds, offline, three ways in the same run so the numbers compare on the
same machine and load:

* ``baseline``: the clean models (no faults, no events): the cost of the physics alone;
* ``faulted``: the same with sensor faults on ~10 % of the nodes and a DO-crash event on the
  ponds (each event-affected node runs a counterfactual twin to find its exact label spans);
* ``written``: ``faulted`` plus writing telemetry and labels (``--format csv`` or ``parquet``).

Live mode (``--mode live``) starts its own mosquitto from the project config
(``farmwatch.broker.MosquittoProcess`` on a free port), runs the real ``SimulatorRunner`` for
``--live-nodes`` nodes every ``--live-interval`` seconds, QoS 1, for ``--live-seconds``, and
reports acknowledged records per second, how late each publish was against its node's
schedule (the runner's own measure: due time = start + phase + k intervals), the runner's
warm-up (the models' spin-up, paid once before the clock starts) and the process's peak RSS.
A baseline with ``--live-nodes / 10`` nodes runs first, in the same process and broker.

The last line printed is one JSON object (``nodes``, ``msgs_per_s``,
``lag_behind_schedule_p99_s``...). In dataset mode there is no schedule to lag behind, so
``lag_behind_schedule_p99_s`` is null and ``mode`` says ``dataset``.

    .venv/bin/python bench/simulate.py --nodes 100 --days 7 --interval 300
    .venv/bin/python bench/simulate.py --mode live --live-nodes 10000 --live-interval 10
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from farmwatch_core.settings import MqttSettings
from farmwatch_simulators.dataset import generate_dataset, write_dataset
from farmwatch_simulators.runner import SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from farmwatch_simulators.scenarios import Scenario, parse_scenario

from farmwatch.broker import MosquittoProcess, free_port

MODELS = ("aquaculture_pond", "pig_barn", "greenhouse", "rice_field", "poultry_house", "orchard")
# A quantity every node of the model reports, for the benchmark's value faults.
FAULT_QUANTITY = {
    "pond": "dissolved_oxygen",
    "pig": "nh3",
    "gh": "soil_moisture",
    "rice": "soil_moisture",
    "poultry": "air_temperature",
    "orchard": "soil_moisture",
}
FAULT_KINDS = ("stuck", "spike", "drift", "dropout", "noise_burst", "battery_death")


def bench_scenario(nodes: int, days: float, interval_s: int, seed: int) -> str:
    """YAML for ``nodes`` single-node farms cycling through the model types."""
    counts = [nodes // len(MODELS) + (1 if i < nodes % len(MODELS) else 0) for i in range(6)]
    farms = "\n".join(
        f"  - {{model: {model}, count: {count}, nodes_per_farm: 1}}"
        for model, count in zip(MODELS, counts, strict=True)
        if count
    )
    return (
        f"name: bench\nseed: {seed}\nstart: 2026-07-06T17:00:00Z\n"
        f"duration: {days * 24:g}h\ninterval: {interval_s}\nfarms:\n{farms}\n"
    )


def with_faults(text: str, scenario: Scenario) -> str:
    """Add a fault to every tenth farm and a DO crash over the ponds, spread over the run."""
    hours = (scenario.end - scenario.start).total_seconds() / 3600.0
    lines = ["faults:"]
    for i, farm in enumerate(scenario.deployment.farms[::10]):
        kind = FAULT_KINDS[i % len(FAULT_KINDS)]
        extra = ""
        if kind not in {"dropout", "battery_death"}:
            extra += f", quantity: {FAULT_QUANTITY[farm.id.split('-')[0]]}"
        if kind == "drift":
            extra += ", rate_per_day: 0.5"
        if kind != "spike":
            extra += f", duration: {max(0.5, min(6.0, hours / 8)):g}h"
        start = hours * (i % 5 + 1) / 7
        lines.append(f"  - {{kind: {kind}, farm: {farm.id}, start: +{start:.2f}h{extra}}}")
    if any(f.model == "aquaculture_pond" for f in scenario.deployment.farms):
        crash = f"start: +{hours * 0.2:.2f}h, duration: {min(14.0, hours * 0.3):.2f}h"
        lines.append(f"events:\n  - {{kind: do_crash, {crash}}}")
    return text + "\n".join(lines) + "\n"


def timed(scenario: Scenario, *, faults: bool, events: bool) -> tuple[int, int, float]:
    began = time.perf_counter()
    run = generate_dataset(scenario, faults=faults, events=events)
    for _ in run:
        pass
    run.labels()
    return run.records, run.readings, time.perf_counter() - began


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def live_run(broker_url: str, nodes: int, interval: float, seconds: float) -> dict[str, Any]:
    began_build = time.perf_counter()
    deployment = build_deployment(nodes, seed=1, nodes_per_farm=1)
    runner = SimulatorRunner(
        MqttSettings(url=broker_url, topic_prefix=f"bench{nodes}"),
        deployment,
        interval_s=interval,
        count=max(2, round(seconds / interval)),
        seed=1,
        stop=threading.Event(),
        progress_every_s=60.0,
        ack_timeout_s=120.0,
    )
    build = time.perf_counter() - began_build
    warm = runner.warm_up()
    began = time.monotonic()
    runner.run()
    elapsed = time.monotonic() - began
    p50, p99, worst = (runner.lag_behind_schedule(q) for q in (0.5, 0.99, 1.0))
    return {
        "nodes": nodes,
        "interval_s": interval,
        "published": runner.published,
        "acknowledged": runner.acknowledged,
        "lost": runner.published - runner.acknowledged,
        "skipped": runner.skipped,
        "restarted": runner.restarted,
        "seconds": round(elapsed, 2),
        "build_s": round(build, 2),
        "warm_up_s": round(warm, 2),
        "msgs_per_s": round(runner.acknowledged / elapsed, 1),
        "offered_msgs_per_s": round(nodes / interval, 1),
        "lag_behind_schedule_p50_s": None if p50 is None else round(max(0.0, p50), 4),
        "lag_behind_schedule_p99_s": None if p99 is None else round(max(0.0, p99), 4),
        "lag_behind_schedule_max_s": None if worst is None else round(max(0.0, worst), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def live(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="farmwatch-bench-mqtt-") as tmp:
        broker = MosquittoProcess(Path(tmp), free_port())
        broker.start()
        try:
            baseline = live_run(
                broker.url, max(1, args.live_nodes // 10), args.live_interval, args.live_seconds
            )
            print(f"baseline: {baseline}")
            result = live_run(broker.url, args.live_nodes, args.live_interval, args.live_seconds)
            print(f"measured: {result}")
        finally:
            broker.stop()
    print(
        json.dumps(
            {
                "mode": "live",
                **result,
                "baseline_nodes": baseline["nodes"],
                "baseline_msgs_per_s": baseline["msgs_per_s"],
                "baseline_lag_behind_schedule_p99_s": baseline["lag_behind_schedule_p99_s"],
                "baseline_peak_rss_mb": baseline["peak_rss_mb"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("dataset", "live"), default="dataset")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=int, default=300, help="seconds between readings")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--live-nodes", type=int, default=1000)
    parser.add_argument("--live-interval", type=float, default=1.0)
    parser.add_argument(
        "--live-seconds", type=float, default=30.0, help="live: how long each run publishes"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.mode == "live":
        live(args)
        return

    text = bench_scenario(args.nodes, args.days, args.interval, args.seed)
    clean = parse_scenario(text, "bench")
    faulted = parse_scenario(with_faults(text, clean), "bench")

    results: dict[str, Any] = {}
    records, readings, seconds = timed(clean, faults=False, events=False)
    results["baseline"] = (records, readings, seconds)
    print(f"baseline: {records} records in {seconds:.1f} s ({records / seconds:,.0f}/s)")
    records, readings, seconds = timed(faulted, faults=True, events=True)
    results["faulted"] = (records, readings, seconds)
    print(
        f"faulted:  {records} records in {seconds:.1f} s ({records / seconds:,.0f}/s), "
        f"{len(faulted.faults)} faults, {len(faulted.events)} events"
    )
    with tempfile.TemporaryDirectory(prefix="farmwatch-bench-") as tmp:
        summary = write_dataset(faulted, Path(tmp), format=args.format)
        size_mb = summary.telemetry.stat().st_size / 1e6
    print(
        f"written:  {summary.records} records, {summary.readings} {args.format} rows "
        f"({size_mb:.0f} MB), {summary.label_count} labels in {summary.seconds:.1f} s"
    )
    base_records, _, base_seconds = results["baseline"]
    records, readings, seconds = results["faulted"]
    print(
        json.dumps(
            {
                "mode": "dataset",
                "nodes": clean.node_count,
                "simulated_days": args.days,
                "interval_s": args.interval,
                "records": records,
                "readings": readings,
                "msgs_per_s": round(records / seconds, 1),
                "readings_per_s": round(readings / seconds, 1),
                "seconds": round(seconds, 2),
                "baseline_msgs_per_s": round(base_records / base_seconds, 1),
                "baseline_seconds": round(base_seconds, 2),
                "written_msgs_per_s": round(summary.records / summary.seconds, 1),
                "written_seconds": round(summary.seconds, 2),
                "written_format": args.format,
                "written_mb": round(size_mb, 1),
                "faster_than_real_time": round(args.days * 86400.0 / summary.seconds, 0),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "lag_behind_schedule_p99_s": None,  # no wall-clock schedule in dataset mode
            }
        )
    )


if __name__ == "__main__":
    main()
