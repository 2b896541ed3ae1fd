"""A reproducible climate driver for Hải Dương (Red River Delta, northern Vietnam, UTC+7).

Every node model of the simulator reads its weather from here, so a pond, a barn and a rice
field of the same run see the same cold surge and the same afternoon storm. The weather is a
*pure function of (UTC time, seed)*: no state, no clock, no global random generator. The same
seed and instant always give the same value, whatever was asked before and in whatever order,
which makes simulated data sets and the tests on them repeatable.

How a value is made::

    seasonal normal (interpolated monthly means)
      + diurnal cycle (minimum near dawn ~06:00, maximum ~14:00 local time)
      + smooth "weather" anomalies: seeded sums of sinusoids with periods of hours to weeks
      + seeded weather *episodes*: summer heat waves and typhoon-like storms

Sums of sinusoids give near-Gaussian weather, and Gaussian weather has no heat waves: the
days with Tmax ≥ 35 °C that make the news, and the two-day storms that drop 200 mm on the
delta, are rare events with a shape of their own. So each year draws, from the seed, a few
:class:`Episode` s (a heat wave: several days of clear sky and dry south-west wind with Tmax in
a nắng nóng band; a typhoon-like storm: a bell of heavy rain over two or three days with thick
cloud, strong wind and a pressure drop), and the weather bends towards them. The monthly
normals include them: the smooth background is lowered by their expected contribution.

Sums of sinusoids with random periods and phases are cheap, smooth, stationary and
approximately Gaussian (many independent terms), and can be evaluated at any instant without
integrating a random walk from some origin. That is what makes a pure function of time possible.

The monthly normals below are *approximate* climate normals of the Red River Delta (Hải Dương
and Hà Nội stations; see the climate tables of the Vietnamese building code QCVN 02:2022/BXD
for the station values) chosen to give the targets of the simulator issue: monthly means of about
16-17 °C in January and 29-30 °C in July, relative humidity of 70-95 %, about 1 500-1 600 mm
of rain a year concentrated in May-September, and the overcast, drizzly late winter (mưa phùn,
February-April). They are good enough to exercise the pipeline and the alert rules (rét đậm,
nắng nóng, pre-dawn DO crashes), not a substitute for station data.

>>> from datetime import UTC, datetime
>>> climate = Climate(seed=7)
>>> noon = datetime(2026, 7, 15, 7, 0, tzinfo=UTC)  # 14:00 local time
>>> climate.at(noon) == Climate(seed=7).at(noon)  # same seed + time, same weather
True
>>> 20 < climate.at(noon).air_temperature < 42
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

# Hải Dương city; the province spans ~20.7-21.2 N, 106.1-106.6 E, small enough for one climate.
HAI_DUONG_LATITUDE = 20.94
HAI_DUONG_LONGITUDE = 106.33
# Vietnam is UTC+7 all year, no daylight saving (agronomy.md, "Times").
UTC_OFFSET = timedelta(hours=7)

# Monthly mean air temperature, °C, January..December (approximate delta normals; see module
# docstring). January 16-17 °C and July 29-30 °C are the targets of the simulator issue.
MONTHLY_MEAN_TEMPERATURE = (16.6, 17.6, 20.2, 23.8, 27.4, 29.1, 29.6, 28.9, 27.8, 25.1, 21.8, 18.3)
# Mean daily range Tmax - Tmin, °C: smallest under the overcast drizzle of February-April,
# largest in the dry, clear autumn and early winter.
MONTHLY_DIURNAL_RANGE = (6.8, 5.2, 4.8, 5.6, 7.0, 6.8, 6.8, 6.4, 6.8, 7.4, 7.8, 7.6)
# Standard deviation of the synoptic (multi-day) temperature anomaly, °C: winter cold surges of
# the north-east monsoon (gió mùa đông bắc) swing the daily mean far more than summer weather.
MONTHLY_ANOMALY_SD = (2.6, 2.4, 2.0, 1.6, 1.3, 1.1, 1.0, 1.0, 1.1, 1.4, 1.9, 2.4)
# Monthly mean relative humidity, %: highest in the humid late winter (nồm ẩm), lowest in the
# dry north-east monsoon months.
MONTHLY_MEAN_HUMIDITY = (80.0, 85.0, 88.0, 88.0, 84.0, 83.0, 83.0, 86.0, 84.0, 81.0, 78.0, 78.0)
# Monthly rain, mm (≈1 560 mm a year, ~80 % of it in May-October), storms included.
MONTHLY_RAIN_MM = (20.0, 25.0, 45.0, 90.0, 185.0, 235.0, 255.0, 300.0, 230.0, 120.0, 40.0, 18.0)
# Fraction of hours with rain: frequent light drizzle in February-April, heavier but rarer
# showers in summer.
MONTHLY_RAIN_FRACTION = (0.06, 0.12, 0.16, 0.12, 0.10, 0.11, 0.12, 0.14, 0.10, 0.07, 0.04, 0.03)
# Mean cloud cover, fraction of the sky.
MONTHLY_CLOUD_COVER = (0.72, 0.86, 0.88, 0.80, 0.66, 0.66, 0.64, 0.66, 0.56, 0.50, 0.50, 0.56)

# Clear-sky global irradiance after Haurwitz (1945): G = 1098 cos(z) exp(-0.057 / cos(z)) W/m².
_HAURWITZ_A = 1098.0
_HAURWITZ_B = 0.057
# The humid, hazy delta atmosphere transmits less than Haurwitz's mid-latitude sky; 0.93 brings
# the summer clear-sky noon peak to ~965 W/m² (issue target: 900-1000 W/m²).
_CLEAR_SKY_FACTOR = 0.93
# Luminous efficacy of global daylight, lm/W: ~100-125 lm/W for most skies (Littlefair 1985,
# "The luminous efficacy of daylight: a review"); 110 lm/W turns 1000 W/m² into 110 klx.
LUMINOUS_EFFICACY = 110.0
# Diurnal temperature shape: minimum at 06:00, maximum at 14:00 local time (issue).
_T_MIN_HOUR = 6.0
_T_MAX_HOUR = 14.0
# Relative humidity falls by ~2.8 %-points per °C of diurnal warming: a 7 °C daily range then
# swings RH by ~20 points (≈92 % at dawn, ≈72 % mid-afternoon), as at delta stations.
_RH_PER_DEGREE = 2.8

# ---- weather episodes (heat waves, typhoon-like storms) -----------------------------------
# Heat bands of the Vietnamese hydro-meteorological service (agronomy.md §7): nắng nóng
# Tmax 35-37 °C, gay gắt 37-39 °C, đặc biệt gay gắt ≥ 39 °C.
HEAT_BAND_TMAX = (35.0, 37.0, 39.0)
# Heat waves in the northern delta come with the dry south-west "gió Lào" from May to August,
# most in June-July; two to four a summer, each three to seven days, is what the delta's
# summers show in the national centre's bulletins (an approximation, not a station record).
HEAT_WAVE_SEASON = ((5, 1), (8, 20))  # (month, day) of the first and last possible start
HEAT_WAVE_COUNT = (2, 4)
HEAT_WAVE_DAYS = (3, 7)
# How often each band is the wave's peak (weights), and the peak Tmax drawn inside the band.
HEAT_WAVE_BANDS = ((0.5, 35.5, 36.5), (0.35, 37.5, 38.5), (0.15, 39.5, 40.5))
HEAT_WAVE_RAMP_H = 24.0
# Typhoon-like storms reach the Red River Delta from July to mid-October, most in August and
# September; 0-3 a year (mean ≈ 1.3). A storm crossing the delta drops ~100-300 mm over two to
# three days with winds of cấp 7-11 (14-32 m/s) inland and a central pressure of ~975-995 hPa
# (approximate figures of the storm bulletins for northern Vietnam, not station data).
TYPHOON_SEASON = ((7, 1), (10, 15))
TYPHOON_PEAK = (9, 1)
TYPHOON_COUNT_WEIGHTS = (0.2, 0.4, 0.3, 0.1)  # P(0), P(1), P(2), P(3) storms a year
TYPHOON_HOURS = (36.0, 72.0)
TYPHOON_RAIN_MM = (100.0, 300.0)
TYPHOON_WIND_MS = (14.0, 32.0)
TYPHOON_PRESSURE_DROP_HPA = (15.0, 35.0)
# The storms' share of the monthly normals, mm (≈1.3 storms × 200 mm spread over the season
# like TYPHOON_PEAK's triangular draw): the smooth background rain is the normal minus this.
_TYPHOON_MONTHLY_MM = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 52.0, 104.0, 86.0, 18.0, 0.0, 0.0)
# The episodes' net share of the monthly mean temperature, °C, measured over 80 seeded years
# (heat waves: ~17 % of May-August days, ~4 °C above the background; storms cool September).
_EPISODE_MONTHLY_C = (0.0, 0.0, 0.0, 0.0, 0.45, 0.6, 0.5, 0.3, -0.15, 0.0, 0.0, 0.0)
# The afternoon's fast fluctuation lifts a day's sampled maximum ~0.5 °C above the smooth one.
_FAST_PEAK_C = 0.5
# Mean wind at 2 m, m/s, and mean sea-level pressure, hPa, by month (delta stations: a breezy
# north-east monsoon winter, the summer monsoon low). Only the storms vary them here.
MONTHLY_WIND_MS = (2.2, 2.1, 2.0, 2.1, 2.0, 1.9, 2.0, 1.8, 1.8, 2.0, 2.1, 2.2)
MONTHLY_PRESSURE_HPA = (
    1019.0, 1017.0, 1014.5, 1011.5, 1007.5, 1004.5, 1003.5, 1004.0, 1008.5, 1013.5, 1017.0, 1019.5,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Weather:
    """Outdoor weather at one instant, in the contract's canonical units."""

    ts: datetime
    air_temperature: float  # °C
    relative_humidity: float  # %
    solar_radiation: float  # W/m², global horizontal
    illuminance: float  # lx
    rain_rate: float  # mm/h
    cloud_cover: float  # 0..1
    sun_elevation: float  # degrees above the horizon (negative at night)
    wind_speed: float = 2.0  # m/s at 2 m
    air_pressure: float = 1010.0  # hPa, sea level


