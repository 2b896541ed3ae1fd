"""Monthly reports: a simulated November (with outages and DO crashes) in a real SQLite store and
a real alert store; the report's numbers are checked against counts this test makes itself,
straight from the generated data, and the PDF is rendered to page images with pdftoppm.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.store import STORE_FILE, AlertStore
from farmwatch_analytics.engine import AnalyticsEngine
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.contract import Record
from farmwatch_core.registry import Deployment
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import parse_scenario

from farmwatch.reports.build import build_report
from farmwatch.reports.collect import resolve_scope

START = datetime(2026, 10, 31, 17, tzinfo=UTC)  # 1 November 2026, midnight in Hải Dương
END = datetime(2026, 11, 30, 17, tzinfo=UTC)
INTERVAL = timedelta(minutes=30)  # coarse, so a month stays fast
SLOTS = int((END - START) / INTERVAL)
MAX_GAP = 3 * INTERVAL  # three missed reports end an excursion (the report's documented rule)
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)
SCENARIO = f"""
name: report-month
seed: 5
start: {START.isoformat().replace("+00:00", "Z")}
duration: 30d
interval: 30m
farms:
  - {{model: aquaculture_pond, count: 2, nodes_per_farm: 2}}
  - {{model: pig_barn, count: 1, nodes_per_farm: 1}}
  - {{model: greenhouse, count: 1, nodes_per_farm: 1}}
  - {{model: rice_field, count: 1, nodes_per_farm: 1}}
events:
  # Still, overcast nights with the aerator off, from 18:00 in Hải Dương (start + 18 h).
  - {{kind: do_crash, farms: [pond-01], start: +5d18h, duration: 14h, respiration_factor: 2.6}}
  - {{kind: do_crash, farms: [pond-01], start: +17d18h, duration: 12h, respiration_factor: 2.2}}
  - {{kind: do_crash, farms: [pond-02], start: +24d18h, duration: 10h}}
faults:
  - {{kind: dropout, farm: pond-01, node: pond-01-n2, start: +9d, duration: 2d}}
  - {{kind: dropout, farm: pig-03, start: +20d, duration: 30h}}
  - {{kind: battery_death, farm: gh-04, start: +26d, decay: 12h}}
