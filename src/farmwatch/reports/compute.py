"""The numbers of a monthly report, as pure functions: periods, uptime, completeness, response
times, and indicators computed from readings when analytics did not store them.

Kept apart from the store and the rendering so each rule is stated (and doctested) once, and
the tests can check the report against counts they make themselves.

Uptime and completeness use the same clock: the period is cut into *slots* of the node's
reporting interval, starting at the period's start. A node is **up** in a slot in which at least
one of its records arrived (uptime = slots with data / slots in the period); **completeness** is
the share of the expected readings that arrived: one reading of each of the node's registered
sensors per slot.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from farmwatch_core.timefmt import DISPLAY_TZ

__all__ = [
    "AckStats",
    "Coverage",
    "ack_stats",
    "computed_indicators",
    "coverage",
    "infer_interval",
    "month_bounds",
    "slot_of",
]


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as the UTC bounds ``[start, end)`` of that month in Hải Dương.

    A farmer's November starts at local midnight on the 1st, which is 17:00 UTC the day before.

    >>> [t.isoformat() for t in month_bounds("2026-11")]
    ['2026-10-31T17:00:00+00:00', '2026-11-30T17:00:00+00:00']
    >>> month_bounds("2026-12")[1].isoformat()
    '2026-12-31T17:00:00+00:00'
    >>> month_bounds("November")
    Traceback (most recent call last):
    ...
    ValueError: period 'November': write the month as YYYY-MM, e.g. 2026-11
    """
    try:
        year_text, month_text = period.split("-")
        year, month = int(year_text), int(month_text)
        start = datetime(year, month, 1, tzinfo=DISPLAY_TZ)
    except ValueError:
        raise ValueError(f"period {period!r}: write the month as YYYY-MM, e.g. 2026-11") from None
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=DISPLAY_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def infer_interval(timestamps: Sequence[datetime]) -> timedelta | None:
    """A node's reporting interval: the median spacing of its records (``None`` under 2).

    The registry does not record intervals (a node's edge.yaml does), so the report reads it
    from the data. The median ignores the gaps of an outage and the jitter of a busy gateway.

    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> stamps = [t + timedelta(minutes=m) for m in (0, 30, 60, 90, 300, 330)]  # an outage
    >>> infer_interval(stamps)
    datetime.timedelta(seconds=1800)
    """
    gaps = [(b - a).total_seconds() for a, b in pairwise(timestamps) if b > a]
    if not gaps:
        return None
    return timedelta(seconds=statistics.median(gaps))


def slot_of(ts: datetime, start: datetime, interval: timedelta) -> int:
    """The index of the interval-long slot of the period that ``ts`` falls in.

    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> slot_of(t + timedelta(minutes=59), t, timedelta(minutes=30))
    1
    """
    return int((ts - start) / interval)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a node's expected data arrived in a period."""

    slots: int  # interval-long slots in the period
    slots_with_data: int
    readings_expected: int  # slots × registered sensors
    readings_received: int  # (slot, sensor) pairs with a reading

    @property
    def uptime(self) -> float:
        return self.slots_with_data / self.slots if self.slots else 0.0

    @property
    def completeness(self) -> float:
        return self.readings_received / self.readings_expected if self.readings_expected else 0.0


def coverage(
    records: Iterable[tuple[datetime, Iterable[str]]],
    start: datetime,
    end: datetime,
    interval: timedelta,
    sensors: Sequence[str],
) -> Coverage:
    """Uptime and completeness of one node from its records' times and quantities.

    Several records in one slot count once (a node that sends twice is not twice as
    complete); readings of quantities it is not registered for are not counted.

    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> half_hour = timedelta(minutes=30)
    >>> records = [(t, {"ph", "dissolved_oxygen"}),
    ...            (t + timedelta(minutes=35), {"dissolved_oxygen"}),
    ...            (t + timedelta(minutes=40), {"dissolved_oxygen", "rssi"})]
    >>> c = coverage(records, t, t + timedelta(hours=2), half_hour, ["ph", "dissolved_oxygen"])
    >>> c.slots, c.slots_with_data, c.readings_expected, c.readings_received, c.uptime
    (4, 2, 8, 3, 0.5)
    """
    slots = math.ceil((end - start) / interval)
    wanted = set(sensors)
    up: set[int] = set()
    received: set[tuple[int, str]] = set()
    for ts, quantities in records:
        if not start <= ts < end:
            continue
        slot = slot_of(ts, start, interval)
        up.add(slot)
        received.update((slot, q) for q in quantities if q in wanted)
    return Coverage(slots, len(up), slots * len(wanted), len(received))


@dataclass(frozen=True, slots=True)
class AckStats:
    """How fast alerts were acknowledged: the plan's "alerts handled within target time"."""

    fired: int  # alerts that fired (pending ones never reached anyone)
    acknowledged: int
    within_target: int
    median_minutes: float | None  # over the acknowledged ones

    @property
    def share_within_target(self) -> float | None:
        """Acknowledged in time / fired; ``None`` when nothing fired (not 0: nothing to handle)."""
        return self.within_target / self.fired if self.fired else None


def ack_stats(minutes: Iterable[float | None], target_minutes: float) -> AckStats:
    """Response times of fired alerts: ``None`` for one nobody acknowledged.

    >>> s = ack_stats([4.0, 12.0, None, 45.0], target_minutes=30)
    >>> s.fired, s.acknowledged, s.within_target, s.median_minutes, s.share_within_target
    (4, 3, 2, 12.0, 0.5)
    """
    values = list(minutes)
    acked = [m for m in values if m is not None]
    return AckStats(
        len(values),
        len(acked),
        sum(m <= target_minutes for m in acked),
        statistics.median(acked) if acked else None,
    )


def computed_indicators(readings: Mapping[str, float], wanted: Iterable[str]) -> dict[str, float]:
    """Indicators the report needs that analytics did not store, from the record's readings.

    A store filled without the analytics service (or before it ran) has the sensors' readings
    only; THI, VPD and un-ionised ammonia are instantaneous functions of them, computed with
    analytics' own formulas (the daily ones — ET0, GDD, soil water — need a day's history and
    are only reported when stored).

    >>> out = computed_indicators({"air_temperature": 32.0, "relative_humidity": 80.0},
    ...                           ["thi_pig", "vpd", "soil_water_depletion"])
    >>> sorted(out), round(out["vpd"], 2)
    (['thi_pig', 'vpd'], 0.95)
    """
    from farmwatch_analytics.indicators.humidity import vapour_pressure_deficit
    from farmwatch_analytics.indicators.thermal import THI_SCALES
    from farmwatch_analytics.indicators.water_quality import unionised_ammonia

    out: dict[str, float] = {}
    air, rh = readings.get("air_temperature"), readings.get("relative_humidity")
    water = readings.get("water_temperature")
    for name in wanted:
        if name in readings:
            continue
        if name.startswith("thi_") and air is not None and rh is not None:
            scale = THI_SCALES.get(name.removeprefix("thi_"))
            if scale is not None:
                out[name] = scale.index(air, rh)
        elif name == "vpd" and air is not None and rh is not None:
            out[name] = vapour_pressure_deficit(air, rh)
        elif name == "unionised_ammonia" and water is not None:
            tan, ph = readings.get("total_ammonia_nitrogen"), readings.get("ph")
            if tan is not None and ph is not None:
                out[name] = unionised_ammonia(tan, water, ph)
    return out
