"""bench/faults.py and bench/analytics.py run (small) and end with their JSON figures.

The figures are not asserted against targets here (that is the benches' job, on the full
configuration); what is asserted is that each bench works and reports in the agreed format.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def last_json(args: list[str], timeout: float) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(figures, dict)
    return figures


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
    args = ["--farms-per-model", "1", "--days", "1", "--repeat", "1"]
    figures = last_json([str(BENCH / "analytics.py"), *args], timeout=300)
    assert isinstance(figures["readings_per_s"], int)
    assert figures["readings_per_s"] > 0
    assert isinstance(figures["readings"], int)
    assert figures["readings"] > 10_000