"""
# (farm, alertname, severity, fired after the start, minutes to acknowledge or None)
ALERTS = (
    ("pond-01", "LimitBreach", Severity.CRITICAL, timedelta(days=5, hours=3), 12.0),
    ("pond-01", "LimitBreach", Severity.CRITICAL, timedelta(days=18, hours=2), 47.0),
    ("pond-01", "NodeOffline", Severity.WARNING, timedelta(days=9, hours=1), None),
    ("pig-03", "ProcessAnomaly", Severity.WARNING, timedelta(days=20), 3.0),
    ("pond-02", "LimitBreach", Severity.CRITICAL, timedelta(days=-10), 5.0),  # October
)


@dataclass
class Month:
    deployment: Deployment
    data_dir: Path
    registry: Path
    # (farm, node) -> the generated records, as the simulator made them
    records: dict[tuple[str, str], list[Record]] = field(default_factory=dict)


@cache
def simulated_month(folder: str) -> Month:
    """The scenario's month in ``folder``: SQLite store with analytics' derived values beside
    the readings (as the live pipeline stores them), and an alert store with known answers."""
    scenario = parse_scenario(SCENARIO, "report-month")
    data_dir = Path(folder)
    month = Month(scenario.deployment, data_dir, data_dir / "registry.yaml")
    month.registry.write_text(scenario.deployment.to_yaml(), encoding="utf-8")
    # The daily-profile and rolling anomaly scores are enough here; the hourly IsolationForest
    # (a model fitted on weeks) would triple the time the month takes to build.
    profiles = {
        f.id: profile_for_model(f.model).with_overrides(
            {"detectors": [d for d in profile_for_model(f.model).detectors
                           if d != "isolation_forest"]}
        )
        for f in scenario.deployment.farms
    }  # fmt: skip
    engine = AnalyticsEngine(
        profiles, {f.id: [n.id for n in f.nodes] for f in scenario.deployment.farms}
    )
    store = SqliteStore(data_dir / "farmwatch.db")
    batch: list[NodeRecord] = []
    for farm, node, record in generate_dataset(scenario):
        month.records.setdefault((farm, node), []).append(record)
        batch.append(NodeRecord(farm, node, record))
        derived = {
            point.name: point.value
            for point in engine.process(farm, node, record.ts, record.readings).derived
            if point.ts == record.ts
        }
        if derived:
            batch.append(
                NodeRecord(farm, node, Record(record.ts, record.seq, record.synced, derived))
            )
        if len(batch) >= 2000:
            store.write(batch)
            batch.clear()
    store.write(batch)
    store.close()
    (data_dir / "alerting").mkdir(exist_ok=True)
    alerts = AlertStore(data_dir / "alerting" / STORE_FILE)
    for farm, name, severity, after, minutes in ALERTS:
        at = START + after
        alert = Alert.new({"alertname": name, "farm": farm, "node": f"{farm}-n1"}, severity, at)
        episode = alerts.save(alert.fire(at))
        if minutes is not None:
            alerts.acknowledge(episode, "Hương", at + timedelta(minutes=minutes))
        # Each ends two hours later, so the next of the same kind is an episode of its own.
        alerts.save(alerts.get(episode).resolve(at + timedelta(hours=2)))
    alerts.close()
    return month


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    return simulated_month(str(tmp_path_factory.mktemp("report-month")))


# -- counts made here, from the generated data, without the report's code --------------------


def uptime_by_hand(records: list[Record]) -> tuple[int, float]:
    slots = {int((r.ts - START) / INTERVAL) for r in records if START <= r.ts < END}
    return len(slots), len(slots) / SLOTS


def completeness_by_hand(records: list[Record], sensors: tuple[str, ...]) -> float:
    seen = {
        (int((r.ts - START) / INTERVAL), q) for r in records for q in r.readings if q in sensors
    }
    return len(seen) / (SLOTS * len(sensors))


def episodes_by_hand(records: list[Record], quantity: str, below: float) -> int:
    """Runs of readings under ``below``; a silence longer than MAX_GAP ends a run."""
    count, inside, last = 0, False, None
    for record in records:
        value = record.readings.get(quantity)
        if value is None:
            continue
        if inside and last is not None and record.ts - last > MAX_GAP:
            inside = False
        if value < below:
            count += not inside
            inside = True
        else:
            inside = False
        last = record.ts
    return count


def cell(html: str, key: str, value: str, name: str) -> str:
    found = re.search(rf'data-{key}="{re.escape(value)}" data-field="{name}">([^<]*)<', html)
    assert found, (key, value, name)
    return found.group(1)


def pages(pdf: Path, folder: Path) -> Iterator[Path]:
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", str(pdf), str(folder / pdf.stem)], check=True, timeout=60
    )
    yield from sorted(folder.glob(f"{pdf.stem}-*.png"))


def ink(png: Path) -> float:
    """Share of a page's pixels that are not (nearly) white."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
    return sum(histogram[:230]) / sum(histogram)


# -- the tests -------------------------------------------------------------------------------


def test_the_scenario_is_not_trivial(month: Month) -> None:
    """Outages and DO crashes really happened, so the checks below compare real numbers."""
    slots, _ = uptime_by_hand(month.records[("pond-01", "pond-01-n2")])
    assert slots < SLOTS - 90  # two days of dropout
    assert episodes_by_hand(month.records[("pond-01", "pond-01-n1")], "dissolved_oxygen", 2.3) >= 2


