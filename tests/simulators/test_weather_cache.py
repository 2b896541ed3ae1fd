"""The shared weather memo changes nothing but the speed: readings stay bit-for-bit the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_simulators.climate import Climate
from farmwatch_simulators.models import MODEL_CLASSES, build_model
from farmwatch_simulators.weather_cache import WeatherCache


@pytest.mark.parametrize("profile", sorted(MODEL_CLASSES))
def test_models_read_the_same_through_the_cache(profile: str) -> None:
    climate = Climate(seed=4)
    cache = WeatherCache(climate, max_entries=50)  # small: eviction happens during the run
    direct = build_model(profile, climate, seed=4, name="n", interval_s=600)
    cached = build_model(profile, climate, seed=4, name="n", interval_s=600)
    cached.weather_at = cache.at
    neighbour = build_model(profile, climate, seed=9, name="m", interval_s=600)
    neighbour.weather_at = cache.at  # another node filling the same memo
    start = datetime(2026, 1, 20, 17, 3, 7, tzinfo=UTC)
    for i in range(150):
        ts = start + timedelta(minutes=10 * i)
        neighbour.read(ts)
        assert cached.read(ts) == direct.read(ts)
    assert cache.hits >= 149  # after the spin-up, every weather the second node read was memoised
    assert len(cache) <= 50


def test_the_memo_drops_its_oldest_half_when_full() -> None:
    climate = Climate(seed=1)
    cache = WeatherCache(climate, max_entries=4)
    times = [datetime(2026, 5, 1, h, tzinfo=UTC) for h in range(5)]
    for ts in times:
        cache.at(ts)
    assert len(cache) == 3  # 4 kept, full at the 5th: the 2 oldest dropped, the 5th added
    misses = cache.misses
    cache.at(times[-1])
    assert cache.misses == misses
    cache.at(times[0])
    assert cache.misses == misses + 1
    with pytest.raises(ValueError, match="max_entries"):
        WeatherCache(climate, max_entries=0)