class EpisodeKind(StrEnum):
    """Weather episodes the climate draws for each year."""

    HEAT_WAVE = "heat_wave"
    TYPHOON = "typhoon"


@dataclass(frozen=True, slots=True)
class Episode:
    """One seeded heat wave or storm: ``[start, end)`` in UTC, at full strength inside.

    A heat wave ramps in and out over :data:`HEAT_WAVE_RAMP_H` on both sides of the window and
    brings the afternoon maximum to ``peak_tmax``; a storm's rain is a bell (sin²) over the
    window totalling ``rain_mm``, with wind and pressure drop peaking in its middle.
    """

    kind: EpisodeKind
    start: datetime
    end: datetime
    peak_tmax: float = 0.0  # heat wave: °C
    rain_mm: float = 0.0  # storm: total rain of the bell
    wind_ms: float = 0.0  # storm: peak wind
    pressure_drop: float = 0.0  # storm: hPa at the peak

    def reach(self) -> tuple[datetime, datetime]:
        """When it acts at all (a heat wave's ramps lie outside its window)."""
        if self.kind is EpisodeKind.HEAT_WAVE:
            ramp = timedelta(hours=HEAT_WAVE_RAMP_H)
            return self.start - ramp, self.end + ramp
        return self.start, self.end

    def weight(self, ts: datetime) -> float:
        """Strength at ``ts`` in [0, 1]: heat waves a smooth plateau, storms a sine bell."""
        if self.kind is EpisodeKind.TYPHOON:
            if not self.start <= ts < self.end:
                return 0.0
            return math.sin(math.pi * (ts - self.start) / (self.end - self.start))
        ramp_s = HEAT_WAVE_RAMP_H * 3600.0
        if ts < self.start:
            x = 1.0 - (self.start - ts).total_seconds() / ramp_s
        elif ts >= self.end:
            x = 1.0 - (ts - self.end).total_seconds() / ramp_s
        else:
            return 1.0
        return 0.0 if x <= 0.0 else 0.5 - 0.5 * math.cos(math.pi * x)

    def rain_rate(self, ts: datetime) -> float:
        """A storm's own rain in mm/h at ``ts`` (a sin² bell integrating to ``rain_mm``)."""
        if self.kind is not EpisodeKind.TYPHOON or not self.start <= ts < self.end:
            return 0.0
        hours = (self.end - self.start).total_seconds() / 3600.0
        return 2.0 * self.rain_mm / hours * self.weight(ts) ** 2


