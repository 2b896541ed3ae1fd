"""Seeded heat waves and typhoon-like storms of the Hải Dương climate: right season, right
frequency, Tmax in the nắng nóng bands (agronomy.md §7), 100-300 mm storms, reproducible."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from farmwatch_simulators.climate import (
    UTC_OFFSET,
    Climate,
    DayClass,
    EpisodeKind,
    HeatBand,
    heat_band,
)

SEEDS = range(12)
YEAR = 2026


def local_date(ts: datetime) -> date:
    return (ts + UTC_OFFSET).date()


def days(climate: Climate, first: date, count: int) -> list[DayClass]:
    return [climate.classify_day(first + timedelta(days=i), samples=24) for i in range(count)]


def test_episodes_are_reproducible_from_the_seed() -> None:
    assert Climate(5).episodes(YEAR) == Climate(5).episodes(YEAR)
    assert Climate(5).episodes(YEAR) != Climate(6).episodes(YEAR)
    assert Climate(5).episodes(YEAR) != Climate(5).episodes(YEAR + 1)
    day = date(YEAR, 6, 20)
    assert Climate(5).classify_day(day) == Climate(5).classify_day(day)


def test_heat_waves_a_few_per_summer_in_season_and_in_their_band() -> None:
    peaks: Counter[HeatBand | None] = Counter()
    for seed in SEEDS:
        climate = Climate(seed)
        waves = [e for e in climate.episodes(YEAR) if e.kind is EpisodeKind.HEAT_WAVE]
        assert 1 <= len(waves) <= 4, seed
        for wave in waves:
            first, last = local_date(wave.start), local_date(wave.end)
            assert date(YEAR, 5, 1) <= first
            assert last <= date(YEAR, 8, 28)
            assert 3 <= (wave.end - wave.start).days <= 7
            during = days(climate, first, (last - first).days + 1)
            hot = [d for d in during if d.heat is not None]
            assert len(hot) >= 2, (seed, wave)  # multi-day
            peak = max(d.tmax for d in during)
            # The wave's hottest day lands in the band its peak was drawn in.
            assert heat_band(peak) == heat_band(wave.peak_tmax), (seed, peak, wave.peak_tmax)
            assert abs(peak - wave.peak_tmax) < 0.8
            peaks[heat_band(peak)] += 1
            # Gió Lào: dry and bright under the wave.
            assert statistics.fmean(d.rain_mm for d in during) < 3.0
    assert set(peaks) == set(HeatBand)  # every band occurs over a dozen summers
    assert peaks[HeatBand.NANG_NONG] > peaks[HeatBand.DAC_BIET_GAY_GAT]


def test_no_heat_band_days_outside_summer() -> None:
    for seed in SEEDS[:4]:
        climate = Climate(seed)
        winter = days(climate, date(YEAR, 11, 1), 120)
        assert all(d.heat is None for d in winter), seed
        assert all(not d.typhoon for d in winter)


def test_storms_in_season_with_100_to_300_mm_strong_wind_and_low_pressure() -> None:
    storms = 0
    for seed in SEEDS:
        climate = Climate(seed)
        for storm in (e for e in climate.episodes(YEAR) if e.kind is EpisodeKind.TYPHOON):
            storms += 1
            first, last = local_date(storm.start), local_date(storm.end)
            assert date(YEAR, 7, 1) <= first, storm
            assert last <= date(YEAR, 10, 20), storm
            assert 36 <= (storm.end - storm.start).total_seconds() / 3600 <= 72
            rain = climate.rain_between(storm.start, storm.end, step_s=900)
            assert 100.0 <= rain <= 340.0, (seed, rain)  # the storm's bell plus showers
            during = days(climate, first, (last - first).days + 1)
            assert all(d.typhoon for d in during)
            assert any(d.heavy_rain for d in during), (seed, [d.rain_mm for d in during])
            assert max(d.max_wind_ms for d in during) >= 12.0
            assert min(d.min_pressure for d in during) <= 995.0
            middle = storm.start + (storm.end - storm.start) / 2
            noon_ish = climate.at(middle)
            assert noon_ish.cloud_cover > 0.95
    mean = storms / len(SEEDS)
    assert 0.5 <= mean <= 2.5  # ≈1.3 a year
    assert storms >= 8


def test_outside_storms_days_are_calm() -> None:
    climate = Climate(3)
    storms = [e for e in climate.episodes(YEAR) if e.kind is EpisodeKind.TYPHOON]
    quiet = [
        d
        for d in days(climate, date(YEAR, 7, 1), 100)
        if not any(local_date(s.start) <= d.day <= local_date(s.end) for s in storms)
    ]
    assert quiet
    assert max(d.max_wind_ms for d in quiet) < 5.0
    assert min(d.min_pressure for d in quiet) > 1000.0


@pytest.mark.parametrize("kind", ["heat_wave", "typhoon"])
def test_injected_events_change_the_weather_of_every_farm(kind: str) -> None:
    from farmwatch_simulators.dataset import generate_dataset
    from farmwatch_simulators.scenarios import parse_scenario

    scenario = parse_scenario(f"""
name: inject
seed: 2
start: 2026-06-10T17:00:00Z
duration: 3d
interval: 30m
farms:
  - {{model: pig_barn, nodes_per_farm: 1}}
  - {{model: rice_field, nodes_per_farm: 1}}
  - {{model: aquaculture_pond, nodes_per_farm: 1}}
events:
  - {{kind: {kind}, start: +12h, duration: 2d}}
""")
    run = generate_dataset(scenario)
    rows = list(run)
    labels = [lb for lb in run.labels() if lb.kind == kind]
    assert {lb.farm_id for lb in labels} == {"pig-01", "rice-02", "pond-03"}
    assert all(lb.category == "event" and lb.source == "events[0]" for lb in labels)
    reference = {(f, r.ts): r.readings for f, _, r in generate_dataset(scenario, events=False)}
    window = [
        (f, r)
        for f, _, r in rows
        if scenario.start + timedelta(days=1) <= r.ts and r.ts < scenario.start + timedelta(days=2)
    ]
    if kind == "heat_wave":
        barn = [
            r.readings["air_temperature"] - reference[(f, r.ts)]["air_temperature"]
            for f, r in window
            if f == "pig-01"
        ]
        assert statistics.fmean(barn) > 2.0
    else:
        gauge = [
            r.readings["rain"] - reference[(f, r.ts)]["rain"] for f, r in window if f == "rice-02"
        ]
        assert sum(gauge) > 50.0  # mm over the storm's day
