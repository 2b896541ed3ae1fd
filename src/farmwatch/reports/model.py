"""What a monthly report says, as plain data: filled by :mod:`.collect`, drawn by :mod:`.charts`,
written by :mod:`.html` and :mod:`.summary`. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from farmwatch_alerting.alert import Alert
from farmwatch_analytics.model_profiles import Limit, ModelProfile
from farmwatch_core.registry import Farm

from farmwatch.reports.compute import AckStats, Coverage
from farmwatch.reports.excursions import Excursion

__all__ = [
    "AlertSummary",
    "FarmSummary",
    "MonthlyReport",
    "NodeSummary",
    "Scope",
    "SubjectSummary",
]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a report covers: one farm, a cooperative's farms or a district's farms."""

    kind: str  # "farm" | "cooperative" | "district"
    id: str
    name: str
    farms: tuple[Farm, ...]

    @property
    def compares(self) -> bool:
        """Whether the report has a comparison across farms (more than one farm)."""
        return len(self.farms) > 1


@dataclass(slots=True)
class SubjectSummary:
    """One node's quantity or indicator against its limits over the period."""

    subject: str
    limits: tuple[Limit, ...]
    computed: bool  # True: derived here from readings, not stored by analytics
    readings: int = 0
    mean: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    episodes: tuple[Excursion, ...] = ()
    minutes_below: float = 0.0  # beyond a lower limit (any severity; merged, not summed)
    minutes_above: float = 0.0
    by_severity: dict[str, tuple[int, float]] = field(default_factory=dict)  # count, minutes
    hourly: list[tuple[datetime, float]] = field(default_factory=list)  # for charts

    def count(self, severity: str) -> int:
        return self.by_severity.get(severity, (0, 0.0))[0]


@dataclass(slots=True)
class NodeSummary:
    """One node's month: how much data arrived, its indicators, its anomaly episodes."""

    farm_id: str
    node_id: str
    sensors: tuple[str, ...]
    interval: timedelta
    interval_assumed: bool  # no data to read it from: the farm's or the default
    coverage: Coverage
    records: int
    subjects: list[SubjectSummary] = field(default_factory=list)
    anomaly_episodes: dict[str, int] = field(default_factory=dict)  # subject -> episodes
    totals: dict[str, float] = field(default_factory=dict)  # daily indicators summed (GDD, ET0)

    @property
    def anomalies(self) -> int:
        return sum(self.anomaly_episodes.values())


@dataclass(slots=True)
class AlertSummary:
    """A farm's alert episodes that started in the period, and how fast people answered."""

    alerts: list[Alert]
    ack: AckStats
    by_severity: dict[str, int]
    by_name: dict[str, int]


@dataclass(slots=True)
class FarmSummary:
    farm: Farm
    profile: ModelProfile | None
    nodes: list[NodeSummary]
    alerts: AlertSummary

    @property
    def uptime(self) -> float:
        """Slots with data over slots, pooled over the farm's nodes."""
        slots = sum(n.coverage.slots for n in self.nodes)
        return sum(n.coverage.slots_with_data for n in self.nodes) / slots if slots else 0.0

    @property
    def completeness(self) -> float:
        expected = sum(n.coverage.readings_expected for n in self.nodes)
        received = sum(n.coverage.readings_received for n in self.nodes)
        return received / expected if expected else 0.0

    def excursions(self, severity: str) -> int:
        return sum(s.count(severity) for n in self.nodes for s in n.subjects)

    @property
    def anomalies(self) -> int:
        return sum(n.anomalies for n in self.nodes)


@dataclass(slots=True)
class MonthlyReport:
    scope: Scope
    period: str  # YYYY-MM
    start: datetime  # UTC, the month's local midnight
    end: datetime
    generated_at: datetime
    target_minutes: float
    farms: list[FarmSummary]
    # "Was this useful?" (docs/feedback.md): answers about the scope's alerts of the period by
    # answer, and the signed link asking whether this report was useful (None: no alert store).
    feedback: dict[str, int] = field(default_factory=dict)
    feedback_url: str | None = None
