"""A bounded on-disk FIFO for readings the store cannot take right now.

While InfluxDB is down or timing out, ingest writes each batch here (one SQLite transaction,
synchronous=FULL) and then acknowledges the MQTT messages, so neither the broker's memory nor
ours grows with the outage. When the store answers again the spool is replayed oldest first,
and new batches queue behind it so per-node order is kept.

The spool is bounded (``max_bytes``): when a long outage fills it, the *oldest* readings are
evicted — the newest matter most to a farmer at 3 a.m. — and every evicted record is counted
and logged, never silently lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmwatch_core.contract import Record

from farmwatch_ingest.stores.base import NodeRecord

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    records INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""


class SpoolError(Exception):
    """The spool file cannot be written (disk full, permissions); callers hold the data."""


@dataclass(frozen=True, slots=True)
class SpoolChunk:
    id: int
    records: list[NodeRecord]
    payload: bytes


def encode_records(records: Sequence[NodeRecord]) -> bytes:
    rows = [
        [
            r.farm_id,
            r.node_id,
            (r.record.ts - _EPOCH) // _MICROSECOND,  # exact integer arithmetic, no float
            r.record.seq,
            r.record.synced,
            dict(r.record.readings),
        ]
        for r in records
    ]
    return json.dumps(rows, separators=(",", ":")).encode()


def decode_records(payload: bytes) -> list[NodeRecord]:
    return [
        NodeRecord(
            farm,
            node,
            Record(_EPOCH + ts_us * _MICROSECOND, seq, synced, readings),
        )
        for farm, node, ts_us, seq, synced, readings in json.loads(payload)
    ]


class Spool:
    """FIFO of record chunks in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        size, count = self._db.execute(
            "SELECT coalesce(sum(length(payload)), 0), coalesce(sum(records), 0) FROM spool"
        ).fetchone()
        self.bytes = int(size)
        self.records = int(count)
        self.dropped_records = 0
        if self.records:
            log.warning(
                "spool %s holds %d records from before a restart; they will be replayed",
                path,
                self.records,
            )

    def __len__(self) -> int:
        return self.records

    def append(self, records: Sequence[NodeRecord]) -> None:
        """Durably add records; evict the oldest chunks if the spool would exceed its bound."""
        if not records:
            return
        payload = encode_records(records)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO spool (records, payload) VALUES (?, ?)", (len(records), payload)
                )
                evicted = self._evict_locked(self.bytes + len(payload) - self.max_bytes)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise SpoolError(f"cannot write the spool {self.path}: {exc}") from exc
            self.bytes += len(payload) - evicted[1]
            self.records += len(records) - evicted[0]
            self.dropped_records += evicted[0]
        if evicted[0]:
            log.error(
                "spool full (%d MB): dropped the %d oldest records; raise "
                "FARMWATCH_INGEST__SPOOL_MAX_MB or bring the database back",
                self.max_bytes // 1_000_000,
                evicted[0],
            )

    def _evict_locked(self, excess: int) -> tuple[int, int]:
        """Delete oldest chunks until ``excess`` bytes are freed; (records, bytes) removed."""
        records = freed = 0
        while excess > freed:
            row = self._db.execute(
                "SELECT id, records, length(payload) FROM spool ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                break
            self._db.execute("DELETE FROM spool WHERE id = ?", (row[0],))
            records += row[1]
            freed += row[2]
        return records, freed

    def head(self, max_records: int) -> list[SpoolChunk]:
        """The oldest chunks, up to about ``max_records`` records (at least one chunk)."""
        chunks: list[SpoolChunk] = []
        total = 0
        with self._lock:
            cursor = self._db.execute("SELECT id, records, payload FROM spool ORDER BY id")
            for chunk_id, count, payload in cursor:
                if chunks and total + count > max_records:
                    break
                chunks.append(SpoolChunk(chunk_id, decode_records(payload), bytes(payload)))
                total += count
        return chunks

    def remove(self, chunks: Sequence[SpoolChunk]) -> None:
        if not chunks:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            removed = 0
            freed = 0
            for chunk in chunks:
                cursor = self._db.execute("DELETE FROM spool WHERE id = ?", (chunk.id,))
                if cursor.rowcount:  # may have been evicted meanwhile
                    removed += len(chunk.records)
                    freed += len(chunk.payload)
            self._db.execute("COMMIT")
            self.records -= removed
            self.bytes -= freed

    def close(self) -> None:
        with self._lock:
            self._db.close()
