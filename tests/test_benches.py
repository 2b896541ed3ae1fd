"""Each bench runs (in a small configuration) and ends with one JSON object of its figures.

The figures themselves are not asserted: speed lives in bench/, not in timed tests. What is
asserted is that a bench works, loses nothing and reports in the agreed format.
"""

from __future__ import annotations

import pytest
from support.benches import BENCH, last_json


def test_ingest_bench_quick() -> None:
    figures = last_json([str(BENCH / "ingest.py"), "--quick"], timeout=600)
    assert figures["lost"] == 0
    for key in (
        "msgs_per_s",
        "ceiling_msgs_per_s",
        "ratio_to_ceiling",
        "lag_p50_s",
        "lag_p99_s",
        "cpu_s_per_100k_msgs",
        "peak_rss_mb",
    ):
        value = figures[key]
        assert isinstance(value, int | float)
        assert value > 0, key


def test_edge_bench_small() -> None:
    figures = last_json([str(BENCH / "edge.py"), "--readings", "2000"], timeout=300)
    assert figures["lost"] == 0
    assert isinstance(figures["replay_readings_per_s"], int | float)
    assert isinstance(figures["peak_rss_mb"], int | float)


@pytest.mark.parametrize("mode", ["dataset"])
def test_simulate_bench_small(mode: str) -> None:
    figures = last_json(
        [str(BENCH / "simulate.py"), "--mode", mode, "--nodes", "5", "--days", "0.5"], timeout=300
    )
    assert figures["nodes"] == 5
    assert isinstance(figures["msgs_per_s"], int | float)
