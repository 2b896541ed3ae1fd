"""Run the general-purpose detector on a Numenta Anomaly Benchmark data file.

NAB data files are ``timestamp,value`` CSVs; a NAB detector prints one score in [0, 1] per data
row. ``farmwatch analytics nab-detector FILE.csv`` does exactly that, so anyone can score our
detector with NAB's scorer (``../shared/tools/nab_score.py run --cmd ...``); ``bench/nab.py``
calls :func:`nab_scores` in-process for speed. The detector is strictly streaming: row *i*'s
score is computed before row *i* is learned and never looks at later rows or at the labels.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from farmwatch_analytics.detectors.base import Detector, score_stream
from farmwatch_analytics.detectors.ensemble import EnsembleDetector

__all__ = ["build_nab_detector", "nab_scores", "read_nab_csv", "write_scores"]


def build_nab_detector() -> Detector:
    """The one configuration used on the whole corpus (no per-file tuning)."""
    return EnsembleDetector()


def read_nab_csv(path: Path) -> tuple[list[float], list[float]]:
    """Times (epoch seconds, UTC: NAB timestamps are naive and taken as UTC) and values."""
    times: list[float] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected a NAB data file with header 'timestamp,value'")
        for row in rows:
            if not row:
                continue
            stamp = datetime.fromisoformat(row[0].strip())
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            times.append(stamp.timestamp())
            values.append(float(row[1]))
    return times, values


def nab_scores(
    values: Sequence[float],
    times: Sequence[float] | None = None,
    factory: Callable[[], Detector] = build_nab_detector,
) -> list[float]:
    """Score a whole series with a fresh detector, one row at a time."""
    return score_stream(factory(), values, times)


def write_scores(scores: Sequence[float], out: TextIO) -> None:
    """One header line, then one score per row, with enough digits to keep ties apart."""
    out.write("anomaly_score\n")
    out.writelines(f"{s:.12g}\n" for s in scores)