class HeatBand(StrEnum):
    """The Vietnamese heat bands by daily maximum temperature (agronomy.md §7)."""

    NANG_NONG = "nang_nong"  # 35 <= Tmax < 37 °C
    GAY_GAT = "gay_gat"  # 37 <= Tmax < 39 °C
    DAC_BIET_GAY_GAT = "dac_biet_gay_gat"  # Tmax >= 39 °C


def heat_band(tmax: float) -> HeatBand | None:
    """The heat band of a day's maximum temperature, or None below 35 °C.

    >>> [heat_band(t) for t in (34.9, 35.0, 38.2, 39.0)]
    [None, <HeatBand.NANG_NONG: 'nang_nong'>, <HeatBand.GAY_GAT: 'gay_gat'>, \
<HeatBand.DAC_BIET_GAY_GAT: 'dac_biet_gay_gat'>]
    """
    if tmax >= HEAT_BAND_TMAX[2]:
        return HeatBand.DAC_BIET_GAY_GAT
    if tmax >= HEAT_BAND_TMAX[1]:
        return HeatBand.GAY_GAT
    if tmax >= HEAT_BAND_TMAX[0]:
        return HeatBand.NANG_NONG
    return None


# Daily rain of "mưa rất to" (very heavy rain) in the national forecasting scale: > 50 mm/24 h.
HEAVY_RAIN_MM = 50.0


