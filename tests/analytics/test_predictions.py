"""The dawn DO forecast warns of the simulated crash hours ahead, and not on normal nights."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_analytics.predictions import DawnOxygenForecaster, sunrise
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import load_scenario, parse_scenario

LIMIT = 2.3  # tilapia


@dataclass
class Night:
    lowest: float = 99.0
    crossed: datetime | None = None
    warned: datetime | None = None


def _nights(scenario_text: str | None) -> dict[tuple[str, object], Night]:
    """Per node and night: the lowest DO, when it first fell below the limit, the first warning."""
    scenario = (
        load_scenario("dawn-do-crash") if scenario_text is None else parse_scenario(scenario_text)
    )
    forecasters: dict[str, DawnOxygenForecaster] = {}
    nights: dict[tuple[str, object], Night] = defaultdict(Night)
    for _farm, node, record in generate_dataset(scenario):
        value = record.readings["dissolved_oxygen"]
        forecast = forecasters.setdefault(node, DawnOxygenForecaster(LIMIT)).update(
            record.ts, value
        )
        local = record.ts + timedelta(hours=7)
        night = nights[(node, (local - timedelta(hours=12)).date())]
        if local.hour >= 18 or local.hour < 8:
            night.lowest = min(night.lowest, value)
            if value < LIMIT and night.crossed is None:
                night.crossed = record.ts
        if forecast is not None and forecast.warning and night.warned is None:
            night.warned = record.ts
    return nights


def test_the_crash_is_forecast_hours_ahead_and_the_control_ponds_are_left_alone() -> None:
    nights = _nights(None)
    crashed = {key: night for key, night in nights.items() if night.lowest < LIMIT}
    assert [node for node, _ in crashed] == ["pond-01-n1"]
    (night,) = crashed.values()
    warned, crossed = night.warned, night.crossed
    assert isinstance(warned, datetime)
    assert isinstance(crossed, datetime)
    assert crossed - warned >= timedelta(hours=2), "a warning must leave time to act"
    false_alarms = [key for key, n in nights.items() if n.warned and key not in crashed]
    assert false_alarms == []


@pytest.mark.parametrize("month", [7, 9])
def test_normal_summer_nights_rarely_raise_a_warning(month: int) -> None:
    """Hot nights bring DO near 3 mg/L without crashing; at most 1 in 20 may warn."""
    text = f"""
name: ponds
seed: {month}
start: 2026-{month:02d}-01T00:00:00Z
duration: 10d
interval: 5m
farms:
  - {{model: aquaculture_pond, count: 3, nodes_per_farm: 1}}
"""
    nights = _nights(text)
    normal = [n for n in nights.values() if n.lowest >= LIMIT]
    assert len(normal) >= 25
    warned = sum(1 for n in normal if n.warned is not None)
    assert warned <= len(normal) / 20


def test_sunrise_in_hai_duong_moves_with_the_seasons() -> None:
    """About 05:13 local in June and 06:35 in January (UTC+7)."""
    june = sunrise(datetime(2026, 6, 21, 3, tzinfo=UTC)) + timedelta(hours=7)
    january = sunrise(datetime(2026, 1, 10, 3, tzinfo=UTC)) + timedelta(hours=7)
    assert (june.hour, june.minute // 10) == (5, 1)
    assert january.hour == 6
    assert january.minute >= 25


def test_a_rising_night_never_warns() -> None:
    """An aerator running all night keeps DO rising: no crossing, the minimum is now."""
    forecaster = DawnOxygenForecaster(LIMIT)
    start = datetime(2026, 7, 1, 13, tzinfo=UTC)  # 20:00 local
    forecast = None
    for step in range(48):
        forecast = forecaster.update(start + timedelta(minutes=5 * step), 3.0 + 0.01 * step)
    assert forecast is not None
    assert forecast.below_limit_at is None
    assert not forecast.warning
    assert forecast.minimum_mg_l == pytest.approx(3.47, abs=0.05)


def test_the_closed_form_level_fit_equals_least_squares() -> None:
    import numpy as np
    from farmwatch_analytics.predictions import _fit_levels

    rng = np.random.default_rng(4)
    for k in (0.01, 0.1, 0.3, 1.0, 1e-9):
        t = -np.sort(rng.uniform(0, 6, size=40))[::-1]
        y = 3 + 2 * np.exp(-k * t) + rng.normal(0, 0.1, size=40)
        basis = np.column_stack((np.exp(-k * t), 1 - np.exp(-k * t)))
        expected = np.linalg.lstsq(basis, y, rcond=None)[0]
        level, equilibrium = _fit_levels(t, y, k)
        np.testing.assert_allclose(
            basis @ [level, equilibrium], basis @ expected, rtol=1e-9, atol=1e-9
        )
