"""Forecasts a farmer can act on before it is too late.

* Ponds: the pre-dawn dissolved-oxygen minimum, from the evening decline. Pond DO is lowest
  just before dawn, and a falling trend after sunset predicts a crash hours ahead (agronomy.md
  §6; Boyd & Tucker's night-time projection method): a warning at 22:00 leaves time to start
  the aerators or stop feeding, one at 04:00 does not.
* Fields and orchards: days until irrigation, from the soil water balance and ET0 (see
  ``indicators.soil_water.WaterBalance``).

The DO model is the night-time oxygen budget: with no photosynthesis,
dDO/dt = −R + k (Cs − DO), so DO relaxes exponentially towards E = Cs − R/k:
DO(t) = E + (DO₀ − E) e^(−kt). An evening's few hours show too little curvature to estimate
k, and a straight-line projection (k = 0) overstates the fall of every normal night, so k is
learned per pond from its completed nights (a whole night shows the curvature well) and the
evening's readings only fit the level and E. A crash night is one whose E lies far below the
species' limit: respiration outruns what the still water can take up.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from mypy_extensions import mypyc_attr

from farmwatch_analytics.indicators.evapotranspiration import daylight_hours
from farmwatch_analytics.stateful import Stateful

__all__ = ["DawnOxygenForecaster", "OxygenForecast", "sunrise"]

VIETNAM_UTC_OFFSET_H = 7.0  # Asia/Ho_Chi_Minh, no daylight saving
HAI_DUONG_LATITUDE, HAI_DUONG_LONGITUDE = 20.94, 106.33
MIN_EVENING_H = 1.5  # the evening decline must be observed this long before forecasting
MIN_POINTS = 6
MAX_REAERATION_PER_H = 0.3  # k above this is not a pond at night: the fit is noise
# Starting k before a pond's first full night, per hour: still-water surface re-aeration of a
# 1-2 m pond is a few percent to ~15 %/h; the learned value replaces it after one night.
DEFAULT_REAERATION_PER_H = 0.1
LEARNING_RATE = 0.3  # weight of the latest night in the pond's k (an EWMA over nights)
PERSISTENCE = 6  # consecutive crossing forecasts (30 min at 5-minute readings) before warning
WINDOW_H = 6.0  # the fit uses at most the last hours (the early evening may still be sunny)


def sunrise(
    day: datetime, latitude: float = HAI_DUONG_LATITUDE, longitude: float = HAI_DUONG_LONGITUDE
) -> datetime:
    """Approximate sunrise (UTC) of the local calendar day containing ``day``.

    Solar noon is 12:00 mean solar time; sunrise is half the day length (FAO-56 eq. 34) earlier.
    Good to a few minutes (no refraction or equation of time), which is all a dawn forecast
    needs. Hải Dương, midsummer, in local time (the almanac says 05:13):

    >>> (sunrise(datetime(2026, 6, 21, 3, tzinfo=UTC)) + timedelta(hours=7)).strftime("%H:%M")
    '05:16'
    """
    local = day.astimezone(UTC) + timedelta(hours=VIETNAM_UTC_OFFSET_H)
    doy = local.timetuple().tm_yday
    half_day_h = daylight_hours(latitude, doy) / 2.0
    solar_noon_utc_h = 12.0 - longitude / 15.0
    midnight_utc = datetime(local.year, local.month, local.day, tzinfo=UTC) - timedelta(
        hours=VIETNAM_UTC_OFFSET_H
    )
    return midnight_utc + timedelta(hours=VIETNAM_UTC_OFFSET_H + solar_noon_utc_h - half_day_h)


@dataclass(frozen=True, slots=True)
class OxygenForecast:
    """What the evening's readings say about the coming dawn."""

    made_at: datetime
    dawn: datetime
    minimum_mg_l: float
    below_limit_at: datetime | None
    loss_rate_mg_l_h: float
    reaeration_per_h: float
    persistence: int = 1

    @property
    def hours_ahead(self) -> float | None:
        """Hours from the forecast to the predicted crossing of the limit, if any."""
        if self.below_limit_at is None:
            return None
        return (self.below_limit_at - self.made_at).total_seconds() / 3600.0

    @property
    def warning(self) -> bool:
        """Whether to warn: the crossing has been forecast by ``PERSISTENCE`` readings in a row.

        One evening forecast can dip below the limit by noise; a crash keeps doing so.
        """
        return self.below_limit_at is not None and self.persistence >= PERSISTENCE


