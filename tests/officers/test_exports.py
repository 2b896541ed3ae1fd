"""Exports for extension officers: every stored reading comes out once, in CSV and Parquet, for
a farm or a growing area; memory does not grow with the period; alerts come out with the time
it took to acknowledge them."""

from __future__ import annotations

import csv
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.store import AlertStore
from farmwatch_core.registry import Deployment
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import parse_scenario

from farmwatch.exports import export_alerts_csv, export_readings, farms_for

START = datetime(2026, 10, 31, 17, tzinfo=UTC)  # 1 November, local midnight
DAYS = 6
SCENARIO = f"""
name: export
seed: 3
start: {START.isoformat().replace("+00:00", "Z")}
duration: {DAYS * 24}h
interval: 10m
farms:
  - {{model: aquaculture_pond, count: 2, nodes_per_farm: 2}}
"""


@cache
def dataset(folder: str) -> tuple[Deployment, Path, int]:
    """A store with 6 days of 2 ponds × 2 nodes; (registry, db path, readings of pond-01)."""
    scenario = parse_scenario(SCENARIO, "export")
    path = Path(folder) / "farmwatch.db"
    store = SqliteStore(path)
    readings = 0
    batch: list[NodeRecord] = []
    for farm, node, record in generate_dataset(scenario):
        batch.append(NodeRecord(farm, node, record))
        if farm == "pond-01":
            readings += len(record.readings)
        if len(batch) >= 500:
            store.write(batch)
            batch.clear()
    store.write(batch)
    store.close()
    return scenario.deployment, path, readings


def test_every_reading_of_a_farm_comes_out_once_in_csv(tmp_path_factory: object) -> None:
    folder = Path(str(tmp_path_factory.mktemp("exports")))  # type: ignore[attr-defined]
    deployment, db, readings = dataset(str(folder))
    store = SqliteStore(db)
    try:
        result = export_readings(
            store, farms_for(deployment, "pond-01"), START, START + timedelta(days=DAYS),
            folder / "pond-01.csv",
        )  # fmt: skip
    finally:
        store.close()
    with (folder / "pond-01.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert result.rows == len(rows) == readings
    keys = {(r["node_id"], r["seq"], r["quantity"]) for r in rows}
    assert len(keys) == len(rows)  # nothing twice
    assert {r["farm_id"] for r in rows} == {"pond-01"}
    first = rows[0]
    assert first["ts"].endswith("Z")
    assert first["ts_local"].startswith("2026-11-01 00:")  # shown in Hải Dương time


def test_a_growing_area_in_parquet_and_memory_does_not_grow_with_the_period(
    tmp_path_factory: object,
) -> None:
    folder = Path(str(tmp_path_factory.mktemp("exports")))  # type: ignore[attr-defined]
    deployment, db, _ = dataset(str(folder))
    code = deployment.farm("pond-02").growing_area_code  # type: ignore[union-attr]
    farms = farms_for(deployment, growing_area=code)
    store = SqliteStore(db)
    peaks = []
    try:
        for days in (1, DAYS):
            tracemalloc.start()
            result = export_readings(
                store, farms, START, START + timedelta(days=days), folder / f"{days}.parquet",
                "parquet",
            )  # fmt: skip
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    finally:
        store.close()
    table = pq.read_table(folder / f"{DAYS}.parquet")
    assert table.num_rows == result.rows > 0
    assert set(table.column("farm_id").to_pylist()) == {f.id for f in farms}
    assert peaks[1] < 1.5 * peaks[0] + 2_000_000, (
        peaks
    )  # six times the data, not six times the memory


def test_alerts_come_out_with_the_minutes_to_acknowledge(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.sqlite")
    t0 = START + timedelta(days=1)
    for farm, minutes in (("pond-01", 12), ("pond-02", None)):
        alert = Alert.new({"alertname": "DoLow", "farm": farm, "node": "n1"}, Severity.CRITICAL, t0)
        episode = store.save(alert.fire(t0))
        if minutes is not None:
            store.acknowledge(episode, "Hương", t0 + timedelta(minutes=minutes))
    store.close()
    result = export_alerts_csv(
        tmp_path / "alerts.sqlite",
        ["pond-01"],
        START,
        START + timedelta(days=2),
        tmp_path / "a.csv",
    )
    with (tmp_path / "a.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert result.rows == 1
    assert rows[0]["farm_id"] == "pond-01"
    assert rows[0]["minutes_to_acknowledge"] == "12.0"
    assert rows[0]["acknowledged_by"] == "Hương"


def test_the_cli_says_what_it_wrote(tmp_path: Path) -> None:
    deployment, _db, readings = dataset(str(tmp_path))
    (tmp_path / "registry.yaml").write_text(deployment.to_yaml(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "farmwatch", "export", "--data-dir", str(tmp_path), "--registry",
         str(tmp_path / "registry.yaml"), "--farm", "pond-01", "--start", "2026-11-01",
         "--end", "2026-11-07", "--out", str(tmp_path / "out.csv")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{readings:,} rows" in done.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "farmwatch", "export", "--data-dir", str(tmp_path), "--registry",
         str(tmp_path / "registry.yaml"), "--farm", "pond-99", "--start", "2026-11-01",
         "--end", "2026-11-07", "--out", str(tmp_path / "x.csv")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "no farm 'pond-99'" in wrong.stderr
