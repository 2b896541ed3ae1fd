"""Properties of the agronomic indicators beyond their doctested reference values.

The doctests pin the published examples (FAO-56 Examples 18 and 19, Emerson's NH3 table, the
VPD check); these tests pin the shape: signs, bounds, monotonicity and conservation, over
Hypothesis-drawn inputs in the ranges Hải Dương farms see.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

from farmwatch_analytics.indicators import disease, thermal
from farmwatch_analytics.indicators.evapotranspiration import (
    DailyWeather,
    HourlyWeather,
    Site,
    et0_daily,
    et0_hargreaves,
    et0_hourly,
)
from farmwatch_analytics.indicators.humidity import (
    saturation_vapour_pressure,
    vapour_pressure_deficit,
)
from farmwatch_analytics.indicators.soil_water import SOIL_TEXTURES, WaterBalance
from farmwatch_analytics.indicators.water_quality import (
    do_percent_saturation,
    do_saturation,
    unionised_fraction,
)
from hypothesis import given
from hypothesis import strategies as st

HAI_DUONG = Site(latitude=20.94, longitude=106.33, altitude_m=5.0)
temperatures = st.floats(min_value=0.0, max_value=42.0)
humidities = st.floats(min_value=20.0, max_value=100.0)


@given(
    t_min=st.floats(min_value=5.0, max_value=28.0),
    spread=st.floats(min_value=0.5, max_value=14.0),
    rh=st.floats(min_value=30.0, max_value=95.0),
    wind=st.floats(min_value=0.0, max_value=6.0),
    sunshine=st.floats(min_value=0.0, max_value=11.0),
    day=st.integers(min_value=1, max_value=365),
)
def test_daily_et0_is_nonnegative_and_grows_with_sunshine(
    t_min: float, spread: float, rh: float, wind: float, sunshine: float, day: int
) -> None:
    def et0(hours: float) -> float:
        weather = DailyWeather(
            day_of_year=day,
            t_max=t_min + spread,
            t_min=t_min,
            wind_speed=wind,
            rh_mean=rh,
            sunshine_hours=hours,
        )
        return et0_daily(weather, HAI_DUONG)

    low, high = et0(sunshine * 0.5), et0(sunshine)
    assert 0.0 <= low <= high + 1e-12
    assert high < 15.0  # mm/day: beyond desert extremes


def test_daily_et0_in_the_red_river_delta_has_its_seasonal_shape() -> None:
    """Summer days evaporate about three times what winter days do (≈ 1.5 vs ≈ 4.5 mm/day)."""
    winter = et0_daily(
        DailyWeather(
            day_of_year=15, t_max=19.0, t_min=13.0, wind_speed=2.0, rh_mean=80.0, sunshine_hours=2.0
        ),
        HAI_DUONG,
    )
    summer = et0_daily(
        DailyWeather(
            day_of_year=196,
            t_max=34.0,
            t_min=27.0,
            wind_speed=2.0,
            rh_mean=78.0,
            sunshine_hours=7.0,
        ),
        HAI_DUONG,
    )
    assert 0.8 < winter < 2.5
    assert 3.5 < summer < 6.5
    assert summer > 2.0 * winter


def test_hourly_et0_sums_to_about_the_daily_value() -> None:
    """FAO-56 says summing hourly ET0 gives about the daily value on a clear day (§ Ch. 4)."""
    day = datetime(2026, 7, 15, tzinfo=UTC) - timedelta(hours=7)  # local midnight in UTC
    total = 0.0
    rs_total = 0.0
    for hour in range(24):
        local = hour + 0.5
        shape = max(0.0, math.sin(math.pi * (local - 6.0) / 12.0))
        temperature = 27.0 + 6.0 * math.sin(math.pi * (local - 9.0) / 12.0)
        rh = 90.0 - 20.0 * math.sin(math.pi * (local - 9.0) / 12.0)
        rs = 3.0 * shape * 0.8  # MJ/m²/h, a bright summer day (≈ 18 MJ/m²/day)
        rs_total += rs
        end = day + timedelta(hours=hour + 1)
        total += et0_hourly(HourlyWeather(end, temperature, rh, 2.0, rs), HAI_DUONG)
    daily = et0_daily(
        DailyWeather(
            day_of_year=196,
            t_max=33.0,
            t_min=21.0,
            wind_speed=2.0,
            rh_max=100.0,
            rh_min=70.0,
            solar_radiation_mj=rs_total,
        ),
        HAI_DUONG,
    )
    assert abs(total - daily) / daily < 0.25


@given(
    t_max=st.floats(min_value=15.0, max_value=40.0),
    spread=st.floats(min_value=0.0, max_value=15.0),
    day=st.integers(min_value=1, max_value=365),
)
def test_hargreaves_is_nonnegative_and_grows_with_the_daily_range(
    t_max: float, spread: float, day: int
) -> None:
    narrow = et0_hargreaves(t_max, t_max - spread / 2, HAI_DUONG.latitude, day)
    wide = et0_hargreaves(t_max, t_max - spread, HAI_DUONG.latitude, day)
    assert 0.0 <= narrow <= wide + 1e-12


@given(t=temperatures, rh1=humidities, rh2=humidities)
def test_vpd_falls_as_humidity_rises_and_stays_within_saturation(
    t: float, rh1: float, rh2: float
) -> None:
    low, high = sorted((rh1, rh2))
    assert 0.0 <= vapour_pressure_deficit(t, high) <= vapour_pressure_deficit(t, low)
    assert vapour_pressure_deficit(t, low) <= saturation_vapour_pressure(t)


@given(
    t=st.floats(min_value=5.0, max_value=38.0),
    ph1=st.floats(min_value=5.0, max_value=10.0),
    ph2=st.floats(min_value=5.0, max_value=10.0),
)
def test_toxic_ammonia_share_rises_with_ph_and_temperature(
    t: float, ph1: float, ph2: float
) -> None:
    low, high = sorted((ph1, ph2))
    assert 0.0 < unionised_fraction(t, low) <= unionised_fraction(t, high) < 1.0
    assert unionised_fraction(t, high) <= unionised_fraction(t + 2.0, high)


@given(t1=st.floats(min_value=0.0, max_value=40.0), t2=st.floats(min_value=0.0, max_value=40.0))
def test_warm_water_holds_less_oxygen(t1: float, t2: float) -> None:
    cold, warm = sorted((t1, t2))
    assert do_saturation(warm) <= do_saturation(cold) + 1e-9  # float rounding at equal t
    assert 6.0 < do_saturation(warm) < 14.7
    assert math.isclose(do_percent_saturation(do_saturation(warm), warm), 100.0)


@given(
    t_max=st.floats(min_value=-5.0, max_value=45.0), spread=st.floats(min_value=0.0, max_value=20.0)
)
def test_growing_degree_days_are_bounded_by_the_cut_offs(t_max: float, spread: float) -> None:
    t_min = t_max - spread
    plain = thermal.growing_degree_days(t_max, t_min, base=10.0)
    capped = thermal.growing_degree_days(t_max, t_min, base=10.0, upper=30.0)
    assert plain >= 0.0
    assert 0.0 <= capped <= 20.0
    assert thermal.growing_degree_days(t_max + 1.0, t_min + 1.0, base=10.0) >= plain


@given(t=st.floats(min_value=10.0, max_value=42.0), rh=humidities)
def test_pig_thi_is_the_nrc_index_in_celsius(t: float, rh: float) -> None:
    """The two published formulas differ only by the constant 26 vs 26.1 (1.8 × 14.5)."""
    assert abs(1.8 * thermal.thi_pig(t, rh) + 32.0 - thermal.thi_cattle(t, rh)) < 0.1


@given(
    t=st.floats(min_value=10.0, max_value=42.0),
    rh=humidities,
    warmer=st.floats(min_value=0.0, max_value=5.0),
)
def test_thi_bands_never_improve_when_it_gets_hotter(t: float, rh: float, warmer: float) -> None:
    order = list(thermal.ThiBand)
    for scale in thermal.THI_SCALES.values():
        now = scale.band(scale.index(t, rh))
        later = scale.band(scale.index(t + warmer, rh))
        assert order.index(later) >= order.index(now), scale.species


def test_a_hot_humid_hai_duong_afternoon_is_dangerous_for_pigs() -> None:
    assert thermal.PIG_THI.band(thermal.thi_pig(35.0, 75.0)) is thermal.ThiBand.EMERGENCY
    assert thermal.PIG_THI.band(thermal.thi_pig(22.0, 70.0)) is thermal.ThiBand.NORMAL


@given(means=st.lists(st.floats(min_value=5.0, max_value=35.0), min_size=1, max_size=30))
def test_cold_bands_are_ordered_by_temperature(means: list[float]) -> None:
    order = list(thermal.ColdBand)
    ranked = sorted(means)
    bands = [order.index(thermal.classify_cold(t)) for t in ranked]
    assert bands == sorted(bands, reverse=True)


@given(
    rain=st.lists(st.floats(min_value=0.0, max_value=80.0), min_size=1, max_size=60),
    etc=st.floats(min_value=0.0, max_value=8.0),
)
def test_water_balance_conserves_water_between_field_capacity_and_wilting_point(
    rain: list[float], etc: float
) -> None:
    wb = WaterBalance(SOIL_TEXTURES["silt_loam"], root_depth_m=0.6)
    taw = wb.taw
    withdrawn = 0.0
    for mm in rain:
        before = wb.depletion
        available = taw - before + mm  # water the crop can still take today
        used = min(etc, max(0.0, available)) if before + etc - mm > taw else etc
        withdrawn += used
        after = wb.step(rain_mm=mm, etc_mm=etc)
        assert 0.0 <= after <= taw
    # Water in = water out + change in storage (depletion is storage below field capacity).
    assert math.isclose(sum(rain), withdrawn + wb.deep_percolation - wb.depletion, abs_tol=1e-6)


def test_days_until_irrigation_counts_down_a_dry_spell() -> None:
    wb = WaterBalance(SOIL_TEXTURES["loam"], root_depth_m=0.4, p_table=0.5)
    forecasts = []
    for _ in range(10):
        forecasts.append(wb.days_until_irrigation(4.0))
        wb.step(rain_mm=0.0, etc_mm=4.0)
    assert forecasts[0] == wb.raw(4.0) / 4.0
    assert all(b <= a for a, b in itertools.pairwise(forecasts))
    assert forecasts[-1] == 0.0  # 64 mm TAW, RAW 32 mm: due after 8 days at 4 mm/day
    wb.observe_soil_moisture(SOIL_TEXTURES["loam"].field_capacity)
    assert wb.depletion == 0.0


@given(temps=st.lists(st.floats(min_value=10.0, max_value=27.5), min_size=1, max_size=6))
def test_downy_blight_risk_grows_with_a_longer_wet_spell(temps: list[float]) -> None:
    wet = [True] * len(temps)
    longer = disease.downy_blight_risk([*wet, True], [*temps, temps[-1]])
    shorter = disease.downy_blight_risk(wet, temps)
    assert 0.0 <= shorter <= 1.0
    if sum([*temps, temps[-1]]) / (len(temps) + 1) < disease.DOWNY_NO_RELEASE_C:
        assert longer >= shorter or longer == 1.0


@given(
    t=st.floats(min_value=0.0, max_value=50.0),
    rh=st.floats(min_value=0.0, max_value=100.0),
    rain=st.floats(min_value=0.0, max_value=100.0),
)
def test_blast_risk_is_zero_on_dry_days_and_bounded(t: float, rh: float, rain: float) -> None:
    risk = disease.rice_blast_risk(t, rh, rain)
    assert 0.0 <= risk <= 1.0
    if rh < 90.0 and rain < 5.0:
        assert risk == 0.0
