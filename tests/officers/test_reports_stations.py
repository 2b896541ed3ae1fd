"""The monthly report covers the clean-water and effluent stations like the other model types:
their key indicators against QCVN 01-1:2018/BYT (or the configured effluent column), counted
here straight from the simulated scenario."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from farmwatch_core.contract import Record
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import load_scenario

from farmwatch.reports.build import build_report
from farmwatch.reports.collect import resolve_scope


def runs_outside(records: list[Record], quantity: str, low: float, high: float) -> int:
    """Runs of consecutive readings outside [low, high]; a silence over 15 min ends a run."""
    runs, outside, last = 0, False, None
    for record in records:
        value = record.readings.get(quantity)
        if value is None:
            continue
        if last is not None and record.ts - last > timedelta(minutes=15):
            outside = False
        now_outside = not low <= value <= high
        runs += now_outside and not outside
        outside, last = now_outside, record.ts
    return runs


@pytest.mark.parametrize(
    ("scenario_name", "farm_id", "quantity", "low", "high", "period"),
    [
        ("clean-water-station", "water-01", "free_chlorine", 0.2, 1.0, "2026-12"),
        ("clean-water-station", "water-01", "turbidity", float("-inf"), 2.0, "2026-12"),
    ],
)
def test_a_station_report_counts_its_excursions(
    scenario_name: str, farm_id: str, quantity: str, low: float, high: float, period: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    scenario = load_scenario(scenario_name)
    store = SqliteStore(tmp_path / "farmwatch.db")
    records: dict[str, list[Record]] = {}
    try:
        batch = []
        for farm, node, record in generate_dataset(scenario):
            batch.append(NodeRecord(farm, node, record))
            if farm == farm_id:
                records.setdefault(node, []).append(record)
        store.write(batch)
        scope = resolve_scope(scenario.deployment, farm=farm_id)
        files = build_report(
            store,
            scope,
            period,
            tmp_path / "out",
            languages=("en",),
            now=datetime(2027, 1, 2, tzinfo=UTC),
        )
    finally:
        store.close()
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    (farm,) = summary["farms"]
    total = 0
    for node in farm["nodes"]:
        expected = runs_outside(records[node["node_id"]], quantity, low, high)
        got = node["subjects"][quantity]["excursions"].get("warning", {"count": 0})["count"]
        assert got == expected, node["node_id"]
        total += got
    assert total > 0  # the scenario's incident shows
    html = files.html["en"].read_text(encoding="utf-8")
    # The uptime chart and the station's key indicator (free chlorine) against its limits.
    assert html.count("data:image/svg+xml") == 2
