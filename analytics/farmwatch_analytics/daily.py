"""Daily indicators of a node: the numbers an agronomist reads once a day.

Growing degree days, ET0, the cold and heat categories, leaf-wetness hours and disease risk,
the root-zone water balance with days until irrigation, a pond's daily pH swing and a barn's
drop in water use all need a whole local day (Asia/Ho_Chi_Minh, UTC+7) of readings. This
accumulates a node's readings and, when the local day rolls over, computes the finished day's
values with the functions of :mod:`farmwatch_analytics.indicators`.

    >>> from datetime import UTC, datetime, timedelta
    >>> from farmwatch_analytics.model_profiles import load_profile
    >>> day = DailyIndicators(load_profile("rice_field"))
    >>> start = datetime(2026, 5, 1, 17, tzinfo=UTC)  # local midnight
    >>> done = None
    >>> for i in range(24 * 12 + 1):
    ...     t = i / 12
    ...     r = {"air_temperature": 26 + 5 * (t > 8 and t < 18), "relative_humidity": 80.0}
    ...     done = day.observe(start + timedelta(hours=t), r) or done
    >>> round(done["gdd"], 1), done["cold_band"], done["heat_band"]
    (18.5, 0.0, 0.0)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from mypy_extensions import mypyc_attr

from farmwatch_analytics.indicators import disease, thermal
from farmwatch_analytics.indicators.evapotranspiration import et0_hargreaves
from farmwatch_analytics.indicators.soil_water import SOIL_TEXTURES, WaterBalance
from farmwatch_analytics.model_profiles import ModelProfile
from farmwatch_analytics.stateful import Stateful

__all__ = ["DailyIndicators"]

LOCAL_OFFSET = timedelta(hours=7)  # Asia/Ho_Chi_Minh, no daylight saving
LATITUDE = 20.94  # Hải Dương, for the extraterrestrial radiation of Hargreaves' ET0
# The quantities whose daily low, high or mean an indicator uses; the rest are not kept.
DAILY_QUANTITIES = frozenset({"air_temperature", "relative_humidity", "ph", "water_consumption"})
_COLD = list(thermal.ColdBand)
_HEAT = list(thermal.HeatBand)


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(slots=True)
class _Day(Stateful):
    """Running extremes and sums of one local day."""

    date: date
    stats: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)
    wet_samples: int = 0
    samples: int = 0
    rain: float = 0.0
    last_soil_moisture: float | None = None

    def add(self, quantity: str, value: float) -> None:
        low, high, total, n = self.stats.get(quantity, (math.inf, -math.inf, 0.0, 0))
        self.stats[quantity] = (min(low, value), max(high, value), total + value, n + 1)

    def low(self, quantity: str) -> float | None:
        return self.stats[quantity][0] if quantity in self.stats else None

    def high(self, quantity: str) -> float | None:
        return self.stats[quantity][1] if quantity in self.stats else None

    def mean(self, quantity: str) -> float | None:
        if quantity not in self.stats:
            return None
        _, _, total, n = self.stats[quantity]
        return total / n


@mypyc_attr(allow_interpreted_subclasses=True)
class DailyIndicators(Stateful):
    """One node's daily indicators, per its farm's model profile."""

    # The current local day as [start, end) in epoch seconds. Class-level defaults, so that
    # objects pickled before these existed load and simply recompute them.
    _day_start = math.inf
    _day_end = -math.inf

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        params = profile.parameters
        self._day: _Day | None = None
        self._wet_days: deque[tuple[bool, float]] = deque(maxlen=10)
        self._water_use: deque[float] = deque(maxlen=7)
        self._balance: WaterBalance | None = None
        texture = params.get("soil_texture")
        if isinstance(texture, str) and texture in SOIL_TEXTURES:
            self._balance = WaterBalance(
                SOIL_TEXTURES[texture],
                root_depth_m=float(params.get("root_depth_m", 0.5)),
                p_table=float(params.get("depletion_fraction", 0.5)),
            )

    def observe(self, ts: datetime, readings: Mapping[str, float]) -> dict[str, float] | None:
        """Take a reading; at the first reading of a new local day, the last day's values."""
        t = ts.timestamp()
        finished = None
        if not self._day_start <= t < self._day_end:  # a new local day (or the first record)
            date = (ts + LOCAL_OFFSET).date()
            if self._day is not None and date != self._day.date:
                finished = self._finish(self._day)
            if self._day is None or date != self._day.date:
                self._day = _Day(date)
            start = datetime.combine(date, time(), UTC) - LOCAL_OFFSET
            self._day_start = start.timestamp()
            self._day_end = self._day_start + 86400.0
        day = self._day
        if day is None:  # pragma: no cover - set just above on the first record
            return finished
        day.samples += 1
        for quantity in DAILY_QUANTITIES.intersection(readings):
            value = readings[quantity]
            if math.isfinite(value):
                day.add(quantity, value)
        rain = readings.get("rain", 0.0)
        day.rain += rain if math.isfinite(rain) else 0.0
        rh = readings.get("relative_humidity")
        if (rh is not None and rh >= disease.LEAF_WETNESS_RH) or rain > 0:
            day.wet_samples += 1
        if "soil_moisture" in readings:
            day.last_soil_moisture = readings["soil_moisture"]
        return finished

    def _finish(self, day: _Day) -> dict[str, float]:
        out: dict[str, float] = {}
        params = self.profile.parameters
        t_max, t_min = day.high("air_temperature"), day.low("air_temperature")
        mean = day.mean("air_temperature")
        if t_max is not None and t_min is not None and mean is not None:
            out["air_temperature_daily_mean"] = mean
            out["cold_band"] = float(_COLD.index(thermal.classify_cold(mean)))
            out["heat_band"] = float(_HEAT.index(thermal.classify_heat(t_max)))
            base = params.get("gdd_base_c")
            if base is not None:
                out["gdd"] = thermal.growing_degree_days(t_max, t_min, base=float(base))
            day_of_year = day.date.timetuple().tm_yday
            et0 = et0_hargreaves(t_max, t_min, LATITUDE, day_of_year)
            out["et0_hargreaves"] = et0
            self._water_balance(day, et0, out)
            self._disease(day, mean, out)
        swing = self._swing(day, "ph")
        if swing is not None:
            out["ph_daily_swing"] = swing
        self._water_use_drop(day, out)
        return {name: value for name, value in out.items() if math.isfinite(value)}

    @staticmethod
    def _swing(day: _Day, quantity: str) -> float | None:
        low, high = day.low(quantity), day.high(quantity)
        return None if low is None or high is None else high - low

    def _water_balance(self, day: _Day, et0: float, out: dict[str, float]) -> None:
        if self._balance is None:
            return
        etc = et0 * float(self.profile.parameters.get("crop_coefficient", 1.0))
        self._balance.step(rain_mm=day.rain, etc_mm=etc)
        if day.last_soil_moisture is not None:
            # The probe knows better than the bucket model: reset to what it measured (% → m³/m³).
            self._balance.observe_soil_moisture(day.last_soil_moisture / 100.0)
        out["soil_water_depletion"] = self._balance.depletion
        days = self._balance.days_until_irrigation(max(etc, 0.1))
        out["days_until_irrigation"] = min(days, 365.0)

    def _disease(self, day: _Day, mean: float, out: dict[str, float]) -> None:
        hours = day.wet_samples / max(day.samples, 1) * 24.0
        out["leaf_wetness_hours"] = hours
        max_rh = day.high("relative_humidity")
        if max_rh is None:
            return
        indicators = self.profile.indicators
        if "rice_blast_risk" in indicators:
            out["rice_blast_risk"] = disease.rice_blast_risk(mean, max_rh, day.rain)
        if "downy_blight_risk" in indicators:
            self._wet_days.append((disease.is_wet_day(max_rh, day.rain), mean))
            wet = [w for w, _ in self._wet_days]
            temps = [t for _, t in self._wet_days]
            out["downy_blight_risk"] = disease.downy_blight_risk(wet, temps)

    def _water_use_drop(self, day: _Day, out: dict[str, float]) -> None:
        stats = day.stats.get("water_consumption")
        if stats is None or "water_use_drop" not in self.profile.indicators:
            return
        total = stats[2]
        if len(self._water_use) >= 3:
            usual = sum(self._water_use) / len(self._water_use)
            if usual > 0:
                out["water_use_drop"] = min(1.0, max(0.0, 1.0 - total / usual))
        self._water_use.append(total)
