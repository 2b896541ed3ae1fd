"""The province plan's programme indicators, per district: what a provincial report counts.

For each district: the farms registered, how many are model farms ("mô hình điểm"), how many
have digital monitoring online (a node that reported within ``online_within``), the cooperatives
covered, the share of critical alerts acknowledged within the target time (the plan's
"alerts handled within target time"), and farmers' satisfaction: the share of "useful" among
their answers to "was this useful?" about alerts and farm reports (docs/feedback.md; per
commune with ``farmwatch feedback summary``). Computed from the registry, the store's latest
readings and the alert store; the report is a table (CSV) that officers paste into their own
templates, and a chart of the same numbers (PNG or SVG) for slides and printed reports.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmwatch_alerting.alert import Alert, Severity
from farmwatch_core.registry import Deployment

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CHART_TEXT",
    "DistrictRow",
    "programme_chart",
    "programme_indicators",
    "write_programme_chart",
    "write_programme_csv",
]


@dataclass(frozen=True, slots=True)
class DistrictRow:
    district: str
    farms: int
    model_farms: int
    farms_online: int
    cooperatives: int
    critical_alerts: int
    handled_in_time: int
    answers: int = 0  # "was this useful?" answers about the district's farms
    useful_answers: int = 0

    @property
    def online_share(self) -> float:
        return self.farms_online / self.farms if self.farms else 0.0

    @property
    def handled_share(self) -> float | None:
        return self.handled_in_time / self.critical_alerts if self.critical_alerts else None

    @property
    def satisfaction(self) -> float | None:
        """Share of useful answers; None without answers (not 0 %)."""
        return self.useful_answers / self.answers if self.answers else None


def programme_indicators(
    deployment: Deployment,
    latest: Iterable[Any],  # rows with farm_id, node_id, ts (the store's latest readings)
    alerts: Iterable[Alert],
    now: datetime,
    online_within: timedelta = timedelta(hours=1),
    target: timedelta = timedelta(minutes=30),
    feedback: Iterable[tuple[str, bool]] = (),
) -> list[DistrictRow]:
    """One row per district (farms without one are counted under "—"), sorted by name.

    ``feedback``: (farm id, useful?) per answer (:func:`farmwatch.feedback_cli.farm_answers`
    reads them from the alert store)."""
    seen: dict[str, datetime] = {}
    for row in latest:
        if row.ts > seen.get(row.farm_id, datetime.min.replace(tzinfo=row.ts.tzinfo)):
            seen[row.farm_id] = row.ts
    district_of = {farm.id: farm.district or "—" for farm in deployment.farms}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, 0])
    coops: dict[str, set[str]] = defaultdict(set)
    for farm in deployment.farms:
        c = counts[district_of[farm.id]]
        c[0] += 1
        c[1] += farm.model_farm
        c[2] += farm.id in seen and now - seen[farm.id] <= online_within
        if farm.cooperative:
            coops[district_of[farm.id]].add(farm.cooperative)
    for alert in alerts:
        district = district_of.get(alert.labels.get("farm", ""))
        if district is None or alert.severity is not Severity.CRITICAL or alert.fired_at is None:
            continue
        c = counts[district]
        c[3] += 1
        acked = alert.acknowledged_at
        c[4] += acked is not None and acked - alert.fired_at <= target
    for farm_id, useful in feedback:
        district = district_of.get(farm_id)
        if district is not None:
            counts[district][5] += 1
            counts[district][6] += useful
    return [
        DistrictRow(name, c[0], c[1], c[2], len(coops[name]), c[3], c[4], c[5], c[6])
        for name, c in sorted(counts.items())
    ]


def write_programme_csv(rows: Sequence[DistrictRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "district",
                "farms",
                "model_farms",
                "farms_online",
                "online_share",
                "cooperatives",
                "critical_alerts",
                "handled_in_time",
                "handled_share",
                "feedback_answers",
                "satisfaction",
            ]
        )
        for r in rows:
            handled = "" if r.handled_share is None else f"{r.handled_share:.2f}"
            satisfied = "" if r.satisfaction is None else f"{r.satisfaction:.2f}"
            writer.writerow(
                [
                    r.district,
                    r.farms,
                    r.model_farms,
                    r.farms_online,
                    f"{r.online_share:.2f}",
                    r.cooperatives,
                    r.critical_alerts,
                    r.handled_in_time,
                    handled,
                    r.answers,
                    satisfied,
                ]
            )


#: The chart's words; Vietnamese by default, English for the province's partners.
CHART_TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Chỉ tiêu chương trình theo huyện",
        "counts": "Số lượng",
        "shares": "Tỷ lệ (%)",
        "farms": "Trang trại",
        "model_farms": "Mô hình điểm",
        "farms_online": "Giám sát số trực tuyến",
        "cooperatives": "HTX",
        "online_share": "% trực tuyến",
        "handled_share": "% cảnh báo xử lý kịp thời",
        "satisfaction": "% nông dân thấy hữu ích",
        "no_alerts": "không có cảnh báo nghiêm trọng",
        "no_answers": "chưa có góp ý",
    },
    "en": {
        "title": "Programme indicators per district",
        "counts": "Count",
        "shares": "Share (%)",
        "farms": "Farms",
        "model_farms": "Model farms",
        "farms_online": "Digital monitoring online",
        "cooperatives": "Cooperatives",
        "online_share": "% online",
        "handled_share": "% critical alerts handled in time",
        "satisfaction": "% farmers' answers: useful",
        "no_alerts": "no critical alerts",
        "no_answers": "no answers yet",
    },
}
COUNT_BARS = ("farms", "model_farms", "farms_online", "cooperatives")
SHARE_BARS = ("online_share", "handled_share", "satisfaction")


def programme_chart(rows: Sequence[DistrictRow], lang: str = "vi") -> Figure:
    """Grouped bars per district: the counts on the left, the three shares (%) on the right.

    Each bar carries its metric and district as its ``gid`` (``farms|Cẩm Giàng``), which ends up
    as the element id in an SVG, so a reader (or a test) can find which bar is which. A district
    without critical alerts has no "handled in time" bar (no share, not 0 %: the table leaves
    that cell empty too) and says so under the bar group; so does one without feedback answers
    (no satisfaction bar).
    """
    from matplotlib.figure import Figure

    text = CHART_TEXT.get(lang, CHART_TEXT["vi"])
    # Figure() without pyplot: no global state, no GUI backend, safe in a server thread.
    figure = Figure(figsize=(max(8.0, 1.6 * len(rows) + 4), 4.8), layout="constrained")
    counts, shares = figure.subplots(1, 2, width_ratios=(2, 1))
    names = [r.district for r in rows]
    for axes, metrics, width in ((counts, COUNT_BARS, 0.2), (shares, SHARE_BARS, 0.27)):
        for i, metric in enumerate(metrics):
            offset = (i - (len(metrics) - 1) / 2) * width
            for j, row in enumerate(rows):
                value = getattr(row, metric)
                if value is None:
                    axes.text(
                        j + offset, 2,
                        text["no_alerts" if metric == "handled_share" else "no_answers"],
                        rotation=90, ha="center",
                        va="bottom", fontsize=7, color="0.4",
                    )  # fmt: skip
                    continue
                height = 100 * value if metric in SHARE_BARS else value
                (bar,) = axes.bar(
                    j + offset, height, width, color=f"C{i}", label=text[metric] if j == 0 else None
                )
                bar.set_gid(f"{metric}|{row.district}")
                axes.annotate(
                    f"{height:.0f}", (j + offset, height), ha="center", va="bottom", fontsize=7
                )
        axes.set_xticks(range(len(rows)), names, rotation=20, ha="right")
        axes.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.01), ncols=2, frameon=False)
    counts.set_ylabel(text["counts"])
    counts.yaxis.get_major_locator().set_params(integer=True)
    counts.set_ylim(0, 1.12 * max((r.farms for r in rows), default=1) or 1)
    shares.set_ylabel(text["shares"])
    shares.set_ylim(0, 110)
    figure.suptitle(text["title"])
    return figure


def write_programme_chart(rows: Sequence[DistrictRow], path: Path, lang: str = "vi") -> None:
    """The chart as PNG or SVG (by ``path``'s suffix)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in {"png", "svg"}:
        raise ValueError(f"{path.name}: the chart is written as .png or .svg")
    figure = programme_chart(rows, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    # SVG ids and text stay stable from run to run (no random ids, no dates in the file).
    figure.savefig(path, format=fmt, dpi=150, metadata={"Date": None} if fmt == "svg" else None)
