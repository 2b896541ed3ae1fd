"""Node timing in dataset mode: reporting jitter, per-node clock skew and unsynchronised clocks
change the stamps (never the physics or the sequence numbers), reproducibly from the seed."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_core.contract import Record
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import ScenarioError, parse_scenario
from farmwatch_simulators.timing import JITTER_CAP, UNIX_EPOCH

BASE = """
name: timing
seed: 4
start: 2026-05-01T00:00:00Z
duration: 1d
interval: 5m
farms:
  - {model: pig_barn, count: 2, nodes_per_farm: 2}
  - {model: greenhouse, nodes_per_farm: 1}
"""
NODES = "nodes: {jitter: 2s, clock_skew: 20s}\n"

PerNode = dict[tuple[str, str], list[Record]]


def per_node(text: str, *, faults: bool = True) -> PerNode:
    out: PerNode = defaultdict(list)
    for farm, node, record in generate_dataset(parse_scenario(text), faults=faults):
        out[(farm, node)].append(record)
    return dict(out)


def test_jitter_and_skew_move_stamps_only() -> None:
    perfect = per_node(BASE)
    timed = per_node(BASE + NODES)
    assert timed == per_node(BASE + NODES)  # same seed, same stamps
    assert timed.keys() == perfect.keys()
    skews = []
    for key, records in timed.items():
        reference = perfect[key]
        # Same records, same seqs, same physics: only the timestamps moved.
        assert [(r.seq, r.readings) for r in records] == [(r.seq, r.readings) for r in reference]
        assert all(r.synced for r in records)
        stamps = [r.ts for r in records]
        assert all(a < b for a, b in itertools.pairwise(stamps)), key
        assert all(ts.microsecond % 1000 == 0 for ts in stamps)  # whole milliseconds
        offsets = [(r.ts - p.ts).total_seconds() for r, p in zip(records, reference, strict=True)]
        skew = statistics.median(offsets)
        skews.append(skew)
        assert abs(skew) <= 20.5
        jitter = [o - skew for o in offsets]
        assert 1.6 < statistics.pstdev(jitter) < 2.4, key  # the configured SD of 2 s
        assert max(abs(j) for j in jitter) < JITTER_CAP * 300 + 0.5
    assert len({round(s) for s in skews}) > 1  # each node its own clock


def test_jitter_is_capped_so_stamps_never_swap() -> None:
    text = BASE.replace("interval: 5m", "interval: 10s").replace("1d", "2h")
    records = per_node(text + "nodes: {jitter: 30s}\n")
    for stamps in ([r.ts for r in rs] for rs in records.values()):
        assert all(b - a > timedelta(0) for a, b in itertools.pairwise(stamps))


UNSYNCED = """faults:
  - {kind: clock_unsynced, farm: pig-01, start: +6h, duration: 2h}
  - {kind: stuck, farm: pig-01, quantity: nh3, start: +7h, duration: 3h}
"""


def test_an_unsynced_clock_stamps_like_the_edge_and_is_labelled() -> None:
    scenario = parse_scenario(BASE + NODES + UNSYNCED)
    run = generate_dataset(scenario)
    rows = [(f, n, r) for f, n, r in run if (f, n) == ("pig-01", "pig-01-n1")]
    clean = [r for f, n, r in generate_dataset(scenario, faults=False) if n == "pig-01-n1"]
    labels = run.labels()
    wrong = [r for _, _, r in rows if not r.synced]
    assert len(wrong) == 24  # two hours at 5 minutes
    # Seqs keep counting; readings are those of the clean run (the stuck fault aside).
    assert [r.seq for _, _, r in rows] == list(range(1, len(rows) + 1))
    # The edge's Stamper: just after the last good stamp, 1 ms apart, synced=false.
    last_good = max(r.ts for _, _, r in rows if r.synced and r.seq < wrong[0].seq)
    assert [r.ts for r in wrong] == [
        last_good + timedelta(milliseconds=i) for i in range(1, len(wrong) + 1)
    ]
    # After the episode the clock is right again: the clean run's stamps.
    after = [r for _, _, r in rows if r.seq > wrong[-1].seq]
    assert [r.ts for r in after] == [r.ts for r in clean if r.seq > wrong[-1].seq]
    assert all(r.synced for r in clean)
    # The label is in true time: from the first to the last scheduled record of the episode.
    (label,) = [lb for lb in labels if lb.kind == "clock_unsynced"]
    assert label.quantity is None
    assert label.node_id == "pig-01-n1"
    first, last = wrong[0].seq, wrong[-1].seq
    scheduled = {r.seq: r.ts for r in per_node(BASE)[("pig-01", "pig-01-n1")]}
    assert (label.start, label.end) == (scheduled[first], scheduled[last])
    # A fault spanning the episode names the records' own stamps (wrong ones included).
    (stuck,) = [lb for lb in labels if lb.kind == "stuck"]
    stamps = {r.ts for _, _, r in rows}
    assert stuck.start in stamps
    assert stuck.end in stamps
    assert stuck.start == next(r.ts for _, _, r in rows if r.seq == first + 12)


def test_an_unsynced_first_boot_stamps_1970() -> None:
    text = BASE + "faults: [{kind: clock_unsynced, farm: gh-03, start: +0s, duration: 1h}]\n"
    records = per_node(text)[("gh-03", "gh-03-n1")]
    wrong = [r for r in records if not r.synced]
    assert wrong
    assert wrong[0].seq == 1
    assert all(UNIX_EPOCH <= r.ts < UNIX_EPOCH + timedelta(hours=1) for r in wrong)
    assert records[len(wrong)].ts > datetime(2026, 5, 1, tzinfo=UTC)


def test_an_offset_clock_and_bad_offsets() -> None:
    text = BASE + (
        "faults: [{kind: clock_unsynced, farm: gh-03, start: +0s, duration: 1h, offset: -6h}]\n"
    )
    records = per_node(text)[("gh-03", "gh-03-n1")]
    perfect = per_node(BASE)[("gh-03", "gh-03-n1")]
    assert records[0].ts == perfect[0].ts - timedelta(hours=6)
    assert not records[0].synced
    with pytest.raises(ScenarioError, match="offset"):
        parse_scenario(
            BASE + "faults: [{kind: clock_unsynced, farm: gh-03, start: +0s, duration: 1h,"
            " offset: 6h}]\n"
        )
    with pytest.raises(ScenarioError, match="offset"):
        parse_scenario(
            BASE + "faults: [{kind: dropout, farm: gh-03, start: +0s, duration: 1h, offset: -6h}]\n"
        )
    with pytest.raises(ScenarioError, match=r"nodes\.jitter"):
        parse_scenario(BASE + "nodes: {jitter: -2s}\n")
