"""Parquet output (and input) of dataset mode: the telemetry and labels CSVs, typed and small.

A week of 1 000 nodes is ~15 M long rows: as CSV ~0.75 GB of text that every analysis parses
again. Parquet keeps the same long table (``ts, farm_id, node_id, seq, quantity, value``) with
real types — ``ts`` a ``timestamp[ms, UTC]``, ``seq`` an int64, ``value`` a float64 — and
dictionary-encoded, compressed columns, which pandas, polars and DuckDB read directly.

The writer streams: rows are buffered column by column and written as one row group every
``row_group_rows`` rows, so memory stays flat whatever the length of the run. Values are the
same floats the CSV prints with ``repr`` (which reads back exactly), so a Parquet file and the
CSV of the same run hold exactly the same rows.

Labels go to ``labels.parquet`` with the CSV's columns; ``start``/``end`` are timestamps and the
``quantity`` of a node-wide fault is null (the CSV's empty field).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from farmwatch_core.contract import Record

from farmwatch_simulators.faults import LABEL_FIELDS, Label
from farmwatch_simulators.replay import records_from_long_rows

Row = tuple[str, str, Record]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

TELEMETRY_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("farm_id", pa.string()),
        ("node_id", pa.string()),
        ("seq", pa.int64()),
        ("quantity", pa.string()),
        ("value", pa.float64()),
    ]
)
LABELS_SCHEMA = pa.schema(
    [
        ("start", pa.timestamp("ms", tz="UTC")),
        ("end", pa.timestamp("ms", tz="UTC")),
        ("farm_id", pa.string()),
        ("node_id", pa.string()),
        ("quantity", pa.string()),
        ("kind", pa.string()),
        ("category", pa.string()),
        ("source", pa.string()),
    ]
)
# Zstandard: about as fast to write as snappy and markedly smaller on these repetitive columns.
COMPRESSION = "zstd"
DEFAULT_ROW_GROUP_ROWS = 200_000


class ParquetError(ValueError):
    """A Parquet file that is not a dataset telemetry table."""


def epoch_ms(ts: datetime) -> int:
    """Milliseconds since the epoch, truncated like the wire's RFC 3339 form.

    >>> epoch_ms(datetime(2026, 7, 1, 0, 0, 0, 1999, tzinfo=UTC))
    1782864000001
    """
    return (ts - _EPOCH) // _MS


class TelemetryParquetWriter:
    """Stream dataset records into a long telemetry Parquet file, one row per reading.

    Example::

        with TelemetryParquetWriter(path) as out:
            for farm_id, node_id, record in generate_dataset(scenario):
                out.add(farm_id, node_id, record)
    """

    def __init__(self, path: Path, *, row_group_rows: int = DEFAULT_ROW_GROUP_ROWS) -> None:
        if row_group_rows < 1:
            raise ValueError("row_group_rows must be at least 1")
        self.path = path
        self.row_group_rows = row_group_rows
        self.rows = 0
        self.row_groups = 0
        self._writer = pq.ParquetWriter(str(path), TELEMETRY_SCHEMA, compression=COMPRESSION)
        self._clear()

    def _clear(self) -> None:
        self._ts: list[int] = []
        self._farm: list[str] = []
        self._node: list[str] = []
        self._seq: list[int] = []
        self._quantity: list[str] = []
        self._value: list[float] = []

    def add(self, farm_id: str, node_id: str, record: Record) -> None:
        """Buffer one record's readings; write a row group when enough rows are buffered."""
        n = len(record.readings)
        self._ts.extend([epoch_ms(record.ts)] * n)
        self._farm.extend([farm_id] * n)
        self._node.extend([node_id] * n)
        self._seq.extend([record.seq] * n)
        self._quantity.extend(record.readings.keys())
        self._value.extend(record.readings.values())
        if len(self._ts) >= self.row_group_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group (nothing if none are buffered)."""
        if not self._ts:
            return
        table = pa.Table.from_arrays(
            [
                pa.array(self._ts, type=pa.int64()).cast(TELEMETRY_SCHEMA.field("ts").type),
                pa.array(self._farm, type=pa.string()),
                pa.array(self._node, type=pa.string()),
                pa.array(self._seq, type=pa.int64()),
                pa.array(self._quantity, type=pa.string()),
                pa.array(self._value, type=pa.float64()),
            ],
            schema=TELEMETRY_SCHEMA,
        )
        self._writer.write_table(table, row_group_size=len(self._ts))
        self.rows += len(self._ts)
        self.row_groups += 1
        self._clear()

    def close(self) -> None:
        """Write what is buffered and the file footer."""
        self.flush()
        self._writer.close()

    def __enter__(self) -> TelemetryParquetWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_telemetry_parquet(
    rows: Iterable[Row], path: Path, *, row_group_rows: int = DEFAULT_ROW_GROUP_ROWS
) -> int:
    """Write ``(farm_id, node_id, Record)`` rows to ``path``; return the readings written."""
    with TelemetryParquetWriter(path, row_group_rows=row_group_rows) as out:
        for farm_id, node_id, record in rows:
            out.add(farm_id, node_id, record)
    return out.rows


def write_labels_parquet(labels: Iterable[Label], path: Path) -> None:
    """Labels as Parquet: the CSV's columns, times as timestamps, no quantity as null."""
    columns: dict[str, list[object]] = {name: [] for name in LABEL_FIELDS}
    for label in labels:
        columns["start"].append(epoch_ms(label.start))
        columns["end"].append(epoch_ms(label.end))
        columns["farm_id"].append(label.farm_id)
        columns["node_id"].append(label.node_id)
        columns["quantity"].append(label.quantity or None)
        columns["kind"].append(label.kind)
        columns["category"].append(label.category)
        columns["source"].append(label.source)
    arrays = [
        pa.array(columns[field.name], type=pa.int64()).cast(field.type)
        if pa.types.is_timestamp(field.type)
        else pa.array(columns[field.name], type=field.type)
        for field in LABELS_SCHEMA
    ]
    pq.write_table(
        pa.Table.from_arrays(arrays, schema=LABELS_SCHEMA), str(path), compression=COMPRESSION
    )