@dataclass(frozen=True, slots=True)
class DayClass:
    """One local (UTC+7) day of weather, classified the way the bulletins speak of it."""

    day: date
    tmax: float
    tmean: float
    rain_mm: float
    max_wind_ms: float
    min_pressure: float
    heat: HeatBand | None  # by Tmax
    heavy_rain: bool  # rain > 50 mm
    typhoon: bool  # a storm episode acts on this day


class SmoothNoise:
    """A seeded, smooth, zero-mean, unit-variance random function of time (in hours).

    A sum of ``terms`` sinusoids with log-uniformly spread periods between ``min_period_h`` and
    ``max_period_h`` and random phases, all of equal amplitude so that, by the central limit
    theorem, values are close to standard normal. Used for weather anomalies and slow sensor and
    process drifts.

    >>> import random
    >>> noise = SmoothNoise(random.Random(1), 2.0, 48.0)
    >>> noise(1000.0) == SmoothNoise(random.Random(1), 2.0, 48.0)(1000.0)
    True
    """

    __slots__ = ("_amplitude", "_omegas", "_phases")

    def __init__(
        self, rng: random.Random, min_period_h: float, max_period_h: float, terms: int = 16
    ) -> None:
        if not 0 < min_period_h <= max_period_h:
            raise ValueError("need 0 < min_period_h <= max_period_h")
        if terms < 1:
            raise ValueError("need at least one term")
        low, high = math.log(min_period_h), math.log(max_period_h)
        self._omegas = tuple(2.0 * math.pi / math.exp(rng.uniform(low, high)) for _ in range(terms))
        self._phases = tuple(rng.uniform(0.0, 2.0 * math.pi) for _ in range(terms))
        # Each sinusoid of amplitude a has variance a²/2; n of them sum to n a²/2 = 1.
        self._amplitude = math.sqrt(2.0 / terms)

    def __call__(self, hours: float) -> float:
        sin = math.sin
        return self._amplitude * sum(
            [sin(w * hours + p) for w, p in zip(self._omegas, self._phases, strict=True)]
        )


def _check_aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone; pass an aware UTC time")
    return ts.astimezone(UTC)


def epoch_hours(ts: datetime) -> float:
    """Hours since the Unix epoch: the time axis of every smooth noise."""
    return _check_aware(ts).timestamp() / 3600.0


def local_time(ts: datetime) -> datetime:
    """The Vietnam wall-clock time (UTC+7) of an aware timestamp, as a naive datetime.

    >>> local_time(datetime(2026, 1, 1, 23, 30, tzinfo=UTC))
    datetime.datetime(2026, 1, 2, 6, 30)
    """
    return (_check_aware(ts) + UTC_OFFSET).replace(tzinfo=None)


def local_hour(ts: datetime) -> float:
    """Fractional local hour of day, 0 <= h < 24.

    >>> local_hour(datetime(2026, 1, 1, 23, 30, tzinfo=UTC))
    6.5
    """
    t = local_time(ts)
    return t.hour + t.minute / 60.0 + (t.second + t.microsecond / 1e6) / 3600.0