@mypyc_attr(allow_interpreted_subclasses=True)
class DawnOxygenForecaster(Stateful):
    """Streaming pre-dawn DO forecast for one pond node.

    Feed every DO reading in time order; after dusk, once the decline has been watched for
    ``MIN_EVENING_H``, each reading returns a forecast of the minimum at the next sunrise and
    when it will cross ``limit_mg_l`` (the species' limit: 2.3 mg/L for tilapia). At dawn the
    completed night refines the pond's re-aeration rate.
    """

    def __init__(
        self,
        limit_mg_l: float = 2.3,
        latitude: float = HAI_DUONG_LATITUDE,
        longitude: float = HAI_DUONG_LONGITUDE,
        reaeration_per_h: float = DEFAULT_REAERATION_PER_H,
    ) -> None:
        self.limit_mg_l = limit_mg_l
        self.latitude = latitude
        self.longitude = longitude
        self.reaeration_per_h = reaeration_per_h
        self._night: deque[tuple[float, float]] = deque()
        self._dawn: datetime | None = None
        self._streak = 0
        self._sunrises: dict[date, tuple[datetime, datetime]] = {}  # by local day
        self._sunsets: dict[datetime, datetime] = {}  # by the dawn that ends the night

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        # A forecaster pickled before these caches existed has none.
        if "_sunrises" not in state:
            self._sunrises = {}
        if "_sunsets" not in state:
            self._sunsets = {}

    def _next_dawn(self, ts: datetime) -> datetime:
        # Sunrise moves a minute a day: compute it once per local day, not per reading.
        day = (ts + timedelta(hours=VIETNAM_UTC_OFFSET_H)).date()
        sunrises = self._sunrises
        cached = sunrises.get(day)
        if cached is None:
            cached = sunrises[day] = (
                sunrise(ts, self.latitude, self.longitude),
                sunrise(ts + timedelta(days=1), self.latitude, self.longitude),
            )
            while len(sunrises) > 3:
                del sunrises[min(sunrises)]
        today, tomorrow = cached
        return today if today > ts else tomorrow

    def _is_night(self, ts: datetime, dawn: datetime) -> bool:
        """After sunset and before sunrise: photosynthesis has stopped."""
        # The sunset before a dawn, computed once per dawn (as the sunrises, per day).
        sunsets = self._sunsets
        sunset = sunsets.get(dawn)
        if sunset is None:
            local_day = (dawn + timedelta(hours=VIETNAM_UTC_OFFSET_H)).timetuple().tm_yday
            sunset = dawn - timedelta(hours=24.0 - daylight_hours(self.latitude, local_day))
            sunsets[dawn] = sunset
            while len(sunsets) > 3:
                del sunsets[min(sunsets)]
        return ts >= sunset

    def _end_night(self) -> None:
        """Learn the pond's re-aeration rate from the night that just ended."""
        if len(self._night) >= 4 * MIN_POINTS:
            data = np.asarray(self._night, dtype=float)
            k = _best_reaeration(data[:, 0] - data[-1, 0], data[:, 1])
            if k is not None:
                self.reaeration_per_h += LEARNING_RATE * (k - self.reaeration_per_h)
        self._night.clear()
        self._dawn = None
        self._streak = 0

    def update(self, ts: datetime, do_mg_l: float) -> OxygenForecast | None:
        """Take one reading; return a forecast when the night's data allow one."""
        if not math.isfinite(do_mg_l):
            return None
        dawn = self._next_dawn(ts)
        if not self._is_night(ts, dawn) or (self._dawn is not None and dawn != self._dawn):
            self._end_night()
            if not self._is_night(ts, dawn):
                return None
        self._dawn = dawn
        hours = ts.timestamp() / 3600.0
        self._night.append((hours, do_mg_l))
        times, levels = [], []
        for h, v in self._night:
            if hours - h <= WINDOW_H:
                times.append(h)
                levels.append(v)
        if len(times) < MIN_POINTS or hours - times[0] < MIN_EVENING_H:
            return None
        # The window as an (n, 2) array filled by column: a fifth of the cost of converting
        # the list of pairs, per pond reading, and the same array (the fit's dot products
        # read its columns with the same strides, so give the same sums to the last bit).
        data = np.empty((len(times), 2))
        data[:, 0] = times
        data[:, 1] = levels
        return self._forecast(ts, dawn, data)

    def _forecast(self, ts: datetime, dawn: datetime, data: np.ndarray) -> OxygenForecast:
        """The forecast from the window's (hours since the epoch, mg/L); counts the streak."""
        t, y = data[:, 0] - data[-1, 0], data[:, 1]
        k = self.reaeration_per_h
        level, equilibrium = _fit_levels(t, y, k)
        horizon_h = (dawn - ts).total_seconds() / 3600.0
        at_dawn = equilibrium + (level - equilibrium) * math.exp(-k * horizon_h)
        crossing = _exp_crossing(level, equilibrium, k, self.limit_mg_l, horizon_h)
        self._streak = self._streak + 1 if crossing is not None else 0
        return OxygenForecast(
            made_at=ts,
            dawn=dawn,
            minimum_mg_l=max(0.0, min(level, at_dawn)),
            below_limit_at=None if crossing is None else ts + timedelta(hours=crossing),
            loss_rate_mg_l_h=max(0.0, k * (level - equilibrium)),
            reaeration_per_h=k,
            persistence=self._streak,
        )


