"""Hourly means of a node's readings: the rows the multivariate process model sees.

A node reports every few minutes, but "warm, humid and the pigs drink less" is a statement
about an hour, not about one reading: hourly means are steadier (one noisy reading does not
make a row strange), cost the forest one score per node-hour instead of one per record, and
let a model fitted on two weeks hold 336 rows instead of 4,000. The local hour of the day
(Asia/Ho_Chi_Minh) is part of the row, as a point on a circle, so 30 °C at 03:00 can be odd
where 30 °C at 15:00 is not.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from mypy_extensions import mypyc_attr

from farmwatch_analytics.stateful import Stateful

__all__ = ["HourlyMeans", "HourlyRow"]

LOCAL_OFFSET_H = 7.0  # Asia/Ho_Chi_Minh, no daylight saving
MIN_SHARE = 0.5  # an hour's row needs at least this share of the readings of its fullest quantity


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(frozen=True, slots=True)
class HourlyRow(Stateful):
    """One finished hour of one node: its mean per quantity, and the time features."""

    hour: int  # hours since the epoch (UTC) of the hour's start
    values: dict[str, float]
    faulty: bool = False  # a sensor-fault check flagged one of the hour's readings

    def features(self) -> dict[str, float]:
        """The row as the model reads it: the means plus the local hour on the unit circle."""
        angle = 2.0 * math.pi * ((self.hour + LOCAL_OFFSET_H) % 24.0) / 24.0
        return {**self.values, "hour_cos": math.cos(angle), "hour_sin": math.sin(angle)}


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(slots=True)
class HourlyMeans(Stateful):
    """Accumulates one node's readings of ``quantities`` and hands back each finished hour.

    An hour missing one of the quantities, or with fewer than half the readings of its
    fullest quantity (a node that came back for the last ten minutes), yields no row: a
    partial hour's means are not comparable with full ones. The first hour a node is seen is
    skipped for the same reason. Readings a sensor-fault check flagged still count (a pond in
    trouble trips the spike check too, and dropping them would blind the model exactly then),
    but the row is marked ``faulty`` so the model does not learn from it.

    >>> hourly = HourlyMeans(frozenset({"nh3"}))
    >>> rows = [hourly.add(3600.0 * 10 + 300 * i, {"nh3": float(i % 12)}) for i in range(40)]
    >>> [(row.hour, row.values) for row in rows if row is not None]
    [(11, {'nh3': 5.5}), (12, {'nh3': 5.5})]
    """

    quantities: Collection[str]
    _hour: int | None = None
    _sums: dict[str, float] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _first: bool = True
    _faulty: bool = False

    def add(
        self, t: float, readings: Mapping[str, float], faulty: bool = False
    ) -> HourlyRow | None:
        """Add one record (``faulty``: a fault check flagged it); return a finished hour."""
        hour = int(t // 3600.0)
        finished = None
        if self._hour is not None and hour > self._hour:
            finished = self._row()
            self._sums.clear()
            self._counts.clear()
            self._faulty = False
        if self._hour is None or hour > self._hour:
            self._first = self._hour is None
            self._hour = hour
        for quantity in self.quantities:
            value = readings.get(quantity)
            if value is None or math.isnan(value):
                continue
            self._sums[quantity] = self._sums.get(quantity, 0.0) + value
            self._counts[quantity] = self._counts.get(quantity, 0) + 1
        self._faulty = self._faulty or faulty
        return finished

    def _row(self) -> HourlyRow | None:
        if self._first or self._hour is None or not self._counts:
            return None
        fullest = max(self._counts.values())
        if len(self._counts) < len(self.quantities):
            return None
        if min(self._counts.values()) < MIN_SHARE * fullest:
            return None
        values = {q: self._sums[q] / n for q, n in sorted(self._counts.items())}
        return HourlyRow(self._hour, values, self._faulty)
