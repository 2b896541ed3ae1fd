"""Excursions: the episodes during which one node's quantity (or indicator) was beyond a limit.

Monthly reports count them, a traceability record states there were none ("no water-quality
excursion beyond limits during the growing cycle"), so the rule for what makes an episode lives
here once, as pure functions over a time-ordered stream of ``(ts, value)`` for one node and one
subject, and the profile's limits (:class:`farmwatch_analytics.model_profiles.Limit`).

The rules, and why:

* **Each limit is followed on its own.** A pond's DO has a warning limit (below 4.0) and a
  critical one (below 2.3): a dawn at 2.0 mg/L is one warning episode and, inside it, one critical
  episode. So "time outside the warning band" includes the critical time, which is what a reader
  of "time below 4 mg/L" expects. Totals per severity merge overlapping episodes of the same
  severity (two-sided or duplicate limits), so no minute is counted twice.
* **An episode starts** at the first reading beyond the limit and **ends at the first reading
  back within it** — the first time we *know* it was back. The crossing happened somewhere
  between the two readings; counting up to the later one errs on the side of the animals (and
  of the buyer reading a traceability record), never of the farm.
* **A gap ends an episode.** If the next reading comes more than ``max_gap`` after the last one
  beyond the limit, we do not know what happened in between, so we do not claim it: the episode
  ends at its last reading beyond the limit (``closed_by="gap"``), and if the value is still
  beyond the limit after the gap, a new episode starts. Silence is reported as missing data
  (completeness), not as time within or beyond a limit. The same holds at the end of the data
  (``closed_by="end_of_data"``). A single reading beyond a limit followed by a gap is therefore an
  episode of zero duration: it counts as an excursion, it adds no time.
* NaN values are not readings (they are skipped, and do not bridge a gap).

    >>> from datetime import UTC, datetime, timedelta
    >>> from farmwatch_analytics.model_profiles import Limit
    >>> limits = [Limit(severity="warning", below=4.0, source="TCVN 13952:2024 DO ≥ 4.0 mg/L"),
    ...           Limit(severity="critical", below=2.3, source="tilapia minimum 2.3 mg/L")]
    >>> t0 = datetime(2026, 11, 1, 21, tzinfo=UTC)   # 04:00 in Hải Dương
    >>> values = [5.0, 3.8, 2.1, 2.0, 3.5, 4.2, 4.5]  # one reading every 10 minutes
    >>> stream = [(t0 + timedelta(minutes=10 * i), v) for i, v in enumerate(values)]
    >>> found = excursions(stream, limits)
    >>> [(e.severity.value, e.start.strftime("%H:%M"), e.end.strftime("%H:%M"), e.worst)
    ...  for e in found.episodes]
    [('warning', '21:10', '21:50', 2.0), ('critical', '21:20', '21:40', 2.0)]
    >>> found.count, found.minutes_outside("warning"), found.minutes_outside("critical")
    (2, 40.0, 20.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from farmwatch_analytics.model_profiles import Limit
from farmwatch_core.contract.candidates import Severity

__all__ = [
    "DEFAULT_MAX_GAP",
    "Excursion",
    "ExcursionReport",
    "SeverityTotal",
    "excursions",
    "find_excursions",
    "merged_seconds",
    "totals",
]

#: Longest silence inside an episode. The simulated and real nodes report every 5 minutes (or
#: faster); two missed reports in a row (15 min without one) is a gap, not a continuation.
DEFAULT_MAX_GAP = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Excursion:
    """One episode beyond one limit.

    ``end`` is the first reading back within the limit (``closed_by="back_within"``), or the
    last reading beyond it when a gap or the end of the data closed the episode.
    """

    start: datetime
    end: datetime
    worst: float  # the value furthest beyond the limit
    worst_at: datetime
    limit: Limit
    readings: int  # readings beyond the limit in the episode
    closed_by: str  # "back_within" | "gap" | "end_of_data"

    @property
    def severity(self) -> Severity:
        return self.limit.severity

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class SeverityTotal:
    """How many episodes of one severity, and how long the value was beyond its limits."""

    count: int
    seconds_outside: float


@dataclass(frozen=True, slots=True)
class ExcursionReport:
    """Episodes in start order (ties: most severe first) and their totals per severity."""

    episodes: tuple[Excursion, ...]
    by_severity: dict[Severity, SeverityTotal] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.episodes)

    def minutes_outside(self, severity: Severity | str) -> float:
        """Minutes beyond this severity's limits (0 when there was no such episode)."""
        total = self.by_severity.get(Severity(severity))
        return 0.0 if total is None else total.seconds_outside / 60


