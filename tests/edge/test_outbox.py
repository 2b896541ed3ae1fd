"""The outbox: durable, ordered, bounded with counted eviction, batches within the contract."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from farmwatch_core.contract.payload import MAX_MESSAGE_BYTES, encode_batch
from farmwatch_edge.clock import ClockCheck, ClockMode, Stamper, kernel_says_unsynced
from farmwatch_edge.outbox import Outbox, batches

_T0 = 1_795_921_140_000


def _fill(box: Outbox, count: int, start: int = 1) -> None:
    for seq in range(start, start + count):
        box.add(ts_ms=_T0 + seq, seq=seq, synced=True, readings={"ph": 7.0 + seq / 1000})


def test_order_and_ack_removal(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        _fill(box, 10)
        entries = box.pending(limit=4)
        assert [e.record.seq for e in entries] == [1, 2, 3, 4]
        box.remove(e.id for e in entries[:2])
        assert [e.record.seq for e in box.pending()] == list(range(3, 11))
        assert [e.record.seq for e in box.pending(after_id=entries[3].id)] == list(range(5, 11))
        assert box.depth == 8


def test_survives_reopen_with_counts(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, max_records=5) as box:
        _fill(box, 8)
    with Outbox(path, max_records=5) as box:
        assert box.depth == 5
        assert box.evicted == 3  # persisted, so status keeps reporting it after a restart
        assert box.last_ts_ms == _T0 + 8
        assert [e.record.seq for e in box.pending()] == [4, 5, 6, 7, 8]
        record = box.pending()[0].record
        assert record.readings == {"ph": 7.004}
        assert record.synced is True


def test_eviction_drops_oldest_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), Outbox(tmp_path / "o.db", max_records=3) as box:
        _fill(box, 4)
        assert box.evicted == 1
        assert [e.record.seq for e in box.pending()] == [2, 3, 4]
    assert "dropped the 1 oldest" in caplog.text


def test_batches_respect_record_and_byte_limits(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        _fill(box, 4500)
        entries = box.pending(limit=5000)
    sizes = [len(ids) for ids, _ in batches(entries)]
    assert sizes == [2000, 2000, 500]

    with Outbox(tmp_path / "big.db") as box:
        for seq in range(1, 301):
            box.add(ts_ms=_T0 + seq, seq=seq, synced=True, readings={"ph": 7.0})
        entries = box.pending(limit=300)
    out = list(batches(entries, max_bytes=4096))
    assert len(out) > 1
    assert all(len(payload) <= 4096 for _, payload in out)
    assert [i for ids, _ in out for i in ids] == [e.id for e in entries]  # order kept, none lost
    decoded = [json.loads(payload)["records"] for _, payload in out]
    assert [r["seq"] for chunk in decoded for r in chunk] == list(range(1, 301))
    assert max(len(p) for _, p in batches(entries)) <= MAX_MESSAGE_BYTES


def test_batches_are_the_contracts_encoding_of_their_records(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        for seq in range(1, 1201):
            readings = {"ph": 7.0 + seq / 7, "dissolved_oxygen": 5.25, "water_temperature": -0.5}
            box.add(ts_ms=_T0 + seq, seq=seq, synced=seq % 3 != 0, readings=readings)
        entries = box.pending(limit=5000)
        streamed = list(box.iter_pending(limit=5000))
    assert [e.id for e in streamed] == [e.id for e in entries]
    by_id = {e.id: e.record for e in entries}
    for limits in ({"max_records": 500}, {"max_bytes": 20_000}):
        out = list(batches(iter(streamed), **limits))
        assert [i for ids, _ in out for i in ids] == [e.id for e in entries]
        for ids, payload in out:
            assert payload == encode_batch([by_id[i] for i in ids])  # byte for byte


def test_a_pending_iterator_closed_early_leaves_the_outbox_usable(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        _fill(box, 10)
        pending = box.iter_pending()
        first = next(pending)
        pending.close()
        box.remove([first.id])  # a write right after: no statement left open
        _fill(box, 1, start=11)
        assert box.depth == 10


def test_restamp_fixes_records_taken_before_clock_sync(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        # Booted with the clock in 1970; monotonic times 1000, 2000 and 2000 (same ms).
        for seq, mono in ((1, 1000), (2, 2000), (3, 2000)):
            box.add(
                ts_ms=seq, seq=seq, synced=False, readings={"ph": 7.0}, boot_id="b", mono_ms=mono
            )
        box.add(ts_ms=4, seq=4, synced=False, readings={"ph": 7.0}, boot_id="old", mono_ms=5)
        assert box.restamp(boot_id="b", offset_ms=_T0) == 3
        records = [e.record for e in box.pending()]
    stamps = [int(r.ts.timestamp() * 1000) for r in records[:3]]
    assert stamps == [_T0 + 1000, _T0 + 2000, _T0 + 2001]  # strictly increasing
    assert [r.synced for r in records] == [True, True, True, False]  # earlier boot: flagged only
    assert box.last_ts_ms == _T0 + 2001


def test_clock_check_and_stamper() -> None:
    wall = [1_000]  # 1970: a Pi that booted without RTC
    check = ClockCheck(ClockMode.AUTO, wall_ms=lambda: wall[0], kernel_unsynced=lambda: False)
    assert not check.synced()
    wall[0] = _T0
    assert check.synced()
    kernel_unsynced = ClockCheck(ClockMode.AUTO, wall_ms=lambda: _T0, kernel_unsynced=lambda: True)
    assert not kernel_unsynced.synced()
    # The real adjtimex(2), through the C library already in the process: an answer, not None.
    assert kernel_says_unsynced() in (True, False)
    assert ClockCheck(ClockMode.FLOOR, wall_ms=lambda: _T0, kernel_unsynced=lambda: True).synced()
    stamp = Stamper(last_ms=0, wall_ms=lambda: _T0)
    assert [stamp() for _ in range(3)] == [_T0, _T0 + 1, _T0 + 2]  # never the same millisecond
