"""The programme indicators per district, checked against counts made by hand."""

from __future__ import annotations

import csv
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_core.registry import parse_registry
from matplotlib.patches import Rectangle

from farmwatch.programme import (
    DistrictRow,
    programme_chart,
    programme_indicators,
    write_programme_chart,
    write_programme_csv,
)

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
         "--out", str(tmp_path / "p.csv"), "--chart", str(tmp_path / "p.png")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Cẩm Giàng" in done.stdout
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        assert [r["district"] for r in csv.DictReader(handle)] == ["Cẩm Giàng", "Thanh Hà", "—"]


def indicator_rows() -> list[DistrictRow]:
    latest = [Row("f1", "n1", NOW - timedelta(minutes=5)), Row("f3", "n1", NOW)]
    alerts = [critical("f1", 120, 10), critical("f2", 100, 45), critical("f3", 60, 29)]
    return programme_indicators(REGISTRY, latest, alerts, NOW)


def test_the_chart_bars_match_the_table(tmp_path: Path) -> None:
    rows = indicator_rows()
    figure = programme_chart(rows)
    bars: dict[str, float] = {}
    for axes in figure.axes:
        for patch in axes.patches:
            gid = patch.get_gid()
            if isinstance(patch, Rectangle) and gid:
                bars[gid] = patch.get_height()
    write_programme_csv(rows, tmp_path / "p.csv")
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    expected: dict[str, float] = {}
    for line in table:
        for metric in ("farms", "model_farms", "farms_online", "cooperatives"):
            expected[f"{metric}|{line['district']}"] = float(line[metric])
        expected[f"online_share|{line['district']}"] = 100 * float(line["online_share"])
        if line["handled_share"]:  # no critical alerts: no bar
            expected[f"handled_share|{line['district']}"] = 100 * float(line["handled_share"])
    assert bars.keys() == expected.keys()
    for gid, height in bars.items():
        assert height == pytest.approx(expected[gid], abs=0.5), gid  # the CSV rounds to 0.01
    assert figure.axes[0].get_legend() is not None
    assert "—" in [t.get_text() for t in figure.axes[0].get_xticklabels()]


def test_the_chart_renders_as_png_and_svg_in_both_languages(tmp_path: Path) -> None:
    rows = indicator_rows()
    write_programme_chart(rows, tmp_path / "p.png")
    png = (tmp_path / "p.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width > 1000
    assert height > 600
    write_programme_chart(rows, tmp_path / "p.svg", lang="en")
    svg = (tmp_path / "p.svg").read_text(encoding="utf-8")
    assert 'id="farms|Cẩm Giàng"' in svg
    assert "Programme indicators per district" in svg
    assert "handled_share|—" not in svg  # no critical alerts there: no bar
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        write_programme_chart(rows, tmp_path / "p.pdf")