def _excess(limit: Limit, value: float) -> float:
    """How far ``value`` is beyond ``limit`` (positive when breached)."""
    low = limit.below - value if limit.below is not None else -math.inf
    high = value - limit.above if limit.above is not None else -math.inf
    return max(low, high)


@dataclass(slots=True)
class _Open:
    start: datetime
    last: datetime
    worst: float
    worst_at: datetime
    excess: float
    readings: int

    def close(self, limit: Limit, end: datetime, closed_by: str) -> Excursion:
        return Excursion(
            self.start, end, self.worst, self.worst_at, limit, self.readings, closed_by
        )


def find_excursions(
    readings: Iterable[tuple[datetime, float]],
    limits: Sequence[Limit],
    max_gap: timedelta = DEFAULT_MAX_GAP,
) -> list[Excursion]:
    """Every episode beyond any of ``limits``, in one pass (memory: one open episode per limit).

    ``readings`` must be in time order (equal times are allowed); a step back raises
    ``ValueError`` rather than producing episodes that end before they start.

    >>> from datetime import UTC, datetime, timedelta
    >>> from farmwatch_analytics.model_profiles import Limit
    >>> ph = Limit(severity="warning", below=6.5, above=9.0, source="TCVN 13952:2024 pH 6.5-9.0")
    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> stream = [(t, 9.2), (t + timedelta(minutes=5), 9.4),   # above 9.0 ...
    ...           (t + timedelta(hours=1), 9.3),                # ... 55 min silent: a gap
    ...           (t + timedelta(hours=1, minutes=5), 8.8)]     # back within
    >>> [(e.start.strftime("%H:%M"), e.end.strftime("%H:%M"), e.worst, e.closed_by)
    ...  for e in find_excursions(stream, [ph])]
    [('00:00', '00:05', 9.4, 'gap'), ('01:00', '01:05', 9.3, 'back_within')]
    """
    open_: list[_Open | None] = [None] * len(limits)
    done: list[Excursion] = []
    previous: datetime | None = None
    for ts, value in readings:
        if math.isnan(value):
            continue
        if previous is not None and ts < previous:
            raise ValueError(
                f"readings out of order: {ts.isoformat()} after {previous.isoformat()}"
            )
        previous = ts
        for i, limit in enumerate(limits):
            episode = open_[i]
            if episode is not None and ts - episode.last > max_gap:
                done.append(episode.close(limit, episode.last, "gap"))
                episode = open_[i] = None
            excess = _excess(limit, value)
            if excess > 0:
                if episode is None:
                    open_[i] = _Open(ts, ts, value, ts, excess, 1)
                else:
                    episode.last = ts
                    episode.readings += 1
                    if excess > episode.excess:
                        episode.worst, episode.worst_at, episode.excess = value, ts, excess
            elif episode is not None:
                done.append(episode.close(limit, ts, "back_within"))
                open_[i] = None
    for i, episode in enumerate(open_):
        if episode is not None:
            done.append(episode.close(limits[i], episode.last, "end_of_data"))
    order = list(Severity)
    done.sort(key=lambda e: (e.start, -order.index(e.severity)))
    return done


def merged_seconds(intervals: Iterable[tuple[datetime, datetime]]) -> float:
    """Seconds covered by the union of ``intervals`` (overlaps counted once).

    >>> from datetime import UTC, datetime
    >>> h = [datetime(2026, 1, 1, hour, tzinfo=UTC) for hour in range(5)]
    >>> merged_seconds([(h[0], h[2]), (h[1], h[3]), (h[4], h[4])]) / 3600
    3.0
    """
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(intervals):
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            total += (current[1] - current[0]).total_seconds()
        current = (start, end)
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def totals(episodes: Iterable[Excursion]) -> dict[Severity, SeverityTotal]:
    """Count and time beyond the limits per severity (only severities that occurred)."""
    spans: dict[Severity, list[tuple[datetime, datetime]]] = {}
    for episode in episodes:
        spans.setdefault(episode.severity, []).append((episode.start, episode.end))
    return {
        severity: SeverityTotal(len(spans[severity]), merged_seconds(spans[severity]))
        for severity in Severity
        if severity in spans
    }


def excursions(
    readings: Iterable[tuple[datetime, float]],
    limits: Sequence[Limit],
    max_gap: timedelta = DEFAULT_MAX_GAP,
) -> ExcursionReport:
    """The episodes of one node's subject beyond ``limits``, and their totals per severity."""
    found = find_excursions(readings, limits, max_gap)
    return ExcursionReport(tuple(found), totals(found))
