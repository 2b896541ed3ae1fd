"""Build a monthly report: collect, then write the HTML, the PDF and the summary JSON.

One :class:`~.model.MonthlyReport` feeds all three, so they cannot disagree. Files go to
``out_dir`` as ``report-<scope id>-<period>-<lang>.{html,pdf}`` and
``report-<scope id>-<period>.json`` (numbers do not depend on the language).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from farmwatch.reports.collect import RecordSource, collect_report
from farmwatch.reports.compute import month_bounds
from farmwatch.reports.model import MonthlyReport, Scope

__all__ = ["ReportFiles", "build_report", "file_stem"]


@dataclass(frozen=True, slots=True)
class ReportFiles:
    report: MonthlyReport
    summary: Path
    html: dict[str, Path]  # language -> file
    pdf: dict[str, Path]


def file_stem(scope: Scope, period: str) -> str:
    """A file name for the scope that works on every file system.

    >>> from farmwatch.reports.model import Scope
    >>> file_stem(Scope("district", "Cẩm Giàng", "Cẩm Giàng", ()), "2026-11")
    'report-district-cam-giang-2026-11'
    """
    import unicodedata

    ascii_id = (
        unicodedata.normalize("NFKD", scope.id.replace("đ", "d").replace("Đ", "D"))
        .encode("ascii", "ignore")
        .decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_id.lower()).strip("-") or "scope"
    prefix = "" if scope.kind == "farm" else f"{scope.kind}-"
    return f"report-{prefix}{slug}-{period}"


def build_report(
    store: RecordSource,
    scope: Scope,
    period: str,
    out_dir: Path,
    *,
    languages: Sequence[str] = ("vi",),
    alerts_db: Path | None = None,
    target_minutes: float = 30.0,
    now: datetime,
    pdf: bool = True,
    progress: Callable[[str], None] | None = None,
    public_url: str | None = None,
) -> ReportFiles:
    """Collect ``scope``'s month from the stores and write its files to ``out_dir``."""
    from farmwatch.reports.html import render_html
    from farmwatch.reports.pdf import write_pdf
    from farmwatch.reports.summary import summary_json

    say = progress or (lambda _text: None)
    start, end = month_bounds(period)
    say(f"report {scope.kind} {scope.id} {period}: reading {len(scope.farms)} farm(s)")
    report = collect_report(  # public_url: where "was this report useful?" points
        store, scope, period, start, end, now, alerts_db, target_minutes, progress=say,
        public_url=public_url,
    )  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(scope, period)
    summary = out_dir / f"{stem}.json"
    summary.write_text(
        json.dumps(summary_json(report), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    say(f"  summary → {summary}")
    html_files: dict[str, Path] = {}
    pdf_files: dict[str, Path] = {}
    for lang in languages:
        html = render_html(report, lang, progress=say)
        html_files[lang] = out_dir / f"{stem}-{lang}.html"
        html_files[lang].write_text(html, encoding="utf-8")
        say(f"  HTML ({lang}) → {html_files[lang]}")
        if pdf:
            say(f"  PDF ({lang}): laying out pages...")
            pdf_files[lang] = write_pdf(html, out_dir / f"{stem}-{lang}.pdf")
            say(f"  PDF ({lang}) → {pdf_files[lang]}")
    return ReportFiles(report, summary, html_files, pdf_files)
