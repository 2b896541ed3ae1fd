"""Replay a simulated deployment through the analytics engine, in this process or another.

The equivalence test runs it in a subprocess whose PYTHONPATH puts the pure-Python
farmwatch_analytics first, and compares with the compiled build in the test's own process:
``python -m support.engine_replay STATE_IN STATE_OUT DAYS_FROM DAYS_TO`` prints one line of
outputs per record and pickles the engine at the end.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from farmwatch_analytics.engine import AnalyticsEngine
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.fault_bench import build_fault_scenario
from farmwatch_simulators.scenarios import Scenario, parse_scenario

DAYS = 6


def scenario() -> Scenario:
    """Two farms of each model type, two nodes each, one labelled fault of every kind."""
    text = build_fault_scenario(farms_per_model=2, days=DAYS, per_kind=1, seed=5)
    return parse_scenario(text, "native-equivalence")


def new_engine(chosen: Scenario) -> AnalyticsEngine:
    farms = chosen.deployment.farms
    return AnalyticsEngine(
        {farm.id: profile_for_model(farm.model) for farm in farms},
        {farm.id: [node.id for node in farm.nodes] for farm in farms},
    )


def replay(engine: AnalyticsEngine, chosen: Scenario, start: float, end: float) -> list[str]:
    """The engine's outputs for the records of days [start, end), one line each."""
    rows = list(generate_dataset(chosen))
    first = rows[0][2].ts.timestamp()
    lines = []
    for farm, node, record in rows:
        day = (record.ts.timestamp() - first) / 86400
        if start <= day < end:
            out = engine.process(farm, node, record.ts, record.readings)
            lines.append(repr((out.derived, out.candidates)))
    return lines


def main(argv: list[str]) -> None:
    state_in, state_out, start_day, end_day = argv
    chosen = scenario()
    engine = (
        new_engine(chosen) if state_in == "-" else pickle.loads(Path(state_in).read_bytes())  # noqa: S301 - the test's own file
    )
    for line in replay(engine, chosen, float(start_day), float(end_day)):
        sys.stdout.write(line + "\n")
    Path(state_out).write_bytes(pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main(sys.argv[1:])
