"""The dead-letter store: every refused message, with its raw bytes and the reasons.

A technician asking "why does node X show nothing?" finds the answer here (and through
``GET /api/v1/dead-letters``). It is always a local SQLite file, whatever the main store is,
so an InfluxDB outage cannot also swallow the evidence.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from farmwatch_core.contract import Rejection

MAX_STORED_PAYLOAD = 64 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    farm_id TEXT,
    node_id TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    rejections TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message (or the refused part of one) and why."""

    received_at: datetime
    topic: str
    payload: bytes
    rejections: tuple[Rejection, ...]
    farm_id: str | None = None
    node_id: str | None = None

    @property
    def reason(self) -> str:
        return self.rejections[0].reason.value

    @property
    def detail(self) -> str:
        first = str(self.rejections[0])
        more = len(self.rejections) - 1
        return first + (f" (and {more} more)" if more else "")


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    received_at: datetime
    topic: str
    farm_id: str | None
    node_id: str | None
    reason: str
    detail: str
    rejections: list[dict[str, object]]
    payload: bytes
    payload_size: int


class DeadLetterStore:
    """Append-only SQLite table of dead letters; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        rows = [
            (
                dl.received_at.astimezone(UTC).isoformat(),
                dl.topic,
                dl.farm_id,
                dl.node_id,
                dl.reason,
                dl.detail,
                json.dumps(
                    [
                        {
                            "reason": r.reason.value,
                            "detail": r.detail,
                            "quantity": r.quantity,
                            "seq": r.seq,
                        }
                        for r in dl.rejections
                    ],
                    ensure_ascii=False,
                ),
                dl.payload[:MAX_STORED_PAYLOAD],
                len(dl.payload),
            )
            for dl in letters
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO dead_letters (received_at, topic, farm_id, node_id, reason, detail,"
                " rejections, payload, payload_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")

    def recent(self, limit: int = 100, reason: str | None = None) -> list[StoredDeadLetter]:
        """Newest first."""
        sql = "SELECT * FROM dead_letters"
        args: tuple[object, ...] = ()
        if reason:
            sql += " WHERE reason = ?"
            args = (reason,)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [
            StoredDeadLetter(
                id=r[0],
                received_at=datetime.fromisoformat(r[1]),
                topic=r[2],
                farm_id=r[3],
                node_id=r[4],
                reason=r[5],
                detail=r[6],
                rejections=json.loads(r[7]),
                payload=bytes(r[8]),
                payload_size=r[9],
            )
            for r in rows
        ]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM dead_letters").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
