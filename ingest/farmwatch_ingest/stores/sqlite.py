"""SQLite storage: the embedded default for a farm that runs without InfluxDB.

One file, no server, good for years of a small farm's readings. It keeps the same identity
rules as InfluxDB so the two backends are interchangeable (both pass
``tests/ingest/test_store_contract.py``):

* a point is identified by ``(farm, node, timestamp in ms, quantity)``, exactly like an InfluxDB
  series (``farm``, ``node`` tags) plus field at one timestamp. A redelivered record therefore
  overwrites itself instead of being stored twice;
* ``seq`` and ``synced`` belong to the timestamp, not to one reading: when two different records
  of one node carry the same millisecond (a node with a confused clock), the later write wins and
  their readings are merged, which is what InfluxDB does with the fields of one point.

Durability: the database runs in WAL mode with ``synchronous=FULL``. In WAL mode ``NORMAL`` only
syncs at checkpoints, so a power cut (common on a farm) can lose transactions that had already
returned; ingest acknowledges MQTT messages after ``write`` returns, so that would lose data the
node has already deleted. ``FULL`` fsyncs the WAL on every commit: one fsync per batch, cheap
because ingest writes batches.

Schema::

    readings        (farm_id, node_id, ts_ms, quantity) -> value, seq, synced
                    primary key order serves records(): one node, a time range
    latest_readings (farm_id, node_id, quantity) -> ts_ms, value
                    maintained in the same transaction as readings, so latest() reads
                    O(series) rows instead of scanning years of readings on every dashboard
                    refresh (SQLite cannot do a per-group MAX without visiting every row)

Example::

    store = SqliteStore(Path("var/farmwatch.db"))
    try:
        store.write(node_records)
        print(store.latest("pond-01"))
    finally:
        store.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from farmwatch_core.contract import Record

from farmwatch_ingest.stores.base import (
    Aggregate,
    Bucket,
    LatestReading,
    NodeRecord,
    StoreRejected,
    StoreUnavailable,
)
from farmwatch_ingest.stores.common import (
    bound_ms,
    check_storable,
    from_ms,
    interval_ms,
    to_ms,
)

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

_SCHEMA_VERSION = 1

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS readings (
    farm_id  TEXT    NOT NULL,
    node_id  TEXT    NOT NULL,
    ts_ms    INTEGER NOT NULL,
    quantity TEXT    NOT NULL,
    value    REAL    NOT NULL,
    seq      INTEGER NOT NULL,
    synced   INTEGER NOT NULL,
    PRIMARY KEY (farm_id, node_id, ts_ms, quantity)
) WITHOUT ROWID
""",
    """
CREATE TABLE IF NOT EXISTS latest_readings (
    farm_id  TEXT    NOT NULL,
    node_id  TEXT    NOT NULL,
    quantity TEXT    NOT NULL,
    ts_ms    INTEGER NOT NULL,
    value    REAL    NOT NULL,
    PRIMARY KEY (farm_id, node_id, quantity)
) WITHOUT ROWID
""",
)

_INSERT_READING = """
INSERT INTO readings (farm_id, node_id, ts_ms, quantity, value, seq, synced)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (farm_id, node_id, ts_ms, quantity)
DO UPDATE SET value = excluded.value, seq = excluded.seq, synced = excluded.synced
"""

# The point identity is (farm, node, ts): the record written last owns seq/synced for every
# reading at that timestamp, as in InfluxDB. The WHERE keeps the common case (redelivery, or a
# fresh timestamp) to a primary-key probe that changes nothing.
_ALIGN_POINT = """
UPDATE readings SET seq = ?, synced = ?
WHERE farm_id = ? AND node_id = ? AND ts_ms = ? AND (seq != ? OR synced != ?)
"""

# ">=": a rewrite of the newest point (same ts) must update the value, like InfluxDB's last().
_UPSERT_LATEST = """
INSERT INTO latest_readings (farm_id, node_id, quantity, ts_ms, value)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (farm_id, node_id, quantity)
DO UPDATE SET ts_ms = excluded.ts_ms, value = excluded.value
WHERE excluded.ts_ms >= latest_readings.ts_ms
"""


_SQL_AGGREGATES = {"mean": "avg", "min": "min", "max": "max"}