def test_a_farm_report_matches_the_data(month: Month, tmp_path: Path) -> None:
    scope = resolve_scope(month.deployment, farm="pond-01")
    store = SqliteStore(month.data_dir / "farmwatch.db")
    lines: list[str] = []
    try:
        files = build_report(
            store, scope, "2026-11", tmp_path, languages=("vi", "en"),
            alerts_db=month.data_dir / "alerting" / STORE_FILE, now=NOW, progress=lines.append,
        )  # fmt: skip
    finally:
        store.close()
    assert any("pond-01-n2" in line and "records" in line for line in lines)  # progress
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    farm = summary["farms"][0]
    html = {lang: path.read_text(encoding="utf-8") for lang, path in files.html.items()}
    sensors = month.deployment.farm("pond-01").nodes[0].sensors  # type: ignore[union-attr]
    for node in farm["nodes"]:
        records = month.records[("pond-01", node["node_id"])]
        slots, uptime = uptime_by_hand(records)
        assert node["interval_s"] == INTERVAL.total_seconds()
        assert (node["slots"], node["slots_with_data"]) == (SLOTS, slots)
        assert node["uptime"] == pytest.approx(uptime)
        assert node["completeness"] == pytest.approx(completeness_by_hand(records, sensors))
        vi = f"{100 * uptime:.1f} %".replace(".", ",")
        assert cell(html["vi"], "node", node["node_id"], "uptime") == vi
        assert cell(html["en"], "node", node["node_id"], "uptime") == f"{100 * uptime:.1f} %"
        do = node["subjects"]["dissolved_oxygen"]["excursions"]
        for severity, below in (("critical", 2.3), ("warning", 4.0)):
            expected = episodes_by_hand(records, "dissolved_oxygen", below)
            assert do.get(severity, {"count": 0})["count"] == expected, (node["node_id"], severity)
    assert farm["nodes"][1]["uptime"] < farm["nodes"][0]["uptime"]  # the dropout shows
    # Alerts: three of pond-01's fired in November; the October one is not in this month.
    acked = [m for f, _, _, after, m in ALERTS if f == "pond-01" and m is not None]
    alerts = farm["alerts"]
    assert (alerts["fired"], alerts["acknowledged"]) == (3, 2)
    assert alerts["median_minutes_to_acknowledge"] == statistics.median(acked)
    assert alerts["share_within_target"] == pytest.approx(1 / 3)
    assert cell(html["en"], "farm", "pond-01", "median_ack") == f"{statistics.median(acked):.1f}"
    assert cell(html["vi"], "farm", "pond-01", "within_target") == "33,3 %"
    # Analytics' anomaly scores were stored; whatever they found is counted, not invented.
    assert farm["anomaly_episodes"] == sum(
        sum(n["anomaly_episodes"].values()) for n in farm["nodes"]
    )
    # Both languages, Vietnamese by default in the words of the page.
    assert "Báo cáo tháng 2026-11" in html["vi"]
    assert "Thời gian hoạt động" in html["vi"]
    assert "Monthly report 2026-11" in html["en"]
    assert "Oxy hòa tan" not in html["en"]
    # Times in Hải Dương: the first critical alert fired at START + 5 d 3 h = 03:00 local.
    assert "03:00 06/11/2026" in html["vi"]
    assert "2026-11-06 03:00" in html["en"]
    for lang, pdf in files.pdf.items():
        images = list(pages(pdf, tmp_path))
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        count = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
        assert len(images) == count >= 2, lang
        assert all(ink(image) > 0.005 for image in images), lang  # no blank page
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert ("Báo cáo tháng" if lang == "vi" else "Monthly report") in text
        for image in images:
            image.unlink()


