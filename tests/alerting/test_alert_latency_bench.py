"""bench/alert_latency.py runs (small) against real processes and ends with its JSON figures."""

from __future__ import annotations

import pytest
from support.benches import BENCH, last_json


@pytest.mark.mosquitto
def test_alert_latency_bench_quick() -> None:
    figures = last_json([str(BENCH / "alert_latency.py"), "--quick"], timeout=300)
    assert figures["lost"] == 0
    assert isinstance(figures["latency_p99_s"], float)
    assert isinstance(figures["background_msgs_per_s"], int)
    assert figures["background_msgs_per_s"] > 500
    assert figures["triggers"] == 19
