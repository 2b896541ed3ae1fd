"""Sharing one climate evaluation between every node that reads the same instant.

:meth:`Climate.at <farmwatch_simulators.climate.Climate.at>` is a pure function of (UTC time,
seed) and the most expensive call of a simulation step (dozens of sinusoids, the sun's
position). In a run, many nodes read the same instants: every node spinning up from the same
time steps through the same hours, nodes with the same reporting phase report at the same
seconds, and an event's counterfactual twin reads exactly the instants its node reads. A memo
keyed by the instant computes each weather once; because the function is pure, the readings
are bit-for-bit those of an uncached run.

The memo is bounded: runs go forward in time, so when it is full the oldest half (the instants
inserted first) is dropped.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice

from farmwatch_simulators.climate import Climate, Weather


class WeatherCache:
    """A bounded memo of ``climate.at``; give its :meth:`at` to models as their weather.

    >>> from datetime import UTC, datetime
    >>> climate = Climate(seed=3)
    >>> cache = WeatherCache(climate, max_entries=2)
    >>> ts = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    >>> cache.at(ts) == climate.at(ts) and cache.at(ts) is cache.at(ts)
    True
    >>> cache.hits, cache.misses
    (2, 1)
    """

    __slots__ = ("_max", "_memo", "climate", "hits", "misses")

    def __init__(self, climate: Climate, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.climate = climate
        self._max = max_entries
        self._memo: dict[datetime, Weather] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._memo)

    def at(self, ts: datetime) -> Weather:
        """``climate.at(ts)``, computed once per instant while it stays in the memo."""
        memo = self._memo
        weather = memo.get(ts)
        if weather is not None:
            self.hits += 1
            return weather
        self.misses += 1
        if len(memo) >= self._max:
            # dicts keep insertion order: the first keys are the oldest instants of the run.
            for old in list(islice(memo, max(1, len(memo) // 2))):
                del memo[old]
        weather = memo[ts] = self.climate.at(ts)
        return weather