@dataclass(frozen=True, slots=True)
class _Instant:
    """Everything about an instant that the weather needs, computed once per evaluation."""

    ts: datetime
    hours: float  # since the Unix epoch
    local_hour: float
    month: int  # 0 = January
    season_index: int  # monthly value to the left (mid-month anchors) ...
    season_frac: float  # ... and the weight of the one to the right

    @classmethod
    def of(cls, ts: datetime) -> _Instant:
        ts = _check_aware(ts)
        local = (ts + UTC_OFFSET).replace(tzinfo=None)
        hour = local.hour + local.minute / 60.0 + (local.second + local.microsecond / 1e6) / 3600.0
        year_days = 366.0 if _is_leap(local.year) else 365.0
        day = local.timetuple().tm_yday - 1 + hour / 24.0
        position = day / year_days * 12.0 - 0.5  # 0.0 = mid-January, 11.0 = mid-December
        low = math.floor(position)
        return cls(ts, ts.timestamp() / 3600.0, hour, local.month - 1, low, position - low)

    def seasonal(self, monthly: tuple[float, ...]) -> float:
        """Periodic linear interpolation of monthly values anchored at mid-month."""
        left = monthly[self.season_index % 12]
        right = monthly[(self.season_index + 1) % 12]
        return left * (1.0 - self.season_frac) + right * self.season_frac


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def sun_elevation(ts: datetime, latitude: float, longitude: float) -> float:
    """Solar elevation angle in degrees (negative below the horizon).

    NOAA "General Solar Position Calculations" (Spencer 1971 Fourier series for declination and
    the equation of time); accurate to a fraction of a degree, plenty for irradiance.

    >>> # Hải Dương at local solar noon near the June solstice: 90 - |20.94 - 23.44| ≈ 87.5°
    >>> round(sun_elevation(datetime(2026, 6, 21, 4, 56, tzinfo=UTC), 20.94, 106.33), 1)
    87.5
    >>> sun_elevation(datetime(2026, 6, 21, 16, 0, tzinfo=UTC), 20.94, 106.33) < 0  # 23:00
    True
    """
    ts = _check_aware(ts)
    utc_hour = ts.hour + ts.minute / 60.0 + ts.second / 3600.0
    year_days = 366 if _is_leap(ts.year) else 365
    gamma = 2.0 * math.pi / year_days * (ts.timetuple().tm_yday - 1 + (utc_hour - 12.0) / 24.0)
    eot_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_min = utc_hour * 60.0 + eot_min + 4.0 * longitude
    hour_angle = math.radians(true_solar_min / 4.0 - 180.0)
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, cos_zenith))))


def clear_sky_irradiance(elevation_deg: float) -> float:
    """Clear-sky global horizontal irradiance, W/m² (Haurwitz 1945, scaled for a hazy sky).

    >>> clear_sky_irradiance(-5.0)
    0.0
    >>> 900 < clear_sky_irradiance(88.0) < 1000
    True
    """
    sin_e = math.sin(math.radians(elevation_deg))
    if sin_e <= 0.01:
        return 0.0
    return _CLEAR_SKY_FACTOR * _HAURWITZ_A * sin_e * math.exp(-_HAURWITZ_B / sin_e)


def cloud_transmission(cloud_cover: float) -> float:
    """Fraction of clear-sky irradiance reaching the ground under a cloud cover of 0..1.

    Kasten & Czeplak (1980): G/G_clear = 1 - 0.75 C^3.4 (C in oktas / 8).

    >>> cloud_transmission(0.0), round(cloud_transmission(1.0), 2)
    (1.0, 0.25)
    """
    cover = max(0.0, min(1.0, cloud_cover))
    return 1.0 - 0.75 * math.pow(cover, 3.4)


