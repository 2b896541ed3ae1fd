"""The report as one self-contained HTML page (Jinja2 template, charts inline as SVG images).

The template gets numbers already formatted for the reader's language (the formatting rules
live in :mod:`.i18n`, not in the template), so the HTML, the PDF rendered from it and the
summary JSON say the same thing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from farmwatch_core.registry import ModelType

from farmwatch.reports import charts
from farmwatch.reports.collect import ANOMALY_ALARM, ANOMALY_ALERTS
from farmwatch.reports.i18n import label, local_time, number, percent, strings, unit
from farmwatch.reports.model import FarmSummary, MonthlyReport, NodeSummary, SubjectSummary

__all__ = ["KEY_SUBJECTS", "render_html"]

#: The indicator each model type is judged by, charted per farm: the first of these it has data
#: for (the plan's list: DO for ponds, THI for barns, VPD for greenhouses, soil water for fields
#: and orchards; free chlorine for clean-water stations, QCVN 01-1:2018/BYT; COD for effluent).
KEY_SUBJECTS: dict[ModelType, tuple[str, ...]] = {
    ModelType.AQUACULTURE_POND: ("dissolved_oxygen",),
    ModelType.PIG_BARN: ("thi_pig",),
    ModelType.POULTRY_HOUSE: ("thi_poultry",),
    ModelType.GREENHOUSE: ("vpd",),
    ModelType.RICE_FIELD: ("soil_water_depletion", "soil_moisture"),
    ModelType.ORCHARD: ("soil_water_depletion", "soil_moisture"),
    ModelType.CLEAN_WATER_STATION: ("free_chlorine", "turbidity", "tank_level"),
    ModelType.EFFLUENT_STATION: ("cod", "ammonium"),
}
#: Units of a month's sum of daily values (the daily values are per day: mm/d, h/d...).
TOTAL_UNITS = {
    "gdd": "°C·d",
    "et0_hargreaves": "mm",
    "et0_penman_monteith": "mm",
    "leaf_wetness_hours": "h",
}
WORST_EPISODES = 5  # longest excursions listed per farm
ALERT_ROWS = 15  # alert episodes listed per farm


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _limit_text(subject: SubjectSummary, lang: str) -> str:
    parts = []
    for limit in subject.limits:
        sides = []
        if limit.below is not None:
            sides.append(f"< {number(limit.below, lang, 2).rstrip('0').rstrip(',.')}")
        if limit.above is not None:
            sides.append(f"> {number(limit.above, lang, 2).rstrip('0').rstrip(',.')}")
        parts.append(f"{strings(lang)['severity_' + limit.severity.value]}: {' / '.join(sides)}")
    return "; ".join(parts)


def _node_rows(node: NodeSummary, lang: str, t: dict[str, str]) -> dict[str, Any]:
    minutes = node.interval.total_seconds() / 60
    return {
        "node": node.node_id,
        "interval": f"{number(minutes, lang, 0)} min"
        + (f" {t['interval_assumed']}" if node.interval_assumed else ""),
        "slots": f"{node.coverage.slots:,}".replace(",", "." if lang == "vi" else ","),
        "slots_with_data": f"{node.coverage.slots_with_data:,}".replace(
            ",", "." if lang == "vi" else ","
        ),
        "uptime": percent(node.coverage.uptime, lang),
        "expected": number(node.coverage.readings_expected, lang, 0),
        "received": number(node.coverage.readings_received, lang, 0),
        "completeness": percent(node.coverage.completeness, lang),
    }


def _subject_row(node: NodeSummary, s: SubjectSummary, lang: str) -> dict[str, Any]:
    symbol = unit(s.subject)
    return {
        "node": node.node_id,
        "subject": label(s.subject, lang) + (f" ({symbol})" if symbol else ""),
        "computed": s.computed,
        "limit": _limit_text(s, lang),
        "sources": "; ".join(limit.source for limit in s.limits),
        "mean": number(s.mean, lang, 2),
        "min": number(s.minimum, lang, 2),
        "max": number(s.maximum, lang, 2),
        "hours_below": number(s.minutes_below / 60, lang, 1),
        "hours_above": number(s.minutes_above / 60, lang, 1),
        "warning": s.count("warning"),
        "critical": s.count("critical"),
    }


def _farm(farm: FarmSummary, report: MonthlyReport, lang: str) -> dict[str, Any]:
    t = strings(lang)
    title = farm.profile.title.vi if farm.profile and lang == "vi" else None
    title = title or (farm.profile.title.en if farm.profile else farm.farm.model.value)
    subjects = [(n, s) for n in farm.nodes for s in n.subjects]
    episodes = sorted(
        ((n, s, e) for n, s in subjects for e in s.episodes),
        key=lambda item: item[2].duration,
        reverse=True,
    )[:WORST_EPISODES]
    chart_svgs = []
    for subject in KEY_SUBJECTS.get(farm.farm.model, ()):
        svg = charts.indicator_chart(farm, subject, lang)
        if svg is not None:
            chart_svgs.append(_data_uri(svg))
            break
    ack = farm.alerts.ack
    alerts = []
    for alert in farm.alerts.alerts[:ALERT_ROWS]:
        wait = (
            (alert.acknowledged_at - alert.fired_at).total_seconds() / 60
            if alert.acknowledged_at is not None and alert.fired_at is not None
            else None
        )
        alerts.append(
            {
                "name": alert.name,
                "severity": t["severity_" + alert.severity.value],
                "node": alert.labels.get("node", ""),
                "subject": label(alert.labels.get("quantity", ""), lang)
                if alert.labels.get("quantity")
                else "",
                "fired_at": local_time(alert.fired_at or alert.starts_at, lang),
                "acked_at": local_time(alert.acknowledged_at, lang),
                "acked_by": alert.acknowledged_by or "—",
                "minutes": number(wait, lang, 1),
            }
        )
    wanted = set(farm.profile.indicators) if farm.profile else set()
    totals = [
        {"node": n.node_id, "subject": label(name, lang), "value": number(v, lang, 1),
         "unit": TOTAL_UNITS.get(name, "")}
        for n in farm.nodes for name, v in sorted(n.totals.items()) if name in wanted
    ]  # fmt: skip
    return {
        "id": farm.farm.id,
        "name": farm.farm.name,
        "model": title,
        "district": farm.farm.district or "—",
        "nodes": [_node_rows(n, lang, t) for n in farm.nodes],
        "uptime": percent(farm.uptime, lang),
        "completeness": percent(farm.completeness, lang),
        "subjects": [_subject_row(n, s, lang) for n, s in subjects],
        "totals": totals,
        "episodes": [
            {
                "node": n.node_id,
                "subject": label(s.subject, lang),
                "severity": t["severity_" + e.severity.value],
                "start": local_time(e.start, lang),
                "end": local_time(e.end, lang),
                "hours": number(e.duration.total_seconds() / 3600, lang, 1),
                "worst": number(e.worst, lang, 2),
            }
            for n, s, e in episodes
        ],
        "charts": chart_svgs,
        "alert_count": len(farm.alerts.alerts),
        "fired": ack.fired,
        "acknowledged": ack.acknowledged,
        "median_ack": number(ack.median_minutes, lang, 1),
        "within_target": percent(ack.share_within_target, lang),
        "alerts": alerts,
        "excursions_warning": farm.excursions("warning"),
        "excursions_critical": farm.excursions("critical"),
        "anomalies": [
            {"node": n.node_id, "subject": label(name, lang), "episodes": count}
            for n in farm.nodes
            for name, count in sorted(n.anomaly_episodes.items())
        ],
        "anomaly_total": farm.anomalies,
        "anomaly_alerts": sum(farm.alerts.by_name.get(name, 0) for name in ANOMALY_ALERTS),
    }


def _feedback(report: MonthlyReport, t: dict[str, str]) -> dict[str, Any]:
    """The short "farmers' answers" part of the alerts section (docs/feedback.md)."""
    said = report.feedback
    answers = sum(said.values())
    text = (
        t["feedback_counts"].format(
            answers=answers,
            useful=said.get("useful", 0),
            false_alarm=said.get("false_alarm", 0),
            too_late=said.get("too_late", 0),
        )
        if answers
        else t["feedback_none"]
    )
    return {"text": text, "url": report.feedback_url}


def render_html(
    report: MonthlyReport,
    lang: str = "vi",
    progress: Callable[[str], None] | None = None,
) -> str:
    """The whole report as HTML in ``lang`` (``vi`` or ``en``)."""
    import jinja2

    t = strings(lang)
    say = progress or (lambda _text: None)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("farmwatch.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,  # a missing word is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    farms = []
    for farm in report.farms:
        say(f"  charts and tables: {farm.farm.id}")
        farms.append(_farm(farm, report, lang))
    scope = report.scope
    context = {
        "lang": lang,
        "t": t,
        "title": t["title"].format(period=report.period),
        "scope_kind": t["scope_" + scope.kind],
        "scope_name": scope.name,
        "scope_id": scope.id,
        "period": f"{local_time(report.start, lang)} – {local_time(report.end, lang)}",
        "generated": local_time(report.generated_at, lang),
        "farm_count": len(report.farms),
        "node_count": sum(len(f.nodes) for f in report.farms),
        "farms": farms,
        "uptime_chart": _data_uri(charts.uptime_chart(report, lang)),
        "comparison": scope.compares,
        "comparison_chart": _data_uri(charts.comparison_chart(report, lang))
        if scope.compares
        else None,
        "alerts_note": t["alerts_note"].format(target=number(report.target_minutes, lang, 0)),
        "anomalies_note": t["anomalies_note"].format(threshold=number(ANOMALY_ALARM, lang, 1)),
        "feedback": _feedback(report, t),
    }
    return env.get_template("report.html.j2").render(context)
