"""Weather-driven disease risk: leaf wetness, rice leaf blast and lychee downy blight.

Sources (agronomy.md §8): RH ≥ 90 % as a leaf-wetness proxy; EPIRICE (Savary et al. 2012,
Crop Protection 34: 6-17) for blast's wet days and relative infection by temperature; the
epidemiology of *Peronophythora litchii* for lychee downy blight. The scores are relative risk
in [0, 1] for advice ("spray before the rain", "open the canopy"), not infection forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "LEAF_WETNESS_RH",
    "blast_infection_factor",
    "downy_blight_risk",
    "is_wet_day",
    "leaf_wetness_hours",
    "rice_blast_risk",
]

LEAF_WETNESS_RH = 90.0  # % RH above which the leaf counts as wet (§8, fraction correct 0.87-0.92)
WET_DAY_RAIN_MM = 5.0  # EPIRICE wet day: rain ≥ 5 mm or RH ≥ 90 %
# EPIRICE relative infection of leaf blast by temperature (Savary et al. 2012), °C → factor.
_BLAST_TEMPERATURE = (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0)
_BLAST_FACTOR = (0.0, 0.5, 1.0, 0.6, 0.2, 0.05, 0.01, 0.0)
# Downy blight needs ≈1 day of free water at 25 °C and ≈3 days at 18 °C; nothing at ≥ 28 °C.
_DOWNY_TEMPERATURE = (18.0, 25.0)
_DOWNY_WET_DAYS = (3.0, 1.0)
DOWNY_NO_RELEASE_C = 28.0


def _interpolate(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear table lookup, flat beyond both ends."""
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(
        zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False
    ):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def leaf_wetness_hours(
    relative_humidity_pct: Sequence[float],
    rain_mm: Sequence[float] | None = None,
    hours_per_sample: float = 1.0,
) -> float:
    """Hours of leaf wetness in a series: samples with RH ≥ 90 % or any rain.

    >>> leaf_wetness_hours([85, 91, 95, 80], rain_mm=[0, 0, 0, 0.2])
    3.0
    """
    rain = rain_mm if rain_mm is not None else [0.0] * len(relative_humidity_pct)
    if len(rain) != len(relative_humidity_pct):
        raise ValueError("relative humidity and rain series must have the same length")
    wet = sum(
        1
        for rh, mm in zip(relative_humidity_pct, rain, strict=True)
        if rh >= LEAF_WETNESS_RH or mm > 0
    )
    return wet * hours_per_sample


def is_wet_day(max_relative_humidity_pct: float, rain_mm: float) -> bool:
    """EPIRICE's wet day: RH reached 90 % or it rained at least 5 mm.

    >>> is_wet_day(92, 0.0), is_wet_day(80, 6.0), is_wet_day(85, 2.0)
    (True, True, False)
    """
    return max_relative_humidity_pct >= LEAF_WETNESS_RH or rain_mm >= WET_DAY_RAIN_MM


def blast_infection_factor(mean_temperature_c: float) -> float:
    """EPIRICE relative infection efficiency of leaf blast at a daily mean temperature.

    >>> blast_infection_factor(20.0), blast_infection_factor(22.5), blast_infection_factor(45.0)
    (1.0, 0.8, 0.0)
    """
    return _interpolate(mean_temperature_c, _BLAST_TEMPERATURE, _BLAST_FACTOR)


def rice_blast_risk(
    mean_temperature_c: float, max_relative_humidity_pct: float, rain_mm: float
) -> float:
    """A day's relative leaf-blast risk in [0, 1]: wet day × temperature factor (EPIRICE).

    >>> rice_blast_risk(21.0, 95.0, 0.0), rice_blast_risk(21.0, 70.0, 0.0)
    (0.92, 0.0)
    """
    if not is_wet_day(max_relative_humidity_pct, rain_mm):
        return 0.0
    return round(blast_infection_factor(mean_temperature_c), 6)


def downy_blight_risk(wet_days: Sequence[bool], mean_temperatures_c: Sequence[float]) -> float:
    """Relative lychee downy-blight risk in [0, 1] at the end of a run of days.

    Risk is the current run of consecutive wet days over the days of free water the pathogen
    needs at that run's mean temperature (≈1 at 25 °C, ≈3 at 18 °C), capped at 1; zero when the
    run is warmer than 28 °C, where no zoospores are released. Outbreaks follow several days of
    continuous rain at flowering and fruit set (April-May in the north), which the profile uses
    to weight the season.

    >>> downy_blight_risk([True, True], [24.0, 24.0]) > downy_blight_risk([True], [24.0])
    True
    >>> downy_blight_risk([True, True, True], [18.0, 18.0, 18.0])
    1.0
    >>> downy_blight_risk([True, True], [29.0, 29.0]), downy_blight_risk([True, False], [24, 24])
    (0.0, 0.0)
    """
    if len(wet_days) != len(mean_temperatures_c):
        raise ValueError("wet-day and temperature series must have the same length")
    run: list[float] = []
    for wet, temperature in zip(reversed(wet_days), reversed(mean_temperatures_c), strict=True):
        if not wet:
            break
        run.append(temperature)
    if not run:
        return 0.0
    mean = sum(run) / len(run)
    if mean >= DOWNY_NO_RELEASE_C:
        return 0.0
    needed = _interpolate(mean, _DOWNY_TEMPERATURE, _DOWNY_WET_DAYS)
    return min(1.0, len(run) / needed)
