"""The NAB detector end to end: the CLI others score us with, NAB's scorer on it, and the bench.

The corpus and the scorer live in ``../shared`` (read-only, present in development and CI).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from farmwatch_analytics.detectors.base import NEUTRAL_SCORE
from farmwatch_analytics.detectors.ensemble import EnsembleDetector
from farmwatch_analytics.nab import nab_scores, read_nab_csv

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
NAB = SHARED / "data" / "nab"
# A short file with one labelled anomaly (a sudden jump), and the scorer that NAB users run.
JUMPS = "artificialWithAnomaly/art_daily_jumpsup.csv"
FARMWATCH = Path(sys.executable).with_name("farmwatch")
# A daily cycle that stays flat for most of a day: every reading is at a normal level.
FLAT_MIDDLE = "artificialWithAnomaly/art_daily_flatmiddle.csv"


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_change_of_shape_at_normal_levels_is_found_by_the_context_views() -> None:
    """The labelled day raises an alarm, nothing else after NAB's probation does; without the
    context views (the ensemble before them) the day passes unnoticed."""
    times, values = read_nab_csv(NAB / "data" / FLAT_MIDDLE)
    labels = json.loads((NAB / "labels" / "combined_windows.json").read_text(encoding="utf-8"))
    (start, end), *_ = labels[FLAT_MIDDLE]
    inside = [_stamp(start) <= t <= _stamp(end) for t in times]
    probation = min(int(0.15 * len(values)), 750)

    scores = nab_scores(values, times)
    assert max(s for s, y in zip(scores, inside, strict=True) if y) >= 0.5
    outside = [s for i, (s, y) in enumerate(zip(scores, inside, strict=True)) if not y]
    assert max(outside[probation:]) < 0.5

    without = functools.partial(EnsembleDetector, context_order=None, daily_buckets=None)
    blind = nab_scores(values, times, without)
    assert max(s for s, y in zip(blind, inside, strict=True) if y) < 0.5


def test_cli_prints_one_score_per_row_as_in_process() -> None:
    path = NAB / "data" / JUMPS
    done = subprocess.run(
        [str(FARMWATCH), "analytics", "nab-detector", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "anomaly_score"
    printed = [float(v) for v in lines[1:]]
    times, values = read_nab_csv(path)
    assert len(printed) == len(values)
    assert all(0.0 <= s <= 1.0 for s in printed)
    expected = nab_scores(values, times)
    assert max(abs(a - b) for a, b in zip(printed, expected, strict=True)) < 1e-9
    assert printed[0] == NEUTRAL_SCORE


def test_nab_scorer_accepts_the_cli_and_finds_the_jump(tmp_path: Path) -> None:
    """NAB's own scorer, running our command: the one labelled window must be detected."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SHARED / "tools" / "nab_score.py"),
            "run",
            "--nab",
            str(NAB),
            "--files",
            JUMPS,
            "--name",
            "farmwatch",
            "--cmd",
            f"{FARMWATCH} analytics nab-detector {{path}}",
            "-j",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    standard = json.loads(out.read_text(encoding="utf-8"))["profiles"]["standard"]
    assert standard["windows_detected"] == 1
    assert standard["FP_rows"] <= 2
    assert standard["nab_score"] > 70.0


def test_bench_on_a_subset_reports_in_the_agreed_format() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "nab.py"),
            "--files",
            "6",
            "--variants",
            "ensemble",
            "windowed_gaussian",
            "-j",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["files"] == 6
    for key in ("nab_standard", "nab_low_fp", "nab_low_fn"):
        assert isinstance(figures[key], float)
        assert -100.0 <= figures[key] <= 100.0
    assert figures["rows_per_s"] > 0
    # On these six files the ensemble beats NAB's Windowed Gaussian: each part earns its keep.
    assert figures["nab_standard"] > figures["windowed_gaussian_nab_standard"] + 5.0
