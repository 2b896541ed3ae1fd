"""Replay a simulated deployment through the analytics engine, in this process or another.

The equivalence test runs it in a subprocess whose PYTHONPATH puts the pure-Python
farmwatch_analytics first, and compares with the compiled build in the test's own process:
``python -m support.engine_replay STATE_IN STATE_OUT DAYS_FROM DAYS_TO`` prints one line of
outputs per record and pickles the engine at the end.
"""

from __future__ import annotations

import pickle
import sys
from functools import cache
from pathlib import Path

from farmwatch_analytics.engine import AnalyticsEngine
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.contract import Record
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.fault_bench import build_fault_scenario
from farmwatch_simulators.scenarios import Scenario, parse_scenario

DAYS = 6


@cache
def scenario() -> Scenario:
    """Two farms of each model type, two nodes each, one labelled fault of every kind."""
    text = build_fault_scenario(farms_per_model=2, days=DAYS, per_kind=1, seed=5)
    return parse_scenario(text, "native-equivalence")


def new_engine() -> AnalyticsEngine:
    farms = scenario().deployment.farms
    return AnalyticsEngine(
        {farm.id: profile_for_model(farm.model) for farm in farms},
        {farm.id: [node.id for node in farm.nodes] for farm in farms},
    )


@cache
def _rows() -> list[tuple[str, str, Record]]:
    """The scenario's records, generated once per process (a test replays it twice)."""
    return list(generate_dataset(scenario()))


def replay(engine: AnalyticsEngine, start: float, end: float) -> list[str]:
    """The engine's outputs for the records of days [start, end), one line each."""
    rows = _rows()
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
    engine = (
        new_engine() if state_in == "-" else pickle.loads(Path(state_in).read_bytes())  # noqa: S301 - the test's own file
    )
    for line in replay(engine, float(start_day), float(end_day)):
        sys.stdout.write(line + "\n")
    Path(state_out).write_bytes(pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main(sys.argv[1:])
