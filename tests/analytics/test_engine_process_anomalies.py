"""The engine's process-anomaly side: the hourly multivariate model, the rolling median/MAD of a
new node's first days, and a restart (pickled state) that changes nothing downstream."""

from __future__ import annotations

import copyreg
import math
import pickle
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from farmwatch_analytics.engine import MULTIVARIATE, AnalyticsEngine, EngineOutput
from farmwatch_analytics.model_profiles import load_profile

START = datetime(2026, 5, 1, 17, tzinfo=UTC)  # local midnight in Hải Dương
STEP = timedelta(minutes=5)


def barn(
    days: float, odd: tuple[float, float] | None = None, seed: int = 1
) -> Iterator[tuple[datetime, dict[str, float]]]:
    """A pig barn's readings; within ``odd`` (hours since start) the pigs stop drinking and the
    air turns damp at midday while the temperature stays ordinary: no limit is crossed."""
    rng = random.Random(seed)
    for i in range(int(days * 24 * 12)):
        ts = START + i * STEP
        hours = i / 12
        local = hours % 24
        swing = math.sin(2 * math.pi * (local - 9) / 24)
        temperature = 28 + 3 * swing + rng.gauss(0, 0.2)
        humidity = 80 - 8 * swing + rng.gauss(0, 1.0)
        water = 30 + 15 * swing + rng.gauss(0, 1.5)
        if odd is not None and odd[0] <= hours < odd[1]:
            humidity, water = 88 + rng.gauss(0, 1.0), 8 + rng.gauss(0, 1.0)
        yield (
            ts,
            {
                "air_temperature": round(temperature, 2),
                "relative_humidity": round(humidity, 1),
                "nh3": round(8 + 2 * swing + rng.gauss(0, 0.4), 2),
                "co2": round(1400 + 150 * swing + rng.gauss(0, 20), 0),
                "water_consumption": round(max(water, 0.0), 1),
            },
        )


def engine() -> AnalyticsEngine:
    return AnalyticsEngine({"pig-01": load_profile("pig_barn")}, {"pig-01": ["pig-01-n1"]})


def run(
    analytics: AnalyticsEngine, records: list[tuple[datetime, dict[str, float]]]
) -> EngineOutput:
    total = EngineOutput()
    for ts, readings in records:
        out = analytics.process("pig-01", "pig-01-n1", ts, readings)
        total.derived.extend(out.derived)
        total.candidates.extend(out.candidates)
    return total


def test_an_odd_combination_fires_the_multivariate_model() -> None:
    odd = (24 * 8 + 12, 24 * 8 + 16)  # day 9, 12:00-16:00 local: the model knows a week
    out = run(engine(), list(barn(9.5, odd)))
    firing = [c for c in out.candidates if c.source == "isolation_forest" and c.state == "firing"]
    assert firing, "the multivariate model missed four hours of damp air and no drinking"
    assert all(START + timedelta(hours=odd[0]) <= c.ts <= START + timedelta(hours=odd[1] + 1)
               for c in firing)  # fmt: skip
    assert firing[0].subject == MULTIVARIATE
    scores = [p for p in out.derived if p.name == MULTIVARIATE]
    assert scores
    assert min(p.ts for p in scores) >= START + timedelta(days=2)
    resolved = [c for c in out.candidates if c.key == firing[0].key and c.state == "resolved"]
    assert resolved
    assert resolved[0].ts > START + timedelta(hours=odd[1])


def test_ordinary_days_raise_no_multivariate_alarm() -> None:
    out = run(engine(), list(barn(10.0, seed=3)))
    assert not [c for c in out.candidates if c.source == "isolation_forest"]
    assert any(p.name == MULTIVARIATE for p in out.derived)


def test_a_new_node_is_watched_by_its_rolling_median_before_its_daily_profile() -> None:
    records = list(barn(1.5, seed=4))
    ts, readings = records[-30]
    records[-30] = (ts, {**readings, "co2": 4500.0})  # day 2: the daily profile is not ready
    out = run(engine(), records)
    early = [c for c in out.candidates if c.source == "robust_zscore" and c.state == "firing"]
    assert [(c.subject, c.ts) for c in early] == [("co2", ts)]


def test_a_restored_engine_continues_exactly_as_the_running_one() -> None:
    records = list(barn(5.0, odd=(24 * 4 + 10, 24 * 4 + 14), seed=5))
    split = len(records) * 3 // 5  # day 3: forests fitted, profiles ready
    running = engine()
    run(running, records[:split])
    restored = pickle.loads(pickle.dumps(running))  # noqa: S301 - our own bytes
    a, b = run(running, records[split:]), run(restored, records[split:])
    assert a.candidates == b.candidates
    assert a.derived == b.derived
    assert any(p.name == MULTIVARIATE for p in a.derived)


class AsSavedBefore:
    """Pickles as a version-1 engine did: without the parts added since, episodes without a
    hold time, each object as ``copyreg.__newobj__`` and its attribute dict (the way pickle
    saved them before they derived from ``Stateful``; compiled, attributes can't be deleted).
    """

    def __init__(self, obj: Any, drop: tuple[str, ...] = ()) -> None:
        self.obj, self.drop = obj, drop

    def __reduce__(self) -> tuple[Any, ...]:
        _, (cls, state) = self.obj.__reduce__()
        for name in self.drop:
            state.pop(name)
        if "_episodes" in state:
            state["_episodes"] = {
                key: AsSavedBefore(episode, drop=("hold",))
                for key, episode in state["_episodes"].items()
            }
            for name in ("_early_detectors", "_hourly", "_forests", "_strange_hours"):
                state.pop(name)  # what a version-1 engine did not have
        return (copyreg.__newobj__, (cls,), state)  # type: ignore[attr-defined]


def test_state_saved_before_the_hourly_model_existed_is_kept_not_discarded() -> None:
    """An upgrade must not send every detector back to its warm-up: the old state loads, the
    parts added since start fresh, and the old learning (daily profiles, episodes) is kept."""
    records = list(barn(4.0, seed=6))
    old = engine()
    run(old, records[: len(records) // 2])
    old.process("pig-01", "pig-01-n1", records[len(records) // 2][0], {"co2": 9e4})  # an episode
    # protocol 1: the same calls on loading, without protocol 2's class check on dumping
    restored = pickle.loads(pickle.dumps(AsSavedBefore(old), protocol=1))  # noqa: S301
    assert restored._episodes
    assert all(e.hold == restored.resolve_after for e in restored._episodes.values())
    assert restored._profile_detectors  # learning kept
    out = run(restored, records[len(records) // 2 + 1 :])
    assert any(c.state == "resolved" for c in out.candidates)  # the old episode ends normally
    assert restored._forests  # the new part started and learns
