"""Reference evapotranspiration ET0: FAO-56 Penman-Monteith (daily, hourly) and Hargreaves.

Allen, Pereira, Raes & Smith (1998), *Crop evapotranspiration*, FAO Irrigation and Drainage
Paper 56 (agronomy.md §1-2); equation numbers below are the paper's. ET0 drives the soil water
balance and the "days until irrigation" forecast; the field nodes measure temperature, RH,
wind and solar radiation, so the full Penman-Monteith form applies, and Hargreaves covers
stations with temperature only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from farmwatch_analytics.indicators.humidity import saturation_vapour_pressure

__all__ = [
    "DailyWeather",
    "HourlyWeather",
    "Site",
    "atmospheric_pressure",
    "daily_extraterrestrial_radiation",
    "daylight_hours",
    "et0_daily",
    "et0_hargreaves",
    "et0_hourly",
    "hourly_extraterrestrial_radiation",
    "wind_speed_at_2m",
]

SOLAR_CONSTANT = 0.0820  # MJ m⁻² min⁻¹ (FAO-56 eq. 21)
STEFAN_BOLTZMANN_DAY = 4.903e-9  # MJ K⁻⁴ m⁻² day⁻¹ (FAO-56 eq. 39)
STEFAN_BOLTZMANN_HOUR = 2.043e-10  # MJ K⁻⁴ m⁻² h⁻¹ (FAO-56 eq. 53 notes)
ALBEDO = 0.23  # hypothetical grass reference crop (FAO-56 eq. 38)
ANGSTROM_A, ANGSTROM_B = 0.25, 0.50  # FAO-56 eq. 35 defaults without local calibration
MJ_TO_MM = 0.408  # 1 MJ m⁻² of latent heat evaporates 0.408 mm of water (FAO-56 eq. 20)


@dataclass(frozen=True, slots=True)
class Site:
    """Where the weather was measured: latitude/longitude in degrees (east and north positive)."""

    latitude: float
    longitude: float
    altitude_m: float = 0.0


@dataclass(frozen=True, slots=True)
class DailyWeather:
    """A day's observations as FAO-56 Example 18 takes them.

    Give ``solar_radiation_mj`` when a pyranometer measured Rs, or ``sunshine_hours`` to
    estimate it with Ångström's formula; ``rh_max``/``rh_min`` give the actual vapour pressure
    (eq. 17), ``rh_mean`` is the fallback (eq. 19).
    """

    day_of_year: int
    t_max: float
    t_min: float
    wind_speed: float
    wind_height_m: float = 2.0
    rh_max: float | None = None
    rh_min: float | None = None
    rh_mean: float | None = None
    solar_radiation_mj: float | None = None
    sunshine_hours: float | None = None


@dataclass(frozen=True, slots=True)
class HourlyWeather:
    """One hour's observations: the hour ending at ``end`` (UTC), means over the hour."""

    end: datetime
    temperature: float
    relative_humidity: float
    wind_speed_2m: float
    solar_radiation_mj: float


def atmospheric_pressure(altitude_m: float) -> float:
    """Mean air pressure in kPa at an altitude (FAO-56 eq. 7).

    >>> round(atmospheric_pressure(100.0), 1), round(atmospheric_pressure(8.0), 1)
    (100.1, 101.2)
    """
    return 101.3 * math.pow((293.0 - 0.0065 * altitude_m) / 293.0, 5.26)


def psychrometric_constant(pressure_kpa: float) -> float:
    """γ in kPa/°C (FAO-56 eq. 8)."""
    return 0.665e-3 * pressure_kpa


def wind_speed_at_2m(speed: float, height_m: float) -> float:
    """Wind at the standard 2 m height from a measurement at ``height_m`` (FAO-56 eq. 47).

    >>> round(wind_speed_at_2m(10 / 3.6, 10.0), 3)
    2.078
    """
    if height_m == 2.0:
        return speed
    return speed * 4.87 / math.log(67.8 * height_m - 5.42)


def _slope(temperature_c: float) -> float:
    """Δ, slope of the saturation vapour pressure curve, kPa/°C (FAO-56 eq. 13)."""
    return 4098.0 * saturation_vapour_pressure(temperature_c) / (temperature_c + 237.3) ** 2


def _inverse_distance(day_of_year: int) -> float:
    return 1.0 + 0.033 * math.cos(2.0 * math.pi * day_of_year / 365.0)  # eq. 23


def _declination(day_of_year: int) -> float:
    return 0.409 * math.sin(2.0 * math.pi * day_of_year / 365.0 - 1.39)  # eq. 24


def _sunset_hour_angle(latitude_rad: float, declination: float) -> float:
    x = -math.tan(latitude_rad) * math.tan(declination)
    return math.acos(min(1.0, max(-1.0, x)))  # eq. 25, clamped for polar day/night


