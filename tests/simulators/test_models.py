"""Node models: bounded, reproducible, and behaving like ponds, barns, greenhouses and fields."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_analytics.indicators.water_quality import do_saturation
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.registry import ModelType
from farmwatch_simulators.climate import Climate, local_hour, sun_elevation
from farmwatch_simulators.models import (
    HEALTH_QUANTITIES,
    MODEL_CLASSES,
    PROFILE_BY_MODEL_TYPE,
    GreenhouseModel,
    NodeModel,
    OrchardModel,
    PigBarnModel,
    PondWaterModel,
    PoultryHouseModel,
    RiceFieldModel,
    build_model,
    quantities_for,
    reference_et,
)
from hypothesis import given, settings
from hypothesis import strategies as st

VN = timedelta(hours=7)
PROFILES = sorted(MODEL_CLASSES)

# Realistic envelopes, much narrower than the contract's physical bounds: a model drifting out
# of these is broken even if ingest would still accept the value.
REALISTIC = {
    "water_temperature": (8.0, 38.0),
    "dissolved_oxygen": (0.5, 15.0),
    "ph": (6.5, 9.2),
    "total_ammonia_nitrogen": (0.1, 2.0),
    "air_temperature": (2.0, 45.0),
    "relative_humidity": (30.0, 100.0),
    "nh3": (0.0, 40.0),
    "co2": (300.0, 4000.0),
    "water_consumption": (0.0, 5000.0),
    "illuminance": (0.0, 120_000.0),
    "soil_moisture": (10.0, 60.0),
    "electrical_conductivity": (300.0, 6000.0),
    "soil_temperature": (5.0, 40.0),
    "rain": (0.0, 150.0),
    "leaf_wetness": (0.0, 100.0),
    "battery_voltage": (3.6, 4.25),
    "rssi": (-100.0, -60.0),
    # Clean-water and effluent stations.
    "free_chlorine": (0.0, 1.5),
    "turbidity": (0.0, 50.0),
    "tank_level": (0.0, 100.0),
    "water_flow": (0.0, 5000.0),
    "pump_state": (0.0, 1.0),
    "ammonium": (0.0, 300.0),
    "cod": (0.0, 800.0),
    "h2s": (0.0, 10.0),
}
# Where a station's medium differs from the farms': treated drinking water conducts far less
# than greenhouse substrate (QCVN 01-1 sets no EC limit; rural supplies run ~100-1 500 µS/cm).
REALISTIC_BY_PROFILE = {"water_station": {"electrical_conductivity": (100.0, 1500.0)}}


def realistic(profile: str, name: str) -> tuple[float, float]:
    return REALISTIC_BY_PROFILE.get(profile, {}).get(name, REALISTIC[name])


def local_time(year: int, month: int, day: int, hour: float = 0.0) -> datetime:
    """UTC instant of a Vietnam wall-clock time."""
    return datetime(year, month, day, tzinfo=UTC) - VN + timedelta(hours=hour)


def readings(
    model: NodeModel, start: datetime, step: timedelta, count: int
) -> Iterator[tuple[datetime, dict[str, float]]]:
    for i in range(count):
        ts = start + step * i
        yield ts, model.read(ts)


def series(
    model: NodeModel, start: datetime, step: timedelta, count: int
) -> list[tuple[datetime, dict[str, float]]]:
    return list(readings(model, start, step, count))


# ---------------------------------------------------------------- registry of models


def test_every_model_type_has_a_profile_and_reports_known_quantities() -> None:
    assert set(PROFILE_BY_MODEL_TYPE) == set(ModelType)
    for profile, cls in MODEL_CLASSES.items():
        assert cls.profile == profile
        assert quantities_for(profile) == cls.quantities
        assert set(HEALTH_QUANTITIES) <= set(cls.quantities)
        assert len(set(cls.quantities)) == len(cls.quantities)
        unknown = set(cls.quantities) - set(QUANTITIES)
        assert not unknown


def test_unknown_profiles_are_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ValueError, match="pond_water"):
        build_model("weather_station", Climate(1))


# ---------------------------------------------------------------- bounds over a year


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("profile", PROFILES)
def test_a_year_of_readings_stays_inside_contract_and_realistic_bounds(
    profile: str, seed: int
) -> None:
    step = timedelta(hours=3)
    model = build_model(
        profile, Climate(seed), seed=seed, name=f"{profile}-{seed}", interval_s=step.total_seconds()
    )
    count = 0
    for ts, values in readings(model, local_time(2026, 1, 1), step, 365 * 8):
        assert list(values) == list(model.quantities), ts
        for name, value in values.items():
            q = QUANTITIES[name]
            assert math.isfinite(value), (ts, name, value)
            assert q.low <= value <= q.high, (ts, name, value)
            low, high = realistic(profile, name)
            assert low <= value <= high, (ts, name, value)
        count += 1
    assert count == 365 * 8


@given(
    profile=st.sampled_from(PROFILES),
    seed=st.integers(0, 2**32),
    start=st.datetimes(
        datetime(2024, 1, 1),  # noqa: DTZ001 - Hypothesis wants naive bounds, adds the zone
        datetime(2030, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    gaps=st.lists(st.floats(0.0, 6 * 3600.0), min_size=1, max_size=40),
)
@settings(max_examples=40, deadline=None)
def test_any_reading_schedule_gives_bounded_readings(
    profile: str, seed: int, start: datetime, gaps: list[float]
) -> None:
    model = build_model(profile, Climate(seed), seed=seed, name="n", interval_s=60.0)
    ts = start
    for gap in gaps:
        ts += timedelta(seconds=gap)
        for name, value in model.read(ts).items():
            q = QUANTITIES[name]
            assert q.low <= value <= q.high, (name, value)
            low, high = realistic(profile, name)
            assert low <= value <= high, (name, value)


# ---------------------------------------------------------------- reproducibility and API


@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_name_and_times_give_the_same_readings(profile: str) -> None:
    start, step = local_time(2026, 4, 2, 5.5), timedelta(minutes=7)

    def run(name: str, seed: int = 5) -> list[dict[str, float]]:
        model = build_model(profile, Climate(seed), seed=seed, name=name)
        return [values for _, values in readings(model, start, step, 50)]

    assert run("a") == run("a")
    assert run("a") != run("b")  # every node is its own pond / barn / field
    assert run("a") != run("a", seed=6)


def test_time_must_not_go_backwards_and_must_be_aware() -> None:
    model = build_model("pond_water", Climate(1))
    ts = local_time(2026, 5, 1, 12)
    model.read(ts)
    model.read(ts)  # the same instant again is fine
    with pytest.raises(ValueError, match="backwards"):
        model.read(ts - timedelta(seconds=1))
    with pytest.raises(ValueError, match="time zone"):
        model.read(datetime(2026, 5, 1, 12))  # noqa: DTZ001 - the point of the test


def test_a_long_gap_restarts_the_state_like_after_a_power_cut() -> None:
    model = build_model("rice_field_soil", Climate(2), name="f")
    first = model.read(local_time(2026, 3, 1, 9))
    later = model.read(local_time(2026, 11, 20, 9))  # eight months without readings
    assert first["soil_moisture"] >= 50.0  # spring crop: flooded paddy
    assert later["soil_moisture"] < 52.0  # after the summer harvest the paddy drains
    assert later["rain"] < 50.0  # rain since last reading counts only the restarted interval


# ---------------------------------------------------------------- aquaculture pond


def test_do_saturation_and_reference_et_match_published_values() -> None:
    assert do_saturation(20.0) == pytest.approx(9.09, abs=0.01)  # APHA 4500-O table
    assert reference_et(30.0, 0.0, 1.0) == 0.0


def _sunrise(after: datetime) -> datetime:
    ts = after
    while sun_elevation(ts, 20.94, 106.33) <= 0:
        ts += timedelta(minutes=5)
    return ts


@given(seed=st.integers(0, 2**32), day=st.integers(0, 364))
@settings(max_examples=20, deadline=None)
def test_dissolved_oxygen_is_lowest_around_dawn_and_highest_in_the_afternoon(
    seed: int, day: int
) -> None:
    pond = PondWaterModel(Climate(seed), seed=seed, name="pond", interval_s=900)
    step = timedelta(minutes=15)
    dawn_minimum = afternoon_maximum = 0
    for d in range(7):
        noon = local_time(2026, 1, 1, 12) + timedelta(days=day + d)  # noon to noon: one night
        values = series(pond, noon, step, 96)
        low_ts = min(values, key=lambda item: item[1]["dissolved_oxygen"])[0]
        high_ts = max(values, key=lambda item: item[1]["dissolved_oxygen"])[0]
        sunrise = _sunrise(noon + timedelta(hours=14))
        if timedelta(hours=-3) <= low_ts - sunrise <= timedelta(hours=1.5):
            dawn_minimum += 1
        if 12.0 <= local_hour(high_ts) < 19.0:
            afternoon_maximum += 1
    assert dawn_minimum >= 5, "DO must bottom out around dawn on most days (agronomy.md §6)"
    assert afternoon_maximum >= 4


@pytest.mark.parametrize("seed", [1, 7])
def test_pond_water_quality_has_realistic_ranges_and_couplings(seed: int) -> None:
    climate = Climate(seed)
    pond = PondWaterModel(climate, seed=seed, name="pond", interval_s=1800)
    values = series(pond, local_time(2026, 1, 1), timedelta(minutes=30), 365 * 48)
    do = [v["dissolved_oxygen"] for _, v in values]
    deciles = statistics.quantiles(do, n=20)
    assert deciles[0] >= 2.8
    assert deciles[-1] <= 11.0
    assert 5.0 <= statistics.median(do) <= 8.5
    ph = [v["ph"] for _, v in values]
    assert statistics.correlation(do, ph) > 0.9  # pH follows photosynthesis
    tan = [v["total_ammonia_nitrogen"] for _, v in values]
    assert min(tan) >= 0.15
    assert max(tan) <= 1.6
    # Water temperature is damped air temperature: smaller daily range, similar mean.
    july = [(ts, v) for ts, v in values if local_time(2026, 7, 1) <= ts < local_time(2026, 8, 1)]
    water = [v["water_temperature"] for _, v in july]
    air = [climate.at(ts).air_temperature for ts, _ in july]
    damped_days = sum(
        max(water[i : i + 48]) - min(water[i : i + 48])
        < max(air[i : i + 48]) - min(air[i : i + 48])
        for i in range(0, len(july) - 47, 48)
    )
    assert damped_days >= 28
    assert abs(statistics.fmean(water) - statistics.fmean(air)) < 3.0


# ---------------------------------------------------------------- livestock houses


@pytest.mark.parametrize("cls", [PigBarnModel, PoultryHouseModel])
def test_closed_cold_houses_accumulate_gases(cls: type[PigBarnModel]) -> None:
    barn = cls(Climate(3), seed=3, name="barn", interval_s=3600)
    year = series(barn, local_time(2026, 1, 1), timedelta(hours=1), 365 * 24)
    january = [v for ts, v in year if ts < local_time(2026, 2, 1)]
    july = [v for ts, v in year if local_time(2026, 7, 1) <= ts < local_time(2026, 8, 1)]
    nh3_jan = statistics.fmean(v["nh3"] for v in january)
    nh3_jul = statistics.fmean(v["nh3"] for v in july)
    assert nh3_jan > nh3_jul + 4.0
    assert (
        statistics.fmean(v["co2"] for v in january) > statistics.fmean(v["co2"] for v in july) + 800
    )
    nh3 = statistics.quantiles([v["nh3"] for _, v in year], n=20)
    co2 = statistics.quantiles([v["co2"] for _, v in year], n=20)
    assert nh3[0] >= 3.0
    assert nh3[-1] <= 25.0
    assert co2[0] >= 700.0
    assert co2[-1] <= 3000.0
    # Cooling pads cap the summer heat inside.
    assert max(v["air_temperature"] for v in july) < 35.0


@pytest.mark.parametrize("cls", [PigBarnModel, PoultryHouseModel])
def test_water_consumption_is_litres_since_the_last_reading(cls: type[PigBarnModel]) -> None:
    climate = Climate(4)
    start = local_time(2026, 9, 1)
    fine = cls(climate, seed=4, name="barn", interval_s=300)
    coarse = cls(climate, seed=4, name="barn", interval_s=600)
    fine_day = [v["water_consumption"] for _, v in series(fine, start, timedelta(minutes=5), 288)]
    coarse_day = [
        v["water_consumption"] for _, v in series(coarse, start, timedelta(minutes=10), 144)
    ]
    # The same herd drinks the same water whatever the reporting interval ...
    assert sum(fine_day) == pytest.approx(sum(coarse_day), rel=0.05)
    # ... about herd size x daily need, more in the heat.
    daily_need = fine.head_count * cls.herd.litres_per_head_day
    assert 0.9 * daily_need <= sum(fine_day) <= 1.6 * daily_need
    # Drinking peaks after the morning feed; little at night.
    by_hour = [sum(fine_day[h * 12 : (h + 1) * 12]) for h in range(24)]
    assert by_hour[7] > 2 * by_hour[1]
    assert fine.read(start + timedelta(days=1, minutes=-5))["water_consumption"] == 0.0


# ---------------------------------------------------------------- greenhouse


def test_greenhouse_is_warmer_than_outside_by_day_and_keeps_its_soil_watered() -> None:
    climate = Climate(5)
    house = GreenhouseModel(climate, seed=5, name="gh", interval_s=3600)
    values = series(house, local_time(2026, 3, 1), timedelta(hours=1), 92 * 24)
    midday = [
        v["air_temperature"] - climate.at(ts).air_temperature
        for ts, v in values
        if 11 <= local_hour(ts) < 14
    ]
    night = [
        v["air_temperature"] - climate.at(ts).air_temperature
        for ts, v in values
        if 0 <= local_hour(ts) < 4
    ]
    assert statistics.fmean(midday) > 3.0
    assert abs(statistics.fmean(night)) < 2.0
    assert all(v["illuminance"] <= 0.85 * climate.at(ts).illuminance + 50 for ts, v in values)
    soil = [v["soil_moisture"] for _, v in values]
    assert min(soil) > 15.0
    assert max(soil) < 40.0
    ec = [v["electrical_conductivity"] for _, v in values]
    assert statistics.correlation(soil, ec) < -0.5  # salts concentrate as the soil dries
    co2_night = [v["co2"] for ts, v in values if 2 <= local_hour(ts) < 5]
    co2_noon = [v["co2"] for ts, v in values if 11 <= local_hour(ts) < 14]
    assert statistics.fmean(co2_night) > statistics.fmean(co2_noon) + 100


# ---------------------------------------------------------------- fields


def test_orchard_soil_follows_the_monsoon_and_rain_raises_it() -> None:
    orchard = OrchardModel(Climate(6), seed=6, name="orchard", interval_s=3600)
    values = series(orchard, local_time(2026, 1, 1), timedelta(hours=1), 365 * 24)

    def month_mean(month: int) -> float:
        return statistics.fmean(v["soil_moisture"] for ts, v in values if (ts + VN).month == month)

    assert month_mean(8) > month_mean(1) + 3.0  # wet monsoon vs dry north-east monsoon
    rain = [v["rain"] for _, v in values]
    assert all(abs(r * 5 - round(r * 5)) < 1e-6 for r in rain)  # 0.2 mm tipping bucket
    assert 900.0 <= sum(rain) <= 2500.0
    soaked = [
        values[i][1]["soil_moisture"] >= values[i - 1][1]["soil_moisture"] - 0.5
        for i in range(1, len(values))
        if values[i][1]["rain"] >= 5.0
    ]
    assert soaked
    assert sum(soaked) >= 0.9 * len(soaked)
    wet_leaves = [v["leaf_wetness"] for _, v in values if v["rain"] >= 1.0]
    assert statistics.fmean(wet_leaves) > 70.0
    dry_noons = [
        v["leaf_wetness"] for ts, v in values if v["rain"] == 0.0 and 12 <= local_hour(ts) < 14
    ]
    assert statistics.median(dry_noons) < 20.0


def test_paddy_is_flooded_in_the_crop_seasons_and_drains_in_between() -> None:
    field = RiceFieldModel(Climate(7), seed=7, name="rice", interval_s=3600)
    values = series(field, local_time(2026, 1, 1), timedelta(hours=6), 365 * 4)

    def mean_between(first: datetime, last: datetime) -> float:
        return statistics.fmean(v["soil_moisture"] for ts, v in values if first <= ts < last)

    assert mean_between(local_time(2026, 3, 1), local_time(2026, 4, 1)) >= 52.0  # vụ chiêm xuân
    assert mean_between(local_time(2026, 8, 1), local_time(2026, 9, 1)) >= 52.0  # vụ mùa
    assert mean_between(local_time(2026, 11, 15), local_time(2026, 12, 31)) < 50.0  # fallow


# ---------------------------------------------------------------- node health


def test_battery_charges_on_sunny_days_and_radio_reports_whole_dbm() -> None:
    climate = Climate(8)
    node = PondWaterModel(climate, seed=8, name="p", interval_s=3600)
    values = series(node, local_time(2026, 10, 1), timedelta(hours=1), 30 * 24)
    charged_days = 0
    sunny_days = 0
    for day in range(30):
        morning = values[day * 24 + 6]
        afternoon = values[day * 24 + 16]
        sun = sum(climate.at(ts).solar_radiation for ts, _ in values[day * 24 : day * 24 + 24])
        if sun > 4000:  # > 4 kWh/m²: a sunny day
            sunny_days += 1
            charged_days += afternoon[1]["battery_voltage"] >= morning[1]["battery_voltage"] - 0.01
    assert sunny_days >= 5
    assert charged_days >= 0.8 * sunny_days
    assert all(v["rssi"] == round(v["rssi"]) for _, v in values)