def iter_telemetry_parquet(
    path: Path,
) -> Iterator[tuple[datetime, str, str, int | None, str, float]]:
    """The long rows of a telemetry Parquet file, batch by batch (memory stays flat).

    The file needs the dataset's columns (extra ones are ignored); ``seq`` may be null.
    """
    try:
        source = pq.ParquetFile(str(path))
    except (OSError, pa.ArrowException) as exc:
        raise ParquetError(f"{path}: not a readable Parquet file ({exc})") from exc
    names = [field.name for field in TELEMETRY_SCHEMA]
    missing = [name for name in names if name not in source.schema_arrow.names]
    if missing:
        raise ParquetError(f"{path}: missing column(s) {', '.join(missing)}; need {names}")
    ts_type = source.schema_arrow.field("ts").type
    if not pa.types.is_timestamp(ts_type) or ts_type.tz is None:
        raise ParquetError(f"{path}: column ts must be a timestamp with a time zone, not {ts_type}")
    for batch in source.iter_batches(columns=names):
        ms = batch.column(0).cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_pylist()
        farms, nodes, seqs, quantities, values = (batch.column(i).to_pylist() for i in range(1, 6))
        for i, stamp in enumerate(ms):
            yield (
                _EPOCH + timedelta(milliseconds=stamp),
                farms[i],
                nodes[i],
                seqs[i],
                quantities[i],
                float(values[i]),
            )


def replay_parquet(path: Path) -> list[Row]:
    """Records of a telemetry Parquet file, as ``replay.replay_csv`` reads the CSV.

    Rows of one (farm, node, ts) become one record, in any row order; records come back sorted
    by time, farm and node; a null ``seq`` is numbered per node in time order.
    """
    return records_from_long_rows(iter_telemetry_parquet(path))
