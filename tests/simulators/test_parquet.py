"""Parquet dataset output: exactly the rows of the CSV, typed, streamed, and replayable."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from farmwatch_core.contract.payload import format_ts
from farmwatch_core.settings import MqttSettings
from farmwatch_simulators.dataset import generate_dataset, write_dataset
from farmwatch_simulators.faults import LABEL_FIELDS
from farmwatch_simulators.parquet import (
    TELEMETRY_SCHEMA,
    ParquetError,
    replay_parquet,
    write_telemetry_parquet,
)
from farmwatch_simulators.replay import replay_csv
from farmwatch_simulators.scenarios import Scenario, parse_scenario

from farmwatch.cli import main as farmwatch_main

SCENARIO = """
name: parquet-roundtrip
seed: 11
start: 2026-07-14T18:00:00Z
duration: 10h
interval: 5m
farms:
  - {model: aquaculture_pond, count: 2, nodes_per_farm: 1}
  - {model: pig_barn, count: 1, nodes_per_farm: 2}
  - {model: rice_field, count: 1, nodes_per_farm: 1}
faults:
  - {kind: stuck, farm: pond-01, quantity: dissolved_oxygen, start: +2h, duration: 1h}
  - {kind: dropout, farm: pig-03, start: +4h, duration: 1h}
  - {kind: spike, farm: rice-04, quantity: soil_moisture, start: +5h}
events:
  - {kind: do_crash, farms: [pond-02], start: +1h, duration: 4h}
"""


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(SCENARIO, "parquet-roundtrip")


@pytest.fixture(scope="module")
def both(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory holding the CSV and the Parquet dataset of the same scenario."""
    directory = tmp_path_factory.mktemp("dataset")
    write_dataset(scenario, directory)
    write_dataset(scenario, directory, format="parquet")
    return directory


def csv_rows(path: Path) -> list[tuple[str, ...]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [tuple(row) for row in reader]


def test_telemetry_parquet_has_exactly_the_csv_rows(both: Path) -> None:
    expected = csv_rows(both / "telemetry.csv")
    table = pq.read_table(both / "telemetry.parquet")
    assert table.schema.equals(TELEMETRY_SCHEMA)
    got = [
        (
            format_ts(row["ts"]),
            row["farm_id"],
            row["node_id"],
            str(row["seq"]),
            row["quantity"],
            repr(row["value"]),
        )
        for row in table.to_pylist()
    ]
    assert len(expected) > 1000
    assert got == expected


def test_labels_parquet_has_the_csv_labels(both: Path) -> None:
    expected = csv_rows(both / "labels.csv")
    table = pq.read_table(both / "labels.parquet")
    assert table.column_names == list(LABEL_FIELDS)
    assert pa.types.is_timestamp(table.schema.field("start").type)
    got = [
        (
            format_ts(row["start"]),
            format_ts(row["end"]),
            row["farm_id"],
            row["node_id"],
            row["quantity"] or "",
            row["kind"],
            row["category"],
            row["source"],
        )
        for row in table.to_pylist()
    ]
    kinds = {row[5] for row in expected}
    assert {"stuck", "dropout", "spike", "do_crash"} <= kinds
    assert any(row[4] == "" for row in expected)  # the node-wide dropout: null in Parquet
    assert got == expected


def test_rows_are_streamed_in_row_groups(scenario: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    run = generate_dataset(scenario)
    written = write_telemetry_parquet(run, path, row_group_rows=500)
    meta = pq.ParquetFile(path).metadata
    assert written == run.readings == meta.num_rows
    # Each group is flushed once it holds >= 500 rows, so groups are small and many.
    assert meta.num_row_groups >= written // 600
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) < 520


def test_replay_reads_parquet_as_it_reads_the_csv(both: Path) -> None:
    from_csv = replay_csv(both / "telemetry.csv")
    from_parquet = replay_parquet(both / "telemetry.parquet")
    assert len(from_csv) > 100
    assert from_parquet == from_csv


def test_replay_refuses_a_parquet_without_the_dataset_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"ts": [datetime(2026, 1, 1, tzinfo=UTC)], "x": [1.0]}), path)
    with pytest.raises(ParquetError, match="missing column"):
        replay_parquet(path)


def test_cli_writes_parquet(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    tiny = SCENARIO.split("faults:", maxsplit=1)[0].replace("duration: 10h", "duration: 1h")
    spec.write_text(tiny, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["simulate", "--scenario", str(spec), "--dataset", str(out), "--format", "parquet"]
    assert farmwatch_main(argv) == 0
    assert pq.read_table(out / "telemetry.parquet").num_rows > 0
    assert (out / "labels.parquet").exists()
    assert not (out / "telemetry.csv").exists()


@pytest.mark.mosquitto
def test_cli_replays_a_parquet_file_over_mqtt(
    both: Path,
    mqtt_settings: MqttSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = len(replay_parquet(both / "telemetry.parquet"))
    argv = [
        "simulate",
        "--replay-csv",
        str(both / "telemetry.parquet"),
        "--backfill",
        "--mqtt-url",
        mqtt_settings.url,
        "--topic-prefix",
        mqtt_settings.topic_prefix,
        "--data-dir",
        str(tmp_path),
    ]
    assert farmwatch_main(argv) == 0  # 0 only when every record was acknowledged
    assert records > 100
    out = capsys.readouterr().out
    assert f"{records} records in " in out
    assert f"{records} acknowledged" in out
