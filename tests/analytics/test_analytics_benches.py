"""bench/faults.py and bench/analytics.py run (small) and end with their JSON figures.

The figures are not asserted against targets here (that is the benches' job, on the full
configuration); what is asserted is that each bench works and reports in the agreed format.
"""

from __future__ import annotations

from support.benches import BENCH, last_json


def test_faults_bench_small() -> None:
    args = ["--farms-per-model", "1", "--days", "7", "--per-kind", "1"]
    figures = last_json([str(BENCH / "faults.py"), *args], timeout=300)
    for kind in ("stuck", "spike", "drift", "dropout", "noise_burst", "unit_error"):
        entry = figures[kind]
        assert isinstance(entry, dict)
        assert entry["labels"] == 1
        assert 0.0 <= entry["recall"] <= 1.0
    assert isinstance(figures["readings_per_s"], int)
    assert figures["readings_per_s"] > 0


def test_analytics_bench_small() -> None:
    args = ["--farms-per-model", "1", "--warmup-days", "2.5", "--days", "1", "--repeat", "1"]
    figures = last_json([str(BENCH / "analytics.py"), *args], timeout=300)
    assert isinstance(figures["readings_per_s"], int)
    assert figures["readings_per_s"] > 0
    warmup = figures["warmup_readings_per_s"]
    assert isinstance(warmup, int)
    assert warmup > 0
    assert isinstance(figures["readings"], int)
    assert figures["readings"] > 10_000
    assert figures["compiled"] is True  # make test builds the extensions first
    pure = figures["pure_python_readings_per_s"]
    assert isinstance(pure, int)
    assert pure > 0
    assert figures["compiled_to_pure_ratio"] == round(figures["readings_per_s"] / pure, 2)
