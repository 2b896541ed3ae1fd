"""The storage interface: one small protocol, two real implementations (SQLite, InfluxDB).

Both pass the same contract suite (tests/ingest/test_store_contract.py), so ingest, the API and
reports never care which one is configured.

Errors::

    StoreError
      StoreUnavailable   the database is down, slow or refusing connections: keep the data, retry
      StoreRejected      the database refused this data itself (e.g. a field type conflict):
                         retrying will not help; dead-letter it
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, Protocol

from farmwatch_core.contract import Record


class StoreError(Exception):
    """Base of storage errors."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or timed out; nothing was (reliably) written. Retry later."""


class StoreRejected(StoreError):
    """The store refused the data; retrying the same data will fail again."""


class NodeRecord(NamedTuple):
    """A contract record attributed to the node that sent it (from the topic).

    A named tuple rather than a frozen dataclass: ingest builds one per message on its hot path
    and a tuple is about four times cheaper to construct (bench/ingest_profile.py).
    """

    farm_id: str
    node_id: str
    record: Record


@dataclass(frozen=True, slots=True)
class LatestReading:
    """The most recent value of one quantity of one node."""

    farm_id: str
    node_id: str
    quantity: str
    value: float
    ts: datetime


Aggregate = Literal["mean", "min", "max"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One interval of an aggregated series: ``start`` is the interval's first instant, aligned
    to multiples of the interval since the Unix epoch (as InfluxQL's GROUP BY time())."""

    start: datetime
    value: float
    count: int


class Store(Protocol):
    """Where validated readings live.

    ``write`` is idempotent: writing the same record (same node, seq and timestamp) again, as
    happens when MQTT redelivers a message, leaves exactly one copy. When ``write`` returns,
    the data is durable (committed to disk / acknowledged by InfluxDB).
    """

    def write(self, records: Sequence[NodeRecord]) -> None: ...

    def latest(self, farm_id: str | None = None) -> list[LatestReading]:
        """Latest value per (farm, node, quantity), sorted by farm, node, quantity."""
        ...

    def records(self, farm_id: str, node_id: str, start: datetime, end: datetime) -> list[Record]:
        """One node's records with start <= ts < end, oldest first, one per (seq, ts)."""
        ...

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
        """``fn`` of one quantity per ``interval`` over start <= ts < end, oldest first; intervals
        without readings are left out (a gap in a chart, not a zero)."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable if the store cannot currently be used."""
        ...

    def close(self) -> None: ...
