"""Farmers' answers in the officers' figures: satisfaction per district in the programme
indicators (table, chart, CLI) and per commune in ``farmwatch feedback summary``, counted by
hand from the answers given to a real alert store."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.feedback import satisfaction
from farmwatch_alerting.store import STORE_FILE, AlertStore
from farmwatch_core.registry import parse_registry
from matplotlib.patches import Rectangle

from farmwatch.feedback_cli import farm_answers
from farmwatch.programme import programme_chart, programme_indicators, write_programme_csv

REGISTRY = parse_registry(
    """
farms:
  - {id: f1, name: F1, model: aquaculture_pond, district: Cẩm Giàng, commune: Cẩm Điền}
  - {id: f2, name: F2, model: pig_barn, district: Cẩm Giàng, commune: Lương Điền}
  - {id: f3, name: F3, model: orchard, district: Thanh Hà, commune: Thanh Xuân}
"""
)
NOW = datetime.now(UTC).replace(microsecond=0)
# (farm, answer) per person per alert; f1: 2 of 3 useful, f2: 0 of 1, f3: 1 of 1
ANSWERS = [
    ("f1", "useful"), ("f1", "useful"), ("f1", "false_alarm"),
    ("f2", "too_late"),
    ("f3", "useful"),
]  # fmt: skip


def answered_store(path: Path) -> AlertStore:
    store = AlertStore(path)
    t = NOW - timedelta(days=2)
    for i, (farm, answer) in enumerate(ANSWERS):
        alert = Alert.new(
            {"alertname": "DoLow", "farm": farm, "node": f"n{i}"}, Severity.WARNING, t
        )
        episode = store.save(alert.fire(t))
        store.add_feedback(episode, answer, f"person-{i}", t, "page")
        if i == 0:  # a change of mind: the later answer counts, once
            store.add_feedback(episode, "false_alarm", f"person-{i}", t, "page")
            store.add_feedback(episode, "useful", f"person-{i}", t + timedelta(minutes=1), "page")
    # A farm report answered "not useful" for f3, this month.
    store.add_report_feedback(f"farm:f3:{NOW:%Y-%m}", "not_useful", "link:x", NOW, "link")
    return store


def test_satisfaction_per_district_in_the_programme(tmp_path: Path) -> None:
    store = answered_store(tmp_path / STORE_FILE)
    try:
        answers = farm_answers(store, NOW - timedelta(days=30), NOW + timedelta(seconds=1))
    finally:
        store.close()
    rows = {r.district: r for r in programme_indicators(REGISTRY, [], [], NOW, feedback=answers)}
    # Cẩm Giàng: f1 2 useful of 3 + f2 0 of 1 = 2 of 4; Thanh Hà: alert useful + report not = 1 of 2
    assert (rows["Cẩm Giàng"].answers, rows["Cẩm Giàng"].useful_answers) == (4, 2)
    assert rows["Cẩm Giàng"].satisfaction == 0.5
    assert (rows["Thanh Hà"].answers, rows["Thanh Hà"].satisfaction) == (2, 0.5)
    write_programme_csv(list(rows.values()), tmp_path / "p.csv")
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        table = {r["district"]: r for r in csv.DictReader(handle)}
    assert (table["Cẩm Giàng"]["feedback_answers"], table["Cẩm Giàng"]["satisfaction"]) == (
        "4",
        "0.50",
    )
    bars = {
        patch.get_gid(): patch.get_height()
        for axes in programme_chart(list(rows.values())).axes
        for patch in axes.patches
        if isinstance(patch, Rectangle) and patch.get_gid()
    }
    assert bars["satisfaction|Cẩm Giàng"] == pytest.approx(50)
    assert bars["satisfaction|Thanh Hà"] == pytest.approx(50)
    communes = satisfaction(REGISTRY, answers, by="commune")
    assert [(a.commune, a.answers, a.useful) for a in communes] == [
        ("Cẩm Điền", 3, 2), ("Lương Điền", 1, 0), ("Thanh Xuân", 2, 1),
    ]  # fmt: skip


def test_the_commands_print_the_figures(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text(REGISTRY.to_yaml(), encoding="utf-8")
    (tmp_path / "alerting").mkdir()
    answered_store(tmp_path / "alerting" / STORE_FILE).close()

    def farmwatch(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "farmwatch", *args, "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = farmwatch("feedback", "summary", "--min-answers", "5")
    # DoLow: 5 answers, 1 false alarm (20 %), 1 too late (20 %)
    assert any(
        line.startswith("DoLow") and " 5 " in line and "20%" in line for line in out.splitlines()
    ), out
    assert "Cẩm Giàng / Cẩm Điền" in out
    programme = farmwatch("report", "programme", "--out", str(tmp_path / "p.csv"))
    assert "useful 50% of 4" in programme
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        table = {r["district"]: r for r in csv.DictReader(handle)}
    assert table["Thanh Hà"]["satisfaction"] == "0.50"


def test_the_monthly_report_counts_answers_and_its_link_takes_one(tmp_path: Path) -> None:
    """The report's short section counts the farm's answers; its "was this report useful?"
    link opens the form on a served app reading the same alert store, and an answer is kept."""
    from urllib.parse import urlsplit

    from farmwatch_alerting.api import alerting_router
    from farmwatch_core.settings import FarmwatchSettings
    from farmwatch_ingest.stores import open_store
    from fastapi import FastAPI
    from support.api_world import token_guard
    from support.asgi import served

    from farmwatch.reports.build import build_report
    from farmwatch.reports.model import Scope

    alerts_db = tmp_path / STORE_FILE
    answered_store(alerts_db).close()
    period = (NOW - timedelta(days=2)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
    farm = REGISTRY.farm("f1")
    assert farm is not None
    records = open_store(FarmwatchSettings(data_dir=tmp_path))
    try:
        files = build_report(
            records, Scope("farm", "f1", "F1", (farm,)), period, tmp_path / "out",
            alerts_db=alerts_db, now=NOW, pdf=False, public_url="https://fw.example",
        )  # fmt: skip
    finally:
        records.close()
    html = files.html["vi"].read_text(encoding="utf-8")
    assert "3 trả lời: 2 hữu ích, 1 báo nhầm, 0 quá muộn." in html  # f1's answers, by hand
    link = re.search(r'href="(https://fw\.example/feedback/report/[^"]+)"', html)
    assert link is not None
    store = AlertStore(alerts_db)
    guard, _ = token_guard(tmp_path / "tokens.db", {})
    app = FastAPI()
    app.state.guard = guard
    app.include_router(alerting_router(store, store.acknowledge))
    try:
        with served(app) as client:
            path = urlsplit(link[1].replace("&amp;", "&")).path
            assert client.get(path).status_code == 200
            said = client.post(path, data={"answer": "useful", "comment": "dễ hiểu"})
            assert said.status_code == 200
        [kept] = store.report_feedback(f"farm:f1:{period}")
        assert (kept.answer.value, kept.comment) == ("useful", "dễ hiểu")
    finally:
        guard.tokens.close()
        store.close()