def diurnal_shape(hour: float) -> float:
    """Diurnal temperature shape in [-1, 1]: -1 at 06:00, +1 at 14:00 local time.

    Half a cosine rising over the 8 morning hours, half a cosine falling over the 16 others, so
    the shape averages to zero over a day (the daily mean stays the seasonal mean).

    >>> diurnal_shape(6.0), diurnal_shape(14.0), round(diurnal_shape(22.0), 6)
    (-1.0, 1.0, 0.0)
    """
    rise = _T_MAX_HOUR - _T_MIN_HOUR
    h = (hour - _T_MIN_HOUR) % 24.0
    if h <= rise:
        return -math.cos(math.pi * h / rise)
    return math.cos(math.pi * (h - rise) / (24.0 - rise))


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF by bisection (only used on 12 monthly values)."""
    low, high = -8.0, 8.0
    for _ in range(60):
        mid = (low + high) / 2.0
        if _normal_cdf(mid) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def _mean_excess(threshold: float) -> float:
    """E[max(0, Z - θ)] for a standard normal Z."""
    pdf = math.exp(-threshold * threshold / 2.0) / math.sqrt(2.0 * math.pi)
    return pdf - threshold * (1.0 - _normal_cdf(threshold))


class Climate:
    """Seeded outdoor weather for Hải Dương as a pure function of UTC time.

    Rain is ``scale × max(0, z(t) - θ)`` of a smooth, near-Gaussian noise ``z``: the monthly
    threshold θ makes it rain the right fraction of hours, and the scale (from the Gaussian mean
    excess) gives the monthly total on average. Clouds, temperature and humidity respond to the
    same rain driver so a shower is also a cool, grey, humid hour.
    """

    def __init__(
        self,
        seed: int = 1,
        latitude: float = HAI_DUONG_LATITUDE,
        longitude: float = HAI_DUONG_LONGITUDE,
    ) -> None:
        self.seed = seed
        self.latitude = latitude
        self.longitude = longitude

        def stream(name: str) -> random.Random:
            # str seeds are hashed with SHA-512: stable across runs and PYTHONHASHSEED.
            return random.Random(f"farmwatch-climate/{seed}/{name}")

        self._synoptic = SmoothNoise(stream("synoptic"), 36.0, 20 * 24.0)
        self._fast = SmoothNoise(stream("fast"), 1.0, 8.0, terms=8)
        self._clouds = SmoothNoise(stream("clouds"), 6.0, 5 * 24.0)
        self._rain = SmoothNoise(stream("rain"), 2.0, 3 * 24.0, terms=24)
        self._humid = SmoothNoise(stream("humid"), 24.0, 10 * 24.0, terms=10)
        thresholds = [_normal_quantile(1.0 - f) for f in MONTHLY_RAIN_FRACTION]
        self._rain_threshold = tuple(thresholds)
        self._rain_scale = tuple(
            (mm - storms) / (30.4 * 24.0 * _mean_excess(th))
            for mm, storms, th in zip(MONTHLY_RAIN_MM, _TYPHOON_MONTHLY_MM, thresholds, strict=True)
        )
        self._background_mean = tuple(
            t - hw for t, hw in zip(MONTHLY_MEAN_TEMPERATURE, _EPISODE_MONTHLY_C, strict=True)
        )
        self._episodes: dict[int, tuple[Episode, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"Climate(seed={self.seed!r}, latitude={self.latitude!r}, longitude={self.longitude!r})"
        )

    def episodes(self, year: int) -> tuple[Episode, ...]:
        """The heat waves and storms of a year, drawn from the seed (and memoised: pure)."""
        found = self._episodes.get(year)
        if found is None:
            found = self._episodes[year] = _draw_episodes(self.seed, year)
        return found

    def _active(self, at: _Instant) -> tuple[float, Episode | None, Episode | None]:
        """(heat-wave weight, the heat wave, the storm) acting at an instant."""
        heat: Episode | None = None
        storm: Episode | None = None
        weight = 0.0
        for episode in self.episodes(at.ts.year):
            first, last = episode.reach()
            if not first <= at.ts < last:
                continue
            if episode.kind is EpisodeKind.HEAT_WAVE:
                w = episode.weight(at.ts)
                if w > weight:
                    heat, weight = episode, w
            else:
                storm = episode
        return weight, heat, storm

    def rain_rate(self, ts: datetime) -> float:
        """Rain intensity in mm/h at ``ts`` (0 most of the time)."""
        at = _Instant.of(ts)
        heat_w, _, storm = self._active(at)
        rain = self._rain_scale[at.month] * max(0.0, self._rain_excess(at) - 3.0 * heat_w)
        return rain + (storm.rain_rate(at.ts) if storm is not None else 0.0)

    def _rain_excess(self, at: _Instant) -> float:
        return self._rain(at.hours) - self._rain_threshold[at.month]

    def rain_between(self, start: datetime, end: datetime, step_s: float = 300.0) -> float:
        """Rain in mm that fell between two instants (midpoint rule, steps of ``step_s``)."""
        start, end = _check_aware(start), _check_aware(end)
        seconds = (end - start).total_seconds()
        if seconds <= 0:
            return 0.0
        steps = max(1, math.ceil(seconds / step_s))
        dt = seconds / steps
        total = 0.0
        for i in range(steps):
            total += self.rain_rate(start + timedelta(seconds=(i + 0.5) * dt)) * dt / 3600.0
        return total

    def baseline_temperature(self, ts: datetime) -> float:
        """Seasonal mean plus the synoptic anomaly: the day's mean temperature around ``ts``."""
        return self._baseline(_Instant.of(ts))

    def _baseline(self, at: _Instant) -> float:
        """The background day mean (episodes not included; see :meth:`at`)."""
        sd = at.seasonal(MONTHLY_ANOMALY_SD)
        return at.seasonal(self._background_mean) + sd * self._synoptic(at.hours)

    def at(self, ts: datetime) -> Weather:
        """The outdoor weather at ``ts`` (an aware datetime; converted to UTC)."""
        at = _Instant.of(ts)
        heat_w, heat, storm = self._active(at)
        storm_w = storm.weight(at.ts) if storm is not None else 0.0
        # A heat wave's subsiding, dry air suppresses showers; a storm brings its own rain.
        rain_excess = self._rain_excess(at) - 3.0 * heat_w
        rain = self._rain_scale[at.month] * max(0.0, rain_excess)
        if storm is not None:
            rain += storm.rain_rate(at.ts)
        raining = min(1.0, rain / 2.0)

        # Cloud cover: the month's mean shifted by a smooth anomaly, overcast when rain is near;
        # clear under a heat wave, a thick deck under a storm.
        mean_cloud = at.seasonal(MONTHLY_CLOUD_COVER)
        logit = math.log(mean_cloud / (1.0 - mean_cloud)) + 1.3 * self._clouds(at.hours)
        logit += 2.5 * max(0.0, rain_excess + 0.7) - 3.0 * heat_w + 6.0 * storm_w
        cloud = 1.0 / (1.0 + math.exp(-logit))

        # Temperature: the day's baseline plus a diurnal swing that shrinks under cloud.
        baseline = self._baseline(at)
        swing = at.seasonal(MONTHLY_DIURNAL_RANGE) * (1.0 + 0.8 * (mean_cloud - cloud))
        swing = max(1.5, swing)
        if heat is not None:
            # Bend the day's mean towards the one whose afternoon peak is the wave's Tmax.
            wave_mean = heat.peak_tmax - _FAST_PEAK_C - swing / 2.0
            baseline += heat_w * (wave_mean - baseline)
        baseline -= 2.5 * storm_w
        temperature = baseline + swing / 2.0 * diurnal_shape(at.local_hour)
        temperature += 0.3 * self._fast(at.hours) - 1.5 * raining
        temperature = max(1.0, min(42.0, temperature))

        # Humidity: inverse to the diurnal warming, up in rain, with multi-day moist/dry spells;
        # the gió Lào of a heat wave is dry.
        humidity = at.seasonal(MONTHLY_MEAN_HUMIDITY)
        humidity -= _RH_PER_DEGREE * (temperature - baseline)
        humidity += 4.0 * self._humid(at.hours) + 10.0 * raining - 8.0 * heat_w
        humidity = max(35.0, min(99.0, humidity))

        wind = at.seasonal(MONTHLY_WIND_MS) * (1.0 + 0.5 * heat_w)
        pressure = at.seasonal(MONTHLY_PRESSURE_HPA)
        if storm is not None:
            wind = max(wind, storm.wind_ms * storm_w)
            pressure -= storm.pressure_drop * storm_w * storm_w

        elevation = sun_elevation(at.ts, self.latitude, self.longitude)
        solar = clear_sky_irradiance(elevation) * cloud_transmission(cloud)
        return Weather(
            ts=at.ts,
            air_temperature=temperature,
            relative_humidity=humidity,
            solar_radiation=solar,
            illuminance=solar * LUMINOUS_EFFICACY,
            rain_rate=rain,
            cloud_cover=cloud,
            sun_elevation=elevation,
            wind_speed=wind,
            air_pressure=pressure,
        )

    def daily_mean_temperature(self, day: date, samples: int = 24) -> float:
        """Mean air temperature of a local (UTC+7) calendar day, from ``samples`` even samples.

        This is the number the Vietnamese cold definitions use (agronomy.md §7: rét đậm when
        the daily mean is ≤ 15 °C, rét hại when ≤ 13 °C).
        """
        start = datetime.combine(day, time(0), tzinfo=UTC) - UTC_OFFSET
        step = timedelta(hours=24) / samples
        return (
            sum(self.at(start + step * (i + 0.5)).air_temperature for i in range(samples)) / samples
        )

    def classify_day(self, day: date, samples: int = 48) -> DayClass:
        """Classify a local (UTC+7) day: Tmax heat band, rain total, storm, from ``samples``
        even samples (Tmax and rain from sampling, so within a few tenths of the true ones).

        >>> from datetime import date
        >>> winter = Climate(seed=3).classify_day(date(2026, 1, 15))
        >>> winter.heat is None and not winter.typhoon
        True
        """
        start = datetime.combine(day, time(0), tzinfo=UTC) - UTC_OFFSET
        step = timedelta(hours=24) / samples
        weather = [self.at(start + step * (i + 0.5)) for i in range(samples)]
        tmax = max(w.air_temperature for w in weather)
        rain = sum(w.rain_rate for w in weather) * 24.0 / samples
        end = start + timedelta(hours=24)
        typhoon = any(
            e.kind is EpisodeKind.TYPHOON and e.start < end and start < e.end
            for year in {start.year, end.year}
            for e in self.episodes(year)
        )
        return DayClass(
            day=day,
            tmax=tmax,
            tmean=sum(w.air_temperature for w in weather) / samples,
            rain_mm=rain,
            max_wind_ms=max(w.wind_speed for w in weather),
            min_pressure=min(w.air_pressure for w in weather),
            heat=heat_band(tmax),
            heavy_rain=rain > HEAVY_RAIN_MM,
            typhoon=typhoon,
        )


