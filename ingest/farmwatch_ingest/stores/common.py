"""What both stores share: millisecond time arithmetic and the guard against unstorable data.

Both stores keep whole milliseconds (InfluxDB ``precision=ms``), truncating like InfluxDB does,
so the same record has the same identity in either; the arithmetic is exact integer maths on
timedeltas, never floats.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from farmwatch_ingest.stores.base import NodeRecord, StoreRejected

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
MAX_SEQ = 2**63 - 1  # InfluxDB integer fields and SQLite INTEGER are signed 64-bit


def _aware(ts: datetime, what: str) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} {ts.isoformat()} has no time zone; farmwatch uses aware UTC")


def to_ms(ts: datetime, what: str) -> int:
    """Milliseconds since the epoch, truncated (floor) as InfluxDB does with ``precision=ms``.

    >>> to_ms(datetime(1970, 1, 1, 0, 0, 1, 999, tzinfo=UTC), "ts")
    1000
    """
    if ts.tzinfo is not UTC:  # the contract's timestamps are UTC: skip the utcoffset() call
        _aware(ts, what)
    return (ts - EPOCH) // ONE_MS


def bound_ms(ts: datetime, what: str) -> int:
    """A query bound in ms, rounded *up* so ``ts_ms >= bound`` means ``ts >= bound``.

    Stored timestamps are whole milliseconds, so for a bound with a sub-ms part the first
    stored instant at or after it is the next millisecond (for start and for end alike).

    >>> bound_ms(datetime(1970, 1, 1, 0, 0, 1, 999, tzinfo=UTC), "start")
    1001
    """
    _aware(ts, what)
    return -((EPOCH - ts) // ONE_MS)


def from_ms(ts_ms: int) -> datetime:
    return EPOCH + ts_ms * ONE_MS


def interval_ms(interval: timedelta) -> int:
    """An aggregation interval in whole ms; below one second is refused (it would be a
    bucket per reading)."""
    step = interval // ONE_MS
    if step < 1000:
        raise ValueError(f"aggregation interval {interval} is shorter than one second")
    return int(step)


def check_storable(nr: NodeRecord) -> None:
    """Refuse an unstorable record before anything is written.

    Ingest only hands over contract-validated records, so this guards against bugs; checking a
    whole batch up front keeps writes all-or-nothing in both stores (InfluxDB would otherwise
    write the valid lines of a request and drop the rest).
    """
    farm_id, node_id, rec = nr
    if not farm_id or not node_id:
        raise StoreRejected(f"{_where(nr)}: farm and node IDs must not be empty")
    seq = rec.seq
    if isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise StoreRejected(f"{farm_id}/{node_id}: seq {seq!r} is not 0..2^63-1")
    if rec.ts.tzinfo is not UTC:  # what the contract produces; anything else is checked fully
        try:
            _aware(rec.ts, f"{_where(nr)}: timestamp")
        except ValueError as exc:
            raise StoreRejected(str(exc)) from None
    readings = rec.readings
    # A sum is finite only if every term is (NaN and ±inf propagate), so one C-level sum
    # clears the common case; a non-finite sum (or an overflow) looks at each value.
    if not math.isfinite(sum(readings.values())):
        for name, value in readings.items():
            if not math.isfinite(value):
                raise StoreRejected(f"{_where(nr)}: {name} is {value}, not finite")


def _where(nr: NodeRecord) -> str:
    """Which record, for an error message (built only when there is an error: hot path)."""
    return f"{nr.farm_id}/{nr.node_id} seq {nr.record.seq}"
