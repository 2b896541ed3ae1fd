from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmwatch_core.contract import Record
from farmwatch_ingest.spool import Spool, decode_records, encode_records
from farmwatch_ingest.stores.base import NodeRecord
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 11, 29, 20, 0, 0, 123456, tzinfo=UTC)


def chunk(first_seq: int, n: int = 10) -> list[NodeRecord]:
    return [
        NodeRecord("f", "n", Record(T0 + timedelta(seconds=s), s, True, {"ph": 7.0, "rssi": -80.0}))
        for s in range(first_seq, first_seq + n)
    ]


def test_fifo_and_survives_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10**6)
    spool.append(chunk(1))
    spool.append(chunk(11))
    spool.close()
    spool = Spool(tmp_path / "s.db", 10**6)
    assert len(spool) == 20
    first = spool.head(15)
    assert [r.record.seq for c in first for r in c.records] == list(range(1, 11))  # whole chunks
    spool.remove(first)
    assert [r.record.seq for c in spool.head(100) for r in c.records] == list(range(11, 21))
    assert len(spool) == 10


def test_bounded_drops_oldest_and_counts_it(tmp_path: Path) -> None:
    size = len(encode_records(chunk(1)))
    spool = Spool(tmp_path / "s.db", max_bytes=int(size * 3.5))
    for first in range(1, 61, 10):
        spool.append(chunk(first))
    assert spool.dropped_records == 30
    assert len(spool) == 30
    assert spool.bytes <= spool.max_bytes
    seqs = [r.record.seq for c in spool.head(1000) for r in c.records]
    assert seqs == list(range(31, 61))  # the newest survive


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
                max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                timezones=st.just(UTC),
            ),
            st.integers(0, 2**63 - 1),
            st.booleans(),
            st.floats(-1e6, 1e6),
        ),
        max_size=5,
    )
)
def test_encoding_is_exact(rows: list[tuple[datetime, int, bool, float]]) -> None:
    records = [
        NodeRecord("f", "n", Record(ts, seq, synced, {"ph": v})) for ts, seq, synced, v in rows
    ]
    assert decode_records(encode_records(records)) == records