def _local_start(year: int, month_day: tuple[int, int]) -> datetime:
    """00:00 Vietnam time of a (month, day) of ``year``, in UTC."""
    return datetime(year, *month_day, tzinfo=UTC) - UTC_OFFSET


def _pick_band(weight: float) -> tuple[float, float]:
    """The Tmax range of the band a uniform ``weight`` in [0, 1) falls in."""
    for share, low, high in HEAT_WAVE_BANDS:
        if weight < share:
            return low, high
        weight -= share
    return HEAT_WAVE_BANDS[-1][1:]


def _draw_episodes(seed: int, year: int) -> tuple[Episode, ...]:
    """A year's heat waves and storms, from their own seeded stream (see the constants)."""
    rng = random.Random(f"farmwatch-climate/{seed}/episodes/{year}")
    out: list[Episode] = []
    day = timedelta(days=1)

    first, last = (_local_start(year, md) for md in HEAT_WAVE_SEASON)
    season_days = (last - first).days
    waves = rng.randint(*HEAT_WAVE_COUNT)
    for _ in range(waves):
        for _attempt in range(20):  # redraw a wave that would touch another (with its ramps)
            start = first + day * rng.randrange(season_days + 1) + timedelta(hours=10)
            end = start + day * rng.randint(*HEAT_WAVE_DAYS)
            gap = timedelta(hours=2 * HEAT_WAVE_RAMP_H + 24)
            if all(end + gap <= e.start or e.end + gap <= start for e in out):
                break
        else:
            continue
        low, high = _pick_band(rng.random())
        out.append(Episode(EpisodeKind.HEAT_WAVE, start, end, peak_tmax=rng.uniform(low, high)))

    first, last = (_local_start(year, md) for md in TYPHOON_SEASON)
    peak = _local_start(year, TYPHOON_PEAK)
    storms = rng.choices(range(len(TYPHOON_COUNT_WEIGHTS)), TYPHOON_COUNT_WEIGHTS)[0]
    placed: list[Episode] = []
    for _ in range(storms):
        for _attempt in range(20):
            offset_days = rng.triangular(0.0, (last - first).days, (peak - first).days)
            start = first + timedelta(days=offset_days)
            end = start + timedelta(hours=rng.uniform(*TYPHOON_HOURS))
            # Apart from other storms, and a storm does not blow through a heat wave.
            apart = all(end + 3 * day <= e.start or e.end + 3 * day <= start for e in placed)
            if apart and all(end + 3 * day <= e.reach()[0] or e.reach()[1] <= start for e in out):
                break
        else:
            continue
        placed.append(
            Episode(
                EpisodeKind.TYPHOON,
                start,
                end,
                rain_mm=rng.uniform(*TYPHOON_RAIN_MM),
                wind_ms=rng.uniform(*TYPHOON_WIND_MS),
                pressure_drop=rng.uniform(*TYPHOON_PRESSURE_DROP_HPA),
            )
        )
    return tuple(sorted(out + placed, key=lambda e: e.start))
