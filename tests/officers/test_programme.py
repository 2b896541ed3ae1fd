"""The programme indicators per district, checked against counts made by hand."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmwatch_alerting.alert import Alert, Severity
from farmwatch_core.registry import parse_registry

from farmwatch.programme import programme_indicators, write_programme_csv

NOW = datetime(2026, 11, 29, 3, tzinfo=UTC)
REGISTRY = parse_registry(
    """
cooperatives: [{id: htx-a, name: A}, {id: htx-b, name: B}]
farms:
  - {id: f1, name: F1, model: aquaculture_pond, district: Cẩm Giàng, cooperative: htx-a,
     model_farm: true}
  - {id: f2, name: F2, model: pig_barn, district: Cẩm Giàng, cooperative: htx-b}
  - {id: f3, name: F3, model: orchard, district: Thanh Hà, cooperative: htx-a, model_farm: true}
  - {id: f4, name: F4, model: rice_field}
"""
)


@dataclass(frozen=True)
class Row:
    farm_id: str
    node_id: str
    ts: datetime


def critical(farm: str, fired_minutes_ago: float, acked_after: float | None) -> Alert:
    fired = NOW - timedelta(minutes=fired_minutes_ago)
    alert = Alert.new({"alertname": "DoLow", "farm": farm}, Severity.CRITICAL, fired).fire(fired)
    if acked_after is not None:
        alert = alert.acknowledge(fired + timedelta(minutes=acked_after), "x")
    return alert


def test_indicators_per_district(tmp_path: Path) -> None:
    latest = [
        Row("f1", "n1", NOW - timedelta(minutes=5)),  # online
        Row("f2", "n1", NOW - timedelta(hours=3)),  # silent for 3 h: not online
        Row("f3", "n1", NOW - timedelta(minutes=50)),  # online
    ]
    alerts = [
        critical("f1", 120, 10),  # in time
        critical("f2", 100, 45),  # late
        critical("f2", 90, None),  # never acknowledged
        critical("f3", 60, 29),  # in time
        Alert.new({"alertname": "X", "farm": "f1"}, Severity.WARNING, NOW).fire(
            NOW
        ),  # not critical
    ]
    rows = {r.district: r for r in programme_indicators(REGISTRY, latest, alerts, NOW)}
    assert sorted(rows) == ["Cẩm Giàng", "Thanh Hà", "—"]
    cg = rows["Cẩm Giàng"]
    assert (cg.farms, cg.model_farms, cg.farms_online, cg.cooperatives) == (2, 1, 1, 2)
    assert (cg.critical_alerts, cg.handled_in_time) == (3, 1)
    assert cg.online_share == 0.5
    th = rows["Thanh Hà"]
    assert (th.farms, th.model_farms, th.farms_online, th.handled_share) == (1, 1, 1, 1.0)
    assert rows["—"].handled_share is None  # no critical alerts: no share, not 0
    write_programme_csv(list(rows.values()), tmp_path / "p.csv")
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert table[0]["district"] == "Cẩm Giàng"
    assert table[0]["handled_share"] == "0.33"


def test_the_cli_prints_and_writes_the_table(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "registry.yaml").write_text(REGISTRY.to_yaml(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "farmwatch", "report", "programme", "--data-dir", str(tmp_path),
         "--out", str(tmp_path / "p.csv")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Cẩm Giàng" in done.stdout
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        assert [r["district"] for r in csv.DictReader(handle)] == ["Cẩm Giàng", "Thanh Hà", "—"]