def daily_extraterrestrial_radiation(latitude: float, day_of_year: int) -> float:
    """Ra in MJ m⁻² day⁻¹ (FAO-56 eq. 21).

    >>> round(daily_extraterrestrial_radiation(50.8, 187), 2)
    41.09
    """
    phi = math.radians(latitude)
    delta = _declination(day_of_year)
    ws = _sunset_hour_angle(phi, delta)
    return (
        24.0
        * 60.0
        / math.pi
        * SOLAR_CONSTANT
        * _inverse_distance(day_of_year)
        * (ws * math.sin(phi) * math.sin(delta) + math.cos(phi) * math.cos(delta) * math.sin(ws))
    )


def daylight_hours(latitude: float, day_of_year: int) -> float:
    """N, maximum possible sunshine duration in hours (FAO-56 eq. 34).

    >>> round(daylight_hours(50.8, 187), 1)
    16.1
    """
    ws = _sunset_hour_angle(math.radians(latitude), _declination(day_of_year))
    return 24.0 / math.pi * ws


def _clear_sky(ra: float, altitude_m: float) -> float:
    return (0.75 + 2e-5 * altitude_m) * ra  # Rso, eq. 37


def et0_daily(weather: DailyWeather, site: Site) -> float:
    """Daily grass-reference ET0 in mm/day by FAO-56 Penman-Monteith (eq. 6).

    Example 18 of FAO-56 (Uccle, 6 July): the paper rounds to 3.9 mm/day; computing without
    intermediate rounding gives 3.88.

    >>> uccle = Site(latitude=50.8, longitude=4.35, altitude_m=100.0)
    >>> day = DailyWeather(day_of_year=187, t_max=21.5, t_min=12.3, rh_max=84, rh_min=63,
    ...                    wind_speed=10 / 3.6, wind_height_m=10.0, sunshine_hours=9.25)
    >>> round(et0_daily(day, uccle), 2)
    3.88
    """
    t_mean = (weather.t_max + weather.t_min) / 2.0
    gamma = psychrometric_constant(atmospheric_pressure(site.altitude_m))
    delta = _slope(t_mean)
    e_max = saturation_vapour_pressure(weather.t_max)
    e_min = saturation_vapour_pressure(weather.t_min)
    es = (e_max + e_min) / 2.0  # eq. 12
    if weather.rh_max is not None and weather.rh_min is not None:
        ea = (e_min * weather.rh_max / 100.0 + e_max * weather.rh_min / 100.0) / 2.0  # eq. 17
    elif weather.rh_mean is not None:
        ea = weather.rh_mean / 100.0 * es  # eq. 19
    else:
        ea = e_min  # eq. 48: dew point ≈ Tmin where humidity was not measured
    u2 = wind_speed_at_2m(weather.wind_speed, weather.wind_height_m)
    ra = daily_extraterrestrial_radiation(site.latitude, weather.day_of_year)
    rso = _clear_sky(ra, site.altitude_m)
    if weather.solar_radiation_mj is not None:
        rs = weather.solar_radiation_mj
    elif weather.sunshine_hours is not None:
        n_max = daylight_hours(site.latitude, weather.day_of_year)
        rs = (ANGSTROM_A + ANGSTROM_B * weather.sunshine_hours / n_max) * ra  # eq. 35
    else:
        rs = 0.16 * math.sqrt(max(0.0, weather.t_max - weather.t_min)) * ra  # eq. 50, inland
    rns = (1.0 - ALBEDO) * rs
    ratio = min(1.0, rs / rso) if rso > 0 else 0.0
    t4 = ((weather.t_max + 273.16) ** 4 + (weather.t_min + 273.16) ** 4) / 2.0
    rnl = STEFAN_BOLTZMANN_DAY * t4 * (0.34 - 0.14 * math.sqrt(ea)) * (1.35 * ratio - 0.35)
    rn = rns - rnl  # eq. 40; G ≈ 0 for a day (eq. 42)
    numerator = 0.408 * delta * rn + gamma * 900.0 / (t_mean + 273.0) * u2 * (es - ea)
    return max(0.0, numerator / (delta + gamma * (1.0 + 0.34 * u2)))


def _solar_time_correction(day_of_year: int) -> float:
    b = 2.0 * math.pi * (day_of_year - 81) / 364.0  # eq. 33
    return 0.1645 * math.sin(2.0 * b) - 0.1255 * math.cos(b) - 0.025 * math.sin(b)  # eq. 32


