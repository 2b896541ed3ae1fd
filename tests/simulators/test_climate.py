"""The Hải Dương climate driver: reproducible, seasonal, diurnal, and physically bounded."""

from __future__ import annotations

import doctest
import importlib
import math
import statistics
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from farmwatch_core.contract import QUANTITIES
from farmwatch_simulators.climate import (
    Climate,
    Weather,
    clear_sky_irradiance,
    diurnal_shape,
    local_hour,
    sun_elevation,
)
from hypothesis import given, settings
from hypothesis import strategies as st

VN = timedelta(hours=7)
SEEDS = (1, 2, 3)


def local_midnight(year: int, month: int, day: int) -> datetime:
    """UTC instant of 00:00 Vietnam time."""
    return datetime(year, month, day, tzinfo=UTC) - VN


def hourly(climate: Climate, start: datetime, hours: int) -> list[Weather]:
    return [climate.at(start + timedelta(hours=h, minutes=30)) for h in range(hours)]


# Hypothesis wants naive bounds and attaches the time zone itself.
instants = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
seeds = st.integers(min_value=0, max_value=2**32)


@given(seed=seeds, ts=instants)
@settings(max_examples=300)
def test_weather_is_physical_and_inside_contract_bounds(seed: int, ts: datetime) -> None:
    w = Climate(seed).at(ts)
    for name, value in (
        ("air_temperature", w.air_temperature),
        ("relative_humidity", w.relative_humidity),
        ("solar_radiation", w.solar_radiation),
        ("illuminance", w.illuminance),
    ):
        q = QUANTITIES[name]
        assert math.isfinite(value)
        assert q.low <= value <= q.high, (name, value)
    # Hải Dương's records lie within roughly 2-41 °C; the driver must not invent tropics or tundra.
    assert 0.0 <= w.air_temperature <= 42.0
    assert 0.0 <= w.cloud_cover <= 1.0
    assert w.rain_rate >= 0.0
    assert w.solar_radiation <= 1000.0
    if w.sun_elevation <= 0:
        assert w.solar_radiation == 0.0
        assert w.illuminance == 0.0


@given(seed=seeds, ts=instants)
@settings(max_examples=100, deadline=None)
def test_same_seed_and_time_give_the_same_weather_whatever_came_before(
    seed: int, ts: datetime
) -> None:
    fresh = Climate(seed).at(ts)
    used = Climate(seed)
    used.at(ts + timedelta(days=3))  # evaluation order must not matter: a pure function of time
    used.at(ts - timedelta(hours=5))
    assert used.at(ts) == fresh
    # The same instant written in Vietnam time is the same instant.
    assert used.at(ts.astimezone(timezone(VN))) == fresh


def test_different_seeds_give_different_weather() -> None:
    ts = datetime(2026, 3, 10, 3, tzinfo=UTC)
    temperatures = {round(Climate(seed).at(ts).air_temperature, 6) for seed in range(10)}
    assert len(temperatures) == 10


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Climate(1).at(datetime(2026, 1, 1, 12))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize("seed", SEEDS)
def test_monthly_means_follow_the_delta_climate(seed: int) -> None:
    climate = Climate(seed)
    january = statistics.fmean(
        w.air_temperature for w in hourly(climate, local_midnight(2026, 1, 1), 31 * 24)
    )
    july = statistics.fmean(
        w.air_temperature for w in hourly(climate, local_midnight(2026, 7, 1), 31 * 24)
    )
    # Issue targets: January 16-17 °C, July 29-30 °C; a month of weather may stray a little.
    assert 15.0 <= january <= 18.5
    assert 28.3 <= july <= 30.8


@pytest.mark.parametrize("month", [1, 4, 7, 10])
def test_diurnal_cycle_has_its_minimum_near_dawn_and_maximum_mid_afternoon(month: int) -> None:
    by_hour: list[list[float]] = [[] for _ in range(24)]
    for seed in SEEDS:
        start = local_midnight(2026, month, 1)
        for index, w in enumerate(hourly(Climate(seed), start, 28 * 24)):
            by_hour[index % 24].append(w.air_temperature)
    profile = [statistics.fmean(values) for values in by_hour]
    assert profile.index(min(profile)) in (5, 6, 7)
    assert profile.index(max(profile)) in (13, 14, 15)


def test_humidity_is_high_at_dawn_and_lowest_in_the_afternoon() -> None:
    climate = Climate(4)
    weather = hourly(climate, local_midnight(2026, 5, 1), 30 * 24)
    dawn = statistics.fmean(w.relative_humidity for i, w in enumerate(weather) if i % 24 == 6)
    afternoon = statistics.fmean(w.relative_humidity for i, w in enumerate(weather) if i % 24 == 14)
    assert dawn > afternoon + 10
    correlation = statistics.correlation(
        [w.air_temperature for w in weather], [w.relative_humidity for w in weather]
    )
    assert correlation < -0.5
    deciles = statistics.quantiles([w.relative_humidity for w in weather], n=10)
    assert deciles[0] >= 65
    assert deciles[-1] <= 99