def _fit_levels(t: np.ndarray, y: np.ndarray, k: float) -> tuple[float, float]:
    """Least-squares (current level L, equilibrium E) of y = E (1 − e^(−kt)) + L e^(−kt).

    Two unknowns: the 2 × 2 normal equations solved directly (a tenth of ``lstsq``'s cost,
    which ran for every pond reading of every evening); ``lstsq`` only when they are
    ill-conditioned (a k so small that the two basis functions are alike).
    """
    a = np.exp(-k * t)  # t ≤ 0, so 1 at the latest reading
    b = 1.0 - a
    saa, sab, sbb = float(a @ a), float(a @ b), float(b @ b)
    det = saa * sbb - sab * sab
    if det > 1e-9 * max(saa * sbb, 1e-300):
        say, sby = float(a @ y), float(b @ y)
        return (sbb * say - sab * sby) / det, (saa * sby - sab * say) / det
    (level, equilibrium), *_ = np.linalg.lstsq(np.column_stack((a, b)), y, rcond=None)
    return float(level), float(equilibrium)


_K_GRID = np.arange(0.01, MAX_REAERATION_PER_H + 1e-9, 0.01)


def _best_reaeration(t: np.ndarray, y: np.ndarray) -> float | None:
    """The k that best fits a whole night, or ``None`` when the night shows no relaxation."""
    errors = []
    for k in _K_GRID:
        level, equilibrium = _fit_levels(t, y, float(k))
        decay = np.exp(-k * t)
        errors.append(float(np.sum((level * decay + equilibrium * (1.0 - decay) - y) ** 2)))
    best = int(np.argmin(errors))
    if best in (0, len(_K_GRID) - 1):
        return None  # at the edge of the grid: a straight line or noise, not a relaxation
    return float(_K_GRID[best])


def _exp_crossing(
    level: float, equilibrium: float, k: float, limit: float, horizon_h: float
) -> float | None:
    """Hours until DO(t) = E + (L − E) e^(−kt) reaches ``limit``, if before ``horizon_h``."""
    if level <= limit:
        return 0.0
    if equilibrium >= limit:
        return None
    hours = -math.log((limit - equilibrium) / (level - equilibrium)) / k
    return hours if hours <= horizon_h else None
