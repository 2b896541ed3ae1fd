"""The report's charts, drawn with matplotlib into SVG text that the HTML embeds.

Every function builds its own ``Figure`` on an explicit Agg canvas: no pyplot, no global
backend switch, nothing done at import. Text is DejaVu Sans (matplotlib ships it, and it has
every Vietnamese letter) written into the SVG as paths, so the page shows the same letters in
any browser and in WeasyPrint's PDF without the reader's fonts.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from farmwatch.reports.i18n import label, strings, unit
from farmwatch.reports.model import FarmSummary, MonthlyReport

__all__ = ["comparison_chart", "indicator_chart", "uptime_chart"]

_STYLE: dict[Any, Any] = {  # rcParams (their stub types every key as a Literal)
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "svg.fonttype": "path",  # letters as outlines: no font needed where the SVG is shown
    "svg.hashsalt": "farmwatch",  # stable ids: the same report gives the same file
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_SEVERITY_COLOURS = {"info": "#6c8ebf", "warning": "#e69f00", "critical": "#c0392b"}
_SERIES_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")


def _svg(draw: Any, size: tuple[float, float]) -> str:
    """Run ``draw(figure)`` on a fresh Agg-backed figure and return it as SVG text."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with mpl.rc_context(_STYLE):
        figure = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(figure)  # explicit backend for this figure only
        draw(figure)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _broken_at_gaps(
    hourly: Sequence[tuple[datetime, float]], gap: timedelta = timedelta(hours=3)
) -> tuple[list[datetime], list[float]]:
    """The series with a NaN wherever data is missing for longer than ``gap``, so the line
    stops at an outage instead of drawing a straight line across it.

    >>> from datetime import UTC
    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> _broken_at_gaps([(t, 1.0), (t + timedelta(hours=1), 2.0), (t + timedelta(hours=9), 3.0)])[1]
    [1.0, 2.0, nan, 3.0]
    """
    times: list[datetime] = []
    values: list[float] = []
    for ts, value in hourly:
        if times and ts - times[-1] > gap:
            times.append(times[-1] + (ts - times[-1]) / 2)
            values.append(math.nan)
        times.append(ts)
        values.append(value)
    return times, values


def uptime_chart(report: MonthlyReport, lang: str) -> str:
    """Uptime and completeness of every node in scope, as horizontal bars (percent)."""
    t = strings(lang)
    nodes = [node for farm in report.farms for node in farm.nodes]
    names = [node.node_id for node in nodes]

    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        rows = range(len(nodes))
        ax.barh(
            [r + 0.2 for r in rows], [100 * n.coverage.uptime for n in nodes], 0.4,
            label=t["uptime"], color="#1f77b4",
        )  # fmt: skip
        ax.barh(
            [r - 0.2 for r in rows], [100 * n.coverage.completeness for n in nodes], 0.4,
            label=t["completeness"], color="#9ecae1",
        )  # fmt: skip
        ax.set_yticks(list(rows), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.legend(loc="lower left", fontsize=7)

    return _svg(draw, (6.5, 0.9 + 0.32 * max(len(nodes), 1)))


def indicator_chart(farm: FarmSummary, subject: str, lang: str) -> str | None:
    """Hourly means of one indicator for each of the farm's nodes, with the profile's limits."""
    t = strings(lang)
    series = [
        (node.node_id, s)
        for node in farm.nodes
        for s in node.subjects
        if s.subject == subject and s.hourly
    ]
    if not series:
        return None
    limits = series[0][1].limits

    def draw(figure: Any) -> None:
        from farmwatch_core.timefmt import DISPLAY_TZ
        from matplotlib.dates import DateFormatter

        ax = figure.add_subplot()
        for i, (node_id, s) in enumerate(series):
            times, values = _broken_at_gaps(s.hourly)
            ax.plot(
                times, values, linewidth=0.8,
                color=_SERIES_COLOURS[i % len(_SERIES_COLOURS)], label=node_id,
            )  # fmt: skip
        for limit in limits:
            for value in (limit.below, limit.above):
                if value is not None:
                    ax.axhline(
                        value, linestyle="--", linewidth=0.9,
                        color=_SEVERITY_COLOURS[limit.severity.value],
                        label=f"{t['severity_' + limit.severity.value]} {value:g}",
                    )  # fmt: skip
        ax.xaxis.set_major_formatter(DateFormatter("%d/%m", tz=DISPLAY_TZ))  # type: ignore[no-untyped-call]
        symbol = unit(subject)
        ax.set_ylabel(f"{label(subject, lang)}{f' ({symbol})' if symbol else ''}")
        ax.set_title(f"{farm.farm.name} — {label(subject, lang)}, {t['chart_hourly']}")
        ax.legend(loc="best", fontsize=6, ncols=2)

    return _svg(draw, (6.5, 2.4))


def comparison_chart(report: MonthlyReport, lang: str) -> str:
    """The farms in scope side by side: uptime, excursions by severity, median time to ack."""
    t = strings(lang)
    farms = report.farms
    names = [f.farm.id for f in farms]

    def bars(ax: Any, values: Sequence[float], title: str, colour: str) -> None:
        ax.bar(names, values, color=colour)
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)

    def draw(figure: Any) -> None:
        up, exc, ack = figure.subplots(1, 3)
        bars(up, [100 * f.uptime for f in farms], t["chart_uptime"], "#1f77b4")
        up.set_ylim(0, 100)
        warning = [f.excursions("warning") for f in farms]
        critical = [f.excursions("critical") for f in farms]
        exc.bar(names, warning, color=_SEVERITY_COLOURS["warning"], label=t["severity_warning"])
        exc.bar(
            names, critical, bottom=warning, color=_SEVERITY_COLOURS["critical"],
            label=t["severity_critical"],
        )  # fmt: skip
        exc.set_title(t["chart_excursions"])
        exc.tick_params(axis="x", labelrotation=45, labelsize=7)
        exc.legend(fontsize=6)
        bars(ack, [f.alerts.ack.median_minutes or 0.0 for f in farms], t["chart_ack"], "#7f7f7f")
        ack.axhline(report.target_minutes, linestyle="--", linewidth=0.9, color="#c0392b")

    return _svg(draw, (7.0, 2.6))
