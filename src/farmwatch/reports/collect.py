"""Data collection for a monthly report: the store, one node-month at a time, and the alerts.

Each node's month is read one day at a time (as the exports do), summarised, and dropped before
the next node is read: memory is one node-month, whatever the size of the district. What is kept
per node is its coverage, its indicators' statistics and excursions, hourly means for the charts
and its anomaly episodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from farmwatch_alerting.alert import Alert
from farmwatch_analytics.engine import ANOMALY_ALARM  # the engine's own episode threshold
from farmwatch_analytics.model_profiles import Limit, ModelProfile, ProfileError, profile_for_model
from farmwatch_core.contract import Record
from farmwatch_core.contract.candidates import Severity
from farmwatch_core.registry import Deployment, Farm

from farmwatch.reports.compute import ack_stats, computed_indicators, coverage, infer_interval
from farmwatch.reports.excursions import DEFAULT_MAX_GAP, excursions, merged_seconds
from farmwatch.reports.model import (
    AlertSummary,
    FarmSummary,
    MonthlyReport,
    NodeSummary,
    Scope,
    SubjectSummary,
)

__all__ = ["ANOMALY_ALARM", "RecordSource", "collect_report", "farm_alerts", "resolve_scope"]

CHUNK = timedelta(days=1)  # one store query per node-day, like the exports
DEFAULT_INTERVAL = timedelta(minutes=5)  # farmwatch's default reporting interval (edge, simulators)
#: Daily indicators (filed once a day by analytics) whose month makes sense as a sum.
SUMMED_DAILY = ("gdd", "et0_hargreaves", "et0_penman_monteith", "leaf_wetness_hours")
#: Alert names that come from anomaly or sensor-fault detection (alerting's candidate names).
ANOMALY_ALERTS = frozenset({"ProcessAnomaly", "SensorFault"})

Progress = Callable[[str], None]


class RecordSource(Protocol):
    def records(
        self, farm_id: str, node_id: str, start: datetime, end: datetime
    ) -> Sequence[Record]: ...


def resolve_scope(
    deployment: Deployment,
    farm: str | None = None,
    cooperative: str | None = None,
    district: str | None = None,
) -> Scope:
    """The farms a report covers; a clear error (with what exists) when nothing matches."""
    if farm is not None:
        found = deployment.farm(farm)
        if found is None:
            raise ValueError(f"no farm {farm!r} in the registry")
        return Scope("farm", found.id, found.name, (found,))
    if cooperative is not None:
        farms = tuple(f for f in deployment.farms if f.cooperative == cooperative)
        if not farms:
            known = sorted({c.id for c in deployment.cooperatives})
            raise ValueError(f"no farm belongs to cooperative {cooperative!r}; known: {known}")
        names = {c.id: c.name for c in deployment.cooperatives}
        return Scope("cooperative", cooperative, names.get(cooperative, cooperative), farms)
    if district is not None:
        farms = tuple(f for f in deployment.farms if f.district == district)
        if not farms:
            known = sorted({f.district for f in deployment.farms if f.district})
            raise ValueError(f"no farm in district {district!r}; known: {known}")
        return Scope("district", district, district, farms)
    raise ValueError("give --farm, --cooperative or --district")


def _profile(farm: Farm) -> ModelProfile | None:
    try:
        return profile_for_model(farm.model)
    except ProfileError:
        return None


def _node_month(
    store: RecordSource, farm_id: str, node_id: str, start: datetime, end: datetime
) -> list[Record]:
    out: list[Record] = []
    day = start
    while day < end:
        upto = min(day + CHUNK, end)
        out.extend(store.records(farm_id, node_id, day, upto))
        day = upto
    return out


def _direction_minutes(
    found: Iterable[tuple[Limit, datetime, datetime, float]],
) -> tuple[float, float]:
    """Minutes beyond a lower and an upper limit (overlapping episodes counted once)."""
    below: list[tuple[datetime, datetime]] = []
    above: list[tuple[datetime, datetime]] = []
    for limit, start, end, worst in found:
        low = limit.below is not None and worst < limit.below
        (below if low else above).append((start, end))
    return merged_seconds(below) / 60, merged_seconds(above) / 60


def _subject(
    name: str,
    limits: Sequence[Limit],
    stream: list[tuple[datetime, float]],
    computed: bool,
    max_gap: timedelta,
) -> SubjectSummary:
    summary = SubjectSummary(name, tuple(limits), computed, readings=len(stream))
    if not stream:
        return summary
    values = [v for _, v in stream]
    summary.mean = math.fsum(values) / len(values)
    summary.minimum, summary.maximum = min(values), max(values)
    found = excursions(stream, limits, max_gap)
    summary.episodes = found.episodes
    summary.by_severity = {
        severity.value: (total.count, total.seconds_outside / 60)
        for severity, total in found.by_severity.items()
    }
    summary.minutes_below, summary.minutes_above = _direction_minutes(
        (e.limit, e.start, e.end, e.worst) for e in found.episodes
    )
    hours: dict[datetime, list[float]] = {}
    for ts, value in stream:
        hours.setdefault(ts.replace(minute=0, second=0, microsecond=0), []).append(value)
    summary.hourly = [(hour, math.fsum(v) / len(v)) for hour, v in hours.items()]
    return summary


def summarise_node(
    farm: Farm,
    node_id: str,
    sensors: Sequence[str],
    profile: ModelProfile | None,
    records: Sequence[Record],
    start: datetime,
    end: datetime,
    fallback_interval: timedelta,
) -> NodeSummary:
    """One node's month from its records (time-ordered), without touching any store.

    ``records`` may run one day past ``end``: daily indicators (GDD, ET0, leaf wetness) are
    filed with the first record of the following local day, so a value at ``ts`` describes the
    day before and is counted when that day is in the period. Everything else uses only the
    records before ``end``.
    """
    daily_sums = [r for r in records if start <= r.ts - CHUNK < end]
    records = [r for r in records if r.ts < end]
    inferred = infer_interval([r.ts for r in records])
    interval = inferred or fallback_interval
    cover = coverage(((r.ts, r.readings.keys()) for r in records), start, end, interval, sensors)
    node = NodeSummary(
        farm.id, node_id, tuple(sensors), interval, inferred is None, cover, len(records)
    )
    limits = dict(profile.limits) if profile is not None else {}
    streams: dict[str, list[tuple[datetime, float]]] = {name: [] for name in limits}
    computed: set[str] = set()
    anomaly: dict[str, list[tuple[datetime, float]]] = {}
    for record in records:
        readings = record.readings
        extra = computed_indicators(readings, limits)
        computed.update(extra)
        for name in limits:
            value = readings.get(name, extra.get(name))
            if value is not None:
                streams[name].append((record.ts, value))
        for name, value in readings.items():
            if name.startswith("anomaly_"):
                anomaly.setdefault(name, []).append((record.ts, value))
    for record in daily_sums:
        for name in SUMMED_DAILY:
            value = record.readings.get(name)
            if value is not None:
                node.totals[name] = node.totals.get(name, 0.0) + value
    max_gap = max(DEFAULT_MAX_GAP, 3 * interval)
    node.subjects = [
        _subject(name, limits[name], streams[name], name in computed, max_gap)
        for name in limits
        if streams[name]
    ]
    alarm = [Limit(severity=Severity.INFO, above=ANOMALY_ALARM, source="analytics alarm")]
    for name, stream in sorted(anomaly.items()):
        count = excursions(stream, alarm, max_gap).count
        if count:
            node.anomaly_episodes[name.removeprefix("anomaly_")] = count
    return node


def farm_alerts(alerts: Iterable[Alert], target_minutes: float) -> AlertSummary:
    """A farm's alert episodes: counts, and minutes to acknowledge as the exports compute them
    (from when it fired, or started if it never fired, to the acknowledgement)."""
    chosen = list(alerts)
    minutes: list[float | None] = []
    by_severity: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for alert in chosen:
        by_severity[alert.severity.value] = by_severity.get(alert.severity.value, 0) + 1
        by_name[alert.name] = by_name.get(alert.name, 0) + 1
        if alert.fired_at is None:
            continue  # never fired: nobody was told, nothing to answer
        acked = alert.acknowledged_at
        minutes.append(None if acked is None else (acked - alert.fired_at).total_seconds() / 60)
    return AlertSummary(chosen, ack_stats(minutes, target_minutes), by_severity, by_name)


def _alerts_by_farm(
    alerts_db: Path | None, start: datetime, end: datetime
) -> dict[str, list[Alert]]:
    if alerts_db is None or not alerts_db.exists():
        return {}
    from farmwatch_alerting.store import AlertStore

    store = AlertStore(alerts_db)
    try:
        episodes = store.episodes_between(start, end)
    finally:
        store.close()
    out: dict[str, list[Alert]] = {}
    for _, alert in episodes:
        out.setdefault(alert.labels.get("farm", ""), []).append(alert)
    return out


def _feedback(
    alerts_db: Path | None, scope: Scope, period: str, start: datetime, end: datetime,
    public_url: str | None,
) -> tuple[dict[str, int], str | None]:  # fmt: skip
    """Farmers' answers about the scope's alerts of the period, and the report's signed
    "was this report useful?" link (the key lives in the alert store the API reads)."""
    if alerts_db is None or not alerts_db.exists():
        return {}, None
    from urllib.parse import quote

    from farmwatch_alerting.feedback import report_ref
    from farmwatch_alerting.store import AlertStore

    farms = {farm.id for farm in scope.farms}
    counts: dict[str, int] = {}
    store = AlertStore(alerts_db)
    try:
        for said, alert in store.answered_between(start, end):
            if alert.labels.get("farm") in farms:
                counts[said.answer.value] = counts.get(said.answer.value, 0) + 1
        url = None
        if public_url:
            ref = report_ref(store.signing_key(), scope.kind, scope.id, period)
            url = f"{public_url.rstrip('/')}/feedback/report/{quote(ref, safe='~')}"
    finally:
        store.close()
    return counts, url


def collect_report(
    store: RecordSource,
    scope: Scope,
    period: str,
    start: datetime,
    end: datetime,
    generated_at: datetime,
    alerts_db: Path | None = None,
    target_minutes: float = 30.0,
    progress: Progress | None = None,
    public_url: str | None = None,
) -> MonthlyReport:
    """Everything a report says about ``scope`` in ``[start, end)``."""
    say = progress or (lambda _text: None)
    alerts = _alerts_by_farm(alerts_db, start, end)
    farms: list[FarmSummary] = []
    for farm in scope.farms:
        profile = _profile(farm)
        nodes: list[NodeSummary] = []
        fallback = DEFAULT_INTERVAL
        for node in farm.nodes:
            # One more day: the first records of the next local day carry the last day's
            # daily indicators (analytics files a day's values when the day rolls over).
            records = _node_month(store, farm.id, node.id, start, end + CHUNK)
            sensors = node.sensors or (profile.sensors if profile is not None else ())
            summary = summarise_node(farm, node.id, sensors, profile, records, start, end, fallback)
            if not summary.interval_assumed:
                fallback = summary.interval  # a silent node is assumed to be like its neighbour
            nodes.append(summary)
            say(
                f"  {farm.id} / {node.id}: {len(records):,} records, "
                f"uptime {summary.coverage.uptime:.1%}"
            )
        farm_summary = FarmSummary(
            farm, profile, nodes, farm_alerts(alerts.get(farm.id, []), target_minutes)
        )
        farms.append(farm_summary)
    feedback, feedback_url = _feedback(alerts_db, scope, period, start, end, public_url)
    return MonthlyReport(
        scope, period, start, end, generated_at, target_minutes, farms, feedback, feedback_url
    )
