"""The report's numbers as JSON, beside the HTML and PDF: what a script (or a test) reads.

Raw values, not formatted text: shares as fractions, durations in minutes, times in UTC ISO
8601. Every number in the HTML comes from the same :class:`~.model.MonthlyReport`.
"""

from __future__ import annotations

from typing import Any

from farmwatch.reports.model import FarmSummary, MonthlyReport, NodeSummary

__all__ = ["summary_json"]


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _node(node: NodeSummary) -> dict[str, Any]:
    c = node.coverage
    return {
        "node_id": node.node_id,
        "sensors": list(node.sensors),
        "interval_s": node.interval.total_seconds(),
        "interval_assumed": node.interval_assumed,
        "records": node.records,
        "slots": c.slots,
        "slots_with_data": c.slots_with_data,
        "uptime": c.uptime,
        "readings_expected": c.readings_expected,
        "readings_received": c.readings_received,
        "completeness": c.completeness,
        "subjects": {
            s.subject: {
                "computed": s.computed,
                "readings": s.readings,
                "mean": s.mean,
                "min": s.minimum,
                "max": s.maximum,
                "minutes_below": s.minutes_below,
                "minutes_above": s.minutes_above,
                "excursions": {
                    severity: {"count": count, "minutes": minutes}
                    for severity, (count, minutes) in s.by_severity.items()
                },
                "episodes": [
                    {
                        "severity": e.severity.value,
                        "start": _iso(e.start),
                        "end": _iso(e.end),
                        "worst": e.worst,
                        "limit_below": e.limit.below,
                        "limit_above": e.limit.above,
                        "closed_by": e.closed_by,
                    }
                    for e in s.episodes
                ],
            }
            for s in node.subjects
        },
        "anomaly_episodes": dict(node.anomaly_episodes),
        "totals": dict(node.totals),
    }


def _farm(farm: FarmSummary) -> dict[str, Any]:
    ack = farm.alerts.ack
    return {
        "farm_id": farm.farm.id,
        "name": farm.farm.name,
        "model": farm.farm.model.value,
        "cooperative": farm.farm.cooperative,
        "district": farm.farm.district,
        "uptime": farm.uptime,
        "completeness": farm.completeness,
        "excursions": {
            "warning": farm.excursions("warning"),
            "critical": farm.excursions("critical"),
            "info": farm.excursions("info"),
        },
        "anomaly_episodes": farm.anomalies,
        "alerts": {
            "episodes": len(farm.alerts.alerts),
            "by_severity": farm.alerts.by_severity,
            "by_name": farm.alerts.by_name,
            "fired": ack.fired,
            "acknowledged": ack.acknowledged,
            "within_target": ack.within_target,
            "share_within_target": ack.share_within_target,
            "median_minutes_to_acknowledge": ack.median_minutes,
        },
        "nodes": [_node(n) for n in farm.nodes],
    }


def summary_json(report: MonthlyReport) -> dict[str, Any]:
    """The report as a JSON-able mapping (see the module docstring)."""
    return {
        "period": report.period,
        "start": _iso(report.start),
        "end": _iso(report.end),
        "generated_at": _iso(report.generated_at),
        "scope": {"kind": report.scope.kind, "id": report.scope.id, "name": report.scope.name},
        "target_minutes": report.target_minutes,
        "farms": [_farm(f) for f in report.farms],
    }