class SqliteStore:
    """The :class:`~farmwatch_ingest.stores.base.Store` on one SQLite file.

    One connection shared by all threads (the uvicorn threadpool serving the API and the
    ingest writer) behind a lock: SQLite serialises writers anyway, and one connection means
    readers always see the latest committed batch. Another *process* on the same file (e.g. a
    report job) is fine too: a lock held longer than ``busy_timeout_s`` becomes
    :class:`StoreUnavailable`, and ingest retries.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                path,
                timeout=busy_timeout_s,
                check_same_thread=False,
                isolation_level=None,  # autocommit; transactions are explicit BEGIN/COMMIT
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"cannot open SQLite database {path}: {exc}; check that the directory exists "
                "and is writable (settings: data_dir / sqlite_path)"
            ) from exc
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        with self._locked("open"):
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                logger.warning("SQLite %s: journal_mode is %s, not wal", self.path, mode)
            self._conn.execute("PRAGMA synchronous = FULL")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"SQLite database {self.path} has schema version {version}, newer than this "
                    f"farmwatch understands ({_SCHEMA_VERSION}); upgrade farmwatch"
                )
            with self._transaction():
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; ``IMMEDIATE`` takes the write lock up front so a busy
        database fails here (after ``busy_timeout_s``) instead of half-way through."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        """Serialise access and translate SQLite errors into the store's error tree."""
        with self._lock:
            try:
                yield
            except sqlite3.IntegrityError as exc:
                raise StoreRejected(f"SQLite {self.path} refused the data ({what}): {exc}") from exc
            except sqlite3.ProgrammingError as exc:
                raise StoreUnavailable(f"SQLite store {self.path} cannot {what}: {exc}") from exc
            except sqlite3.Error as exc:
                # "database is locked", disk I/O errors, a full disk, a corrupt file: none of
                # them is the data's fault, so keep the data and let the caller retry.
                raise StoreUnavailable(
                    f"SQLite database {self.path} is not usable ({what}): {exc}; check disk "
                    "space and permissions and whether another process holds a lock"
                ) from exc

    def write(self, records: Sequence[NodeRecord]) -> None:
        """Store a batch in one transaction; durable (fsynced) when this returns."""
        for nr in records:
            check_storable(nr)
        readings: list[tuple[str, str, int, str, float, int, int]] = []
        points: list[tuple[int, int, str, str, int, int, int]] = []
        for nr in records:
            rec = nr.record
            if not rec.readings:
                continue  # nothing to store; InfluxDB cannot store a point without readings
            ts_ms = to_ms(rec.ts, "timestamp")
            synced = int(rec.synced)
            points.append((rec.seq, synced, nr.farm_id, nr.node_id, ts_ms, rec.seq, synced))
            readings.extend(
                (nr.farm_id, nr.node_id, ts_ms, q, float(v), rec.seq, synced)
                for q, v in rec.readings.items()
            )
        if not readings:
            return
        latest = [(f, n, q, ts, v) for f, n, ts, q, v, _, _ in readings]
        with self._locked("write"), self._transaction():
            self._conn.executemany(_INSERT_READING, readings)
            self._conn.executemany(_ALIGN_POINT, points)
            self._conn.executemany(_UPSERT_LATEST, latest)

    def latest(self, farm_id: str | None = None) -> list[LatestReading]:
        """Latest value per (farm, node, quantity), sorted by farm, node, quantity."""
        sql = "SELECT farm_id, node_id, quantity, value, ts_ms FROM latest_readings"
        params: tuple[str, ...] = ()
        if farm_id is not None:
            sql += " WHERE farm_id = ?"
            params = (farm_id,)
        sql += " ORDER BY farm_id, node_id, quantity"
        with self._locked("read latest readings"):
            rows = self._conn.execute(sql, params).fetchall()
        return [LatestReading(f, n, q, float(v), from_ms(ts)) for f, n, q, v, ts in rows]

    def records(self, farm_id: str, node_id: str, start: datetime, end: datetime) -> list[Record]:
        """One node's records with start <= ts < end, oldest first, one per timestamp."""
        start_ms = bound_ms(start, "start")
        end_ms = bound_ms(end, "end")
        with self._locked("read records"):
            rows = self._conn.execute(
                "SELECT ts_ms, seq, synced, quantity, value FROM readings "
                "WHERE farm_id = ? AND node_id = ? AND ts_ms >= ? AND ts_ms < ? "
                "ORDER BY ts_ms, quantity",
                (farm_id, node_id, start_ms, end_ms),
            ).fetchall()
        out: list[Record] = []
        for ts_ms, group in groupby(rows, key=itemgetter(0)):
            point = list(group)
            _, seq, synced, _, _ = point[0]
            readings = {quantity: float(value) for _, _, _, quantity, value in point}
            out.append(Record(from_ms(ts_ms), seq, bool(synced), readings))
        return out

    def aggregate(
        self,
        farm_id: str,
        node_id: str,
        quantity: str,
        start: datetime,
        end: datetime,
        interval: timedelta,
        fn: Aggregate,
    ) -> list[Bucket]:
        """Per-interval mean/min/max, buckets aligned to the epoch like InfluxQL's time()."""
        step = interval_ms(interval)
        sql_fn = _SQL_AGGREGATES[fn]
        with self._locked("aggregate readings"):
            rows = self._conn.execute(
                f"SELECT (ts_ms / ?) * ? AS bucket, {sql_fn}(value), count(*) FROM readings "
                "WHERE farm_id = ? AND node_id = ? AND quantity = ? AND ts_ms >= ? AND ts_ms < ? "
                "GROUP BY bucket ORDER BY bucket",
                (
                    step,
                    step,
                    farm_id,
                    node_id,
                    quantity,
                    bound_ms(start, "start"),
                    bound_ms(end, "end"),
                ),
            ).fetchall()
        return [Bucket(from_ms(b), float(v), int(n)) for b, v, n in rows]

    def ping(self) -> None:
        """Raise StoreUnavailable if the database file cannot be read."""
        with self._locked("ping"):
            self._conn.execute("SELECT count(*) FROM latest_readings").fetchone()

    def close(self) -> None:
        """Close the connection; committed data is already on disk. Safe to call twice."""
        with self._lock:
            self._conn.close()