def test_solar_radiation_follows_the_sun() -> None:
    climate = Climate(1)
    june = hourly(climate, local_midnight(2026, 6, 1), 30 * 24)
    assert all(w.solar_radiation == 0.0 for w in june if w.sun_elevation < 0)
    assert all(
        w.illuminance == pytest.approx(w.solar_radiation * 110.0) for w in june
    )  # lux from W/m² at the daylight efficacy
    peak = max(w.solar_radiation for w in june)
    assert 850.0 <= peak <= 1000.0  # clear-sky summer noon in a hazy delta
    noon = [w.solar_radiation for i, w in enumerate(june) if i % 24 == 11]
    night = [w.solar_radiation for i, w in enumerate(june) if i % 24 in (22, 23, 0, 1, 2, 3)]
    assert statistics.fmean(noon) > 300.0
    assert max(night) == 0.0


def test_clear_sky_summer_noon_is_brighter_than_winter_noon() -> None:
    summer = clear_sky_irradiance(
        sun_elevation(datetime(2026, 6, 21, 4, 56, tzinfo=UTC), 20.94, 106.33)
    )
    winter = clear_sky_irradiance(
        sun_elevation(datetime(2026, 12, 21, 4, 52, tzinfo=UTC), 20.94, 106.33)
    )
    assert 900.0 <= summer <= 1000.0
    assert 550.0 <= winter <= 750.0


@given(ts=instants, lat=st.floats(-60, 60), lon=st.floats(-180, 180))
def test_sun_elevation_is_an_angle(ts: datetime, lat: float, lon: float) -> None:
    assert -90.0 <= sun_elevation(ts, lat, lon) <= 90.0


@given(hour=st.floats(0, 24, exclude_max=True))
def test_diurnal_shape_stays_within_its_range(hour: float) -> None:
    assert -1.0 <= diurnal_shape(hour) <= 1.0


def test_diurnal_shape_averages_to_zero() -> None:
    assert statistics.fmean(diurnal_shape(i / 100) for i in range(2400)) == pytest.approx(
        0, abs=1e-3
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_rain_is_occasional_and_seasonal(seed: int) -> None:
    climate = Climate(seed)
    weather = hourly(climate, local_midnight(2026, 1, 1), 365 * 24)
    annual = sum(w.rain_rate for w in weather)  # hourly samples x 1 h
    rainy = sum(1 for w in weather if w.rain_rate > 0) / len(weather)
    assert 1000.0 <= annual <= 2300.0  # the delta gets ~1 500-1 600 mm
    assert 0.03 <= rainy <= 0.25
    start_may, start_oct = 120 * 24, 273 * 24
    wet = sum(w.rain_rate for w in weather[start_may:start_oct])
    assert wet > 0.6 * annual  # the monsoon season brings most of it
    raining = [w for w in weather if w.rain_rate > 1.0]
    dry = [w for w in weather if w.rain_rate == 0.0]
    assert statistics.fmean(w.cloud_cover for w in raining) > statistics.fmean(
        w.cloud_cover for w in dry
    )
    assert statistics.fmean(w.relative_humidity for w in raining) > statistics.fmean(
        w.relative_humidity for w in dry
    )


@given(
    seed=seeds,
    start=instants,
    first=st.floats(0, 48 * 3600),
    second=st.floats(0, 48 * 3600),
)
@settings(max_examples=50, deadline=None)
def test_rain_between_is_non_negative_and_additive(
    seed: int, start: datetime, first: float, second: float
) -> None:
    climate = Climate(seed)
    middle = start + timedelta(seconds=first)
    end = middle + timedelta(seconds=second)
    whole = climate.rain_between(start, end, step_s=60)
    parts = climate.rain_between(start, middle, step_s=60) + climate.rain_between(
        middle, end, step_s=60
    )
    assert whole >= 0.0
    assert whole == pytest.approx(parts, rel=0.05, abs=0.05)
    assert climate.rain_between(end, start) == 0.0


def test_cold_surges_bring_severe_cold_days_in_winter_only() -> None:
    severe_days = 0
    for seed in SEEDS:
        climate = Climate(seed)
        winter = [
            climate.daily_mean_temperature(date(2026, 1, 1) + timedelta(days=d)) for d in range(59)
        ]
        summer = [
            climate.daily_mean_temperature(date(2026, 6, 1) + timedelta(days=d)) for d in range(92)
        ]
        severe_days += sum(1 for t in winter if t <= 15.0)  # rét đậm (agronomy.md §7)
        assert min(summer) > 24.0
        assert max(winter) < 25.0
    assert 3 <= severe_days <= 90


def test_local_hour_is_vietnam_time() -> None:
    assert local_hour(datetime(2026, 1, 1, 17, 0, tzinfo=UTC)) == 0.0
    assert local_hour(datetime(2026, 1, 1, 7, 15, tzinfo=UTC)) == 14.25


@pytest.mark.parametrize(
    "module",
    [
        "farmwatch_simulators.climate",
        "farmwatch_simulators.models",
        "farmwatch_simulators.scenario",
        "farmwatch_simulators.runner",
    ],
)
def test_docstring_examples_of_the_simulators_hold(module: str) -> None:
    results = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert results.failed == 0
    assert results.attempted > 0
