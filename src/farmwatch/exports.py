"""Exports for extension officers: a farm's (or a growing area's) readings and alerts, as CSV or
Parquet, streamed so a year of 100 nodes needs no more memory than a day of one.

Readings come out in the long layout of the simulators' datasets (one row per reading:
``ts, farm_id, node_id, seq, quantity, value``), which pandas, polars, DuckDB and spreadsheets
read as is; the analytics' indicators (THI, VPD, ET0, anomaly scores...) are stored as fields of
the same records, so they come out as more ``quantity`` rows. CSV adds ``ts_local``: the time in
Asia/Ho_Chi_Minh, which is what an officer compares with a farmer's notebook. Records are read
from the store one node-day at a time and written as they come.

Alerts come out one row per episode from the alerting store, with the time it took someone to
acknowledge it — the "alerts handled within target time" of the province's plan.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from farmwatch_core.contract import Record
from farmwatch_core.registry import Deployment, Farm

__all__ = ["ExportResult", "export_alerts_csv", "export_readings", "farms_for"]

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
CHUNK = timedelta(days=1)  # one store query per node-day: memory stays flat


class RecordSource(Protocol):
    def records(
        self, farm_id: str, node_id: str, start: datetime, end: datetime
    ) -> Sequence[Record]: ...


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    records: int
    rows: int


def farms_for(
    deployment: Deployment, farm: str | None = None, growing_area: str | None = None
) -> list[Farm]:
    """The farms an export covers: one farm, or every farm of a growing-area code."""
    if farm is not None:
        found = deployment.farm(farm)
        if found is None:
            raise ValueError(f"no farm {farm!r} in the registry")
        return [found]
    if growing_area is not None:
        farms = [f for f in deployment.farms if f.growing_area_code == growing_area]
        if not farms:
            codes = sorted({f.growing_area_code for f in deployment.farms if f.growing_area_code})
            raise ValueError(f"no farm has growing-area code {growing_area!r}; known: {codes}")
        return farms
    raise ValueError("give a farm or a growing-area code")


def _records(
    store: RecordSource, farms: Sequence[Farm], start: datetime, end: datetime
) -> Iterator[tuple[str, str, Record]]:
    for farm in farms:
        for node in farm.nodes:
            day = start
            while day < end:
                upto = min(day + CHUNK, end)
                for record in store.records(farm.id, node.id, day, upto):
                    yield farm.id, node.id, record
                day = upto


def export_readings(
    store: RecordSource,
    farms: Sequence[Farm],
    start: datetime,
    end: datetime,
    path: Path,
    fmt: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the farms' records in [start, end) to ``path`` (``csv`` or ``parquet``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = rows = 0
    if fmt == "parquet":
        from farmwatch_simulators.parquet import TelemetryParquetWriter

        with TelemetryParquetWriter(path) as out:
            for farm_id, node_id, record in _records(store, farms, start, end):
                out.add(farm_id, node_id, record)
                count += 1
                if progress is not None and count % 10_000 == 0:
                    progress(count)
        return ExportResult(path, count, out.rows)
    if fmt != "csv":
        raise ValueError(f"format {fmt!r}: csv or parquet")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "ts_local", "farm_id", "node_id", "seq", "quantity", "value"])
        for farm_id, node_id, record in _records(store, farms, start, end):
            ts = record.ts.isoformat().replace("+00:00", "Z")
            local = record.ts.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")
            for quantity, value in record.readings.items():
                writer.writerow([ts, local, farm_id, node_id, record.seq, quantity, repr(value)])
                rows += 1
            count += 1
            if progress is not None and count % 10_000 == 0:
                progress(count)
    return ExportResult(path, count, rows)


def export_alerts_csv(
    alerts_db: Path, farm_ids: Sequence[str], start: datetime, end: datetime, path: Path
) -> ExportResult:
    """One row per alert episode of the farms that started in [start, end)."""
    from farmwatch_alerting.store import AlertStore

    store = AlertStore(alerts_db)
    wanted = set(farm_ids)
    rows = 0
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "id",
                    "alertname",
                    "severity",
                    "farm_id",
                    "node_id",
                    "quantity",
                    "state",
                    "starts_at",
                    "fired_at",
                    "acknowledged_at",
                    "acknowledged_by",
                    "ends_at",
                    "minutes_to_acknowledge",
                    "value",
                    "limit",
                ]
            )
            for episode, alert in store.episodes_between(start, end):
                labels = alert.labels
                if labels.get("farm") not in wanted:
                    continue
                wait = (
                    (alert.acknowledged_at - (alert.fired_at or alert.starts_at)).total_seconds()
                    / 60
                    if alert.acknowledged_at is not None
                    else None
                )
                iso = [
                    t.isoformat().replace("+00:00", "Z") if t else ""
                    for t in (alert.starts_at, alert.fired_at, alert.acknowledged_at, alert.ends_at)
                ]
                writer.writerow(
                    [episode, alert.name, alert.severity.value, labels.get("farm", ""),
                     labels.get("node", ""), labels.get("quantity", ""), alert.state.value,
                     iso[0], iso[1], iso[2], alert.acknowledged_by or "", iso[3],
                     "" if wait is None else f"{wait:.1f}",
                     alert.annotations.get("value", ""), alert.annotations.get("limit", "")]
                )  # fmt: skip
                rows += 1
    finally:
        store.close()
    return ExportResult(path, rows, rows)