def test_a_cooperative_report_compares_its_farms(month: Month, tmp_path: Path) -> None:
    coop = month.deployment.farm("pond-01").cooperative  # type: ignore[union-attr]
    done = subprocess.run(
        [sys.executable, "-m", "farmwatch", "report", "--cooperative", str(coop),
         "--period", "2026-11", "--lang", "en", "--out", str(tmp_path),
         "--data-dir", str(month.data_dir), "--registry", str(month.registry)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pond-01-n2" in done.stderr  # progress while it builds
    farms = [f for f in month.deployment.farms if f.cooperative == coop]
    summary = json.loads(next(tmp_path.glob("*.json")).read_text(encoding="utf-8"))
    assert [f["farm_id"] for f in summary["farms"]] == [f.id for f in farms]
    html = next(tmp_path.glob("*-en.html")).read_text(encoding="utf-8")
    assert 'id="comparison"' in html
    for farm in summary["farms"]:
        records = [r for f in farms if f.id == farm["farm_id"] for n in f.nodes
                   for r in month.records.get((f.id, n.id), [])]  # fmt: skip
        nodes = len(next(f for f in farms if f.id == farm["farm_id"]).nodes)
        slots = sum(
            uptime_by_hand(month.records.get((farm["farm_id"], n["node_id"]), []))[0]
            for n in farm["nodes"]
        )
        assert farm["uptime"] == pytest.approx(slots / (SLOTS * nodes))
        assert cell(html, "farm", farm["farm_id"], "uptime") == f"{100 * farm['uptime']:.1f} %"
        critical = farm["excursions"]["critical"]
        assert cell(html, "farm", farm["farm_id"], "excursions_critical") == str(critical)
        if farm["model"] == "aquaculture_pond":
            by_hand = sum(
                episodes_by_hand(month.records[(farm["farm_id"], n["node_id"])],
                                 "dissolved_oxygen", 2.3)
                for n in farm["nodes"]
            )  # fmt: skip
            do_critical = sum(
                n["subjects"]["dissolved_oxygen"]["excursions"].get("critical", {"count": 0})[
                    "count"
                ]
                for n in farm["nodes"]
            )
            assert do_critical == by_hand > 0
        assert records or farm["uptime"] == 0
    assert "Vietnam time" in html
    assert next(tmp_path.glob("*-en.pdf")).stat().st_size > 10_000


def test_the_command_refuses_what_it_cannot_report(
    month: Month, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from farmwatch.cli import main

    base = ["report", "--data-dir", str(month.data_dir), "--registry", str(month.registry),
            "--out", str(tmp_path)]  # fmt: skip
    assert main([*base, "--farm", "pond-99", "--period", "2026-11"]) == 2
    assert "no farm 'pond-99'" in capsys.readouterr().err
    assert main([*base, "--farm", "pond-01", "--period", "11/2026"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert main([*base, "--period", "2026-11"]) == 2
    assert "--cooperative" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written
    programme = ["report", "programme", "--data-dir", str(month.data_dir), "--registry",
                 str(month.registry), "--out", str(tmp_path / "p.csv")]  # fmt: skip
    assert main(programme) == 0  # the older subcommand still works beside the options
    assert (tmp_path / "p.csv").exists()


def test_daily_indicators_count_for_the_day_they_describe() -> None:
    """Analytics files a day's GDD with the first record of the next local day: the record at
    the month's first midnight is the previous month's last day, the one just after the month
    is its last day."""
    from farmwatch.reports.collect import summarise_node
    from farmwatch.reports.compute import month_bounds

    deployment = Deployment.model_validate(
        {"farms": [{"id": "rice-01", "name": "Ruộng", "model": "rice_field",
                    "nodes": [{"id": "n1", "profile": "rice_field"}]}]}
    )  # fmt: skip
    farm = deployment.farms[0]
    start, end = month_bounds("2026-11")
    hour = timedelta(hours=1)

    def rec(ts: datetime, gdd: float | None = None) -> Record:
        readings = {"air_temperature": 25.0} | ({} if gdd is None else {"gdd": gdd})
        return Record(ts=ts, seq=0, synced=False, readings=readings)

    records = [
        rec(start, gdd=100.0),  # 31 October
        rec(start + hour),
        rec(start + 24 * hour, gdd=7.0),  # 1 November
        rec(end - hour),
        rec(end, gdd=5.0),  # 30 November, filed at 1 December's first record
        rec(end + 24 * hour, gdd=1000.0),  # 1 December: another month
    ]
    summary = summarise_node(
        farm, "n1", ("air_temperature",), profile_for_model(farm.model), records,
        start, end, timedelta(hours=1),
    )  # fmt: skip
    assert summary.totals["gdd"] == 12.0
    assert summary.records == 4  # the records after the month only brought its last day
