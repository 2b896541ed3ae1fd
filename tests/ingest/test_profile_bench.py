"""bench/ingest_profile.py runs and reports per-stage figures that add up (not how fast).

The figures are not asserted against targets (speed lives in bench/, not in timed tests); what
is asserted is that the harness drives the real code path end to end — every message stored
in the real influxd and acknowledged, or the bench itself fails — and reports in the agreed
format, with stages that are not all zero.
"""

from __future__ import annotations

import pytest
from support.benches import BENCH, last_json

STAGES = ("parse", "validate", "batch", "lines", "http", "deadletters", "ack", "bookkeeping")


def test_ingest_profile_quick() -> None:
    figures = last_json([str(BENCH / "ingest_profile.py"), "--quick"], timeout=300)
    assert figures["messages"] == 2000
    stages = {s: figures[f"{s}_us"] for s in STAGES}
    numbers = {s: float(v) for s, v in stages.items() if isinstance(v, int | float)}
    assert numbers.keys() == stages.keys()
    total = figures["cpu_us_per_msg"]
    assert isinstance(total, int | float)
    assert total > 0
    assert sum(numbers.values()) == pytest.approx(total, abs=0.1)
    for stage in ("parse", "validate", "lines", "http"):
        assert numbers[stage] > 0, stage
    assert isinstance(figures["influxd_cpu_s_per_100k_msgs"], int | float)