def hourly_extraterrestrial_radiation(end: datetime, site: Site, hours: float = 1.0) -> float:
    """Ra in MJ m⁻² over the period of ``hours`` ending at ``end`` (UTC) (FAO-56 eq. 28-33).

    The solar time comes from UTC and the longitude directly, which is eq. 31's
    ``t + 0.06667 (Lz − Lm)`` without needing the time zone's meridian.

    >>> ndiaye = Site(latitude=16 + 13 / 60, longitude=-(16 + 15 / 60), altitude_m=8.0)
    >>> round(hourly_extraterrestrial_radiation(datetime(2026, 10, 1, 16, tzinfo=UTC), ndiaye), 3)
    3.543
    """
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware (UTC)")
    utc = end.astimezone(UTC)
    day = utc.timetuple().tm_yday
    mid = utc.hour + utc.minute / 60.0 + utc.second / 3600.0 - hours / 2.0
    solar = mid + site.longitude / 15.0 + _solar_time_correction(day)
    omega = math.pi / 12.0 * (solar - 12.0)  # eq. 31
    half = math.pi * hours / 24.0
    phi = math.radians(site.latitude)
    delta = _declination(day)
    ws = _sunset_hour_angle(phi, delta)
    w1 = max(-ws, min(ws, omega - half))  # eq. 29-30, limited to the sunlit part (eq. 29 note)
    w2 = max(-ws, min(ws, omega + half))
    ra = (
        12.0
        * 60.0
        / math.pi
        * SOLAR_CONSTANT
        * _inverse_distance(day)
        * (
            (w2 - w1) * math.sin(phi) * math.sin(delta)
            + math.cos(phi) * math.cos(delta) * (math.sin(w2) - math.sin(w1))
        )
    )
    return max(0.0, ra)


def et0_hourly(weather: HourlyWeather, site: Site, night_rs_rso: float = 0.8) -> float:
    """Hourly grass-reference ET0 in mm/h by FAO-56 eq. 53.

    At night Rs/Rso is undefined; FAO-56 uses the ratio of the hours before sunset, and
    Example 19 takes 0.8, the default of ``night_rs_rso``. G is 0.1 Rn by day, 0.5 Rn by night
    (eq. 45-46).

    Example 19 of FAO-56 (N'Diaye, Senegal, 1 October), 14-15 h and 02-03 h local time. The
    example's clock runs on the 15° W meridian (Lz = 15°), one hour behind UTC, so those hours
    end at 16:00 and 04:00 UTC; the paper gives 0.63 and ≈0 mm/h (HydPy: 0.628).

    >>> ndiaye = Site(latitude=16 + 13 / 60, longitude=-(16 + 15 / 60), altitude_m=8.0)
    >>> day = HourlyWeather(datetime(2026, 10, 1, 16, tzinfo=UTC), 38, 52, 3.3, 2.450)
    >>> round(et0_hourly(day, ndiaye), 3)
    0.627
    >>> night = HourlyWeather(datetime(2026, 10, 1, 4, tzinfo=UTC), 28, 90, 1.9, 0.0)
    >>> round(et0_hourly(night, ndiaye), 2)
    0.0
    """
    t = weather.temperature
    gamma = psychrometric_constant(atmospheric_pressure(site.altitude_m))
    delta = _slope(t)
    es = saturation_vapour_pressure(t)
    ea = es * min(100.0, max(0.0, weather.relative_humidity)) / 100.0  # eq. 54
    ra = hourly_extraterrestrial_radiation(weather.end, site)
    rso = _clear_sky(ra, site.altitude_m)
    daytime = ra > 0.0 and weather.solar_radiation_mj > 0.0
    ratio = min(1.0, weather.solar_radiation_mj / rso) if daytime and rso > 0 else night_rs_rso
    rns = (1.0 - ALBEDO) * weather.solar_radiation_mj
    rnl = (
        STEFAN_BOLTZMANN_HOUR
        * (t + 273.16) ** 4
        * (0.34 - 0.14 * math.sqrt(ea))
        * (1.35 * ratio - 0.35)
    )
    rn = rns - rnl
    soil_heat = (0.1 if daytime else 0.5) * rn
    u2 = weather.wind_speed_2m
    numerator = 0.408 * delta * (rn - soil_heat) + gamma * 37.0 / (t + 273.0) * u2 * (es - ea)
    return max(0.0, numerator / (delta + gamma * (1.0 + 0.34 * u2)))


def et0_hargreaves(t_max: float, t_min: float, latitude: float, day_of_year: int) -> float:
    """Daily ET0 in mm/day from temperatures alone (Hargreaves, FAO-56 eq. 52).

    For nodes without wind or radiation sensors; FAO-56 recommends checking it against
    Penman-Monteith locally because it over-predicts in humid regions such as the Red River
    Delta.

    On Example 18's day it gives 4.06 mm/day against Penman-Monteith's 3.88:

    >>> round(et0_hargreaves(21.5, 12.3, 50.8, 187), 2)
    4.06
    """
    t_mean = (t_max + t_min) / 2.0
    ra = daily_extraterrestrial_radiation(latitude, day_of_year)
    return max(0.0, 0.0023 * (t_mean + 17.8) * math.sqrt(max(0.0, t_max - t_min)) * MJ_TO_MM * ra)
