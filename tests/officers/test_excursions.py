"""Excursion episodes: starts, ends, gaps, worst values and totals, against hand-made streams.

The property tests compare the one-pass implementation with a brute-force one written the
other way round (per reading, which limits it breaches, then runs of consecutive breaches).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_analytics.model_profiles import Limit, load_profile
from farmwatch_core.contract.candidates import Severity
from hypothesis import given, settings
from hypothesis import strategies as st

from farmwatch.reports.excursions import (
    DEFAULT_MAX_GAP,
    Excursion,
    excursions,
    find_excursions,
    merged_seconds,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WARN = Limit(severity=Severity.WARNING, below=4.0, source="TCVN 13952:2024 DO ≥ 4.0 mg/L")
CRIT = Limit(severity=Severity.CRITICAL, below=2.3, source="tilapia minimum 2.3 mg/L")
PH = Limit(severity=Severity.WARNING, below=6.5, above=9.0, source="TCVN 13952:2024 pH 6.5-9.0")


def every(minutes: float, values: list[float]) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=minutes * i), v) for i, v in enumerate(values)]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_no_excursion_within_limits() -> None:
    report = excursions(every(5, [5.0, 4.0, 6.0, 4.0001]), [WARN, CRIT])
    assert report.count == 0
    assert report.by_severity == {}
    assert report.minutes_outside("warning") == 0.0


def test_nested_episodes_and_totals() -> None:
    report = excursions(every(5, [5, 3.9, 3.0, 2.2, 1.9, 2.5, 3.8, 4.1, 5]), [WARN, CRIT])
    warning, critical = report.episodes
    assert (warning.severity, warning.start, warning.end) == (Severity.WARNING, at(5), at(35))
    assert (critical.severity, critical.start, critical.end) == (Severity.CRITICAL, at(15), at(25))
    assert warning.worst == critical.worst == 1.9
    assert warning.worst_at == at(20)
    assert (warning.readings, critical.readings) == (6, 2)
    assert warning.closed_by == critical.closed_by == "back_within"
    assert warning.duration == timedelta(minutes=30)
    assert report.by_severity[Severity.WARNING].count == 1
    assert report.minutes_outside(Severity.WARNING) == 30
    assert report.minutes_outside(Severity.CRITICAL) == 10


def test_gap_ends_an_episode_and_a_new_one_starts_after_it() -> None:
    stream = [(at(0), 3.0), (at(5), 3.5), (at(5 + 16), 3.2), (at(26), 4.5)]
    first, second = find_excursions(stream, [WARN])
    assert (first.start, first.end, first.closed_by) == (at(0), at(5), "gap")
    assert (second.start, second.end, second.closed_by) == (at(21), at(26), "back_within")


def test_a_gap_of_exactly_max_gap_continues_the_episode() -> None:
    stream = [(at(0), 3.0), (at(15), 3.5), (at(20), 4.5)]
    (only,) = find_excursions(stream, [WARN], max_gap=timedelta(minutes=15))
    assert (only.start, only.end, only.readings) == (at(0), at(20), 2)


def test_return_after_a_gap_is_not_credited_as_time_outside() -> None:
    stream = [(at(0), 3.0), (at(60), 5.0)]
    (only,) = find_excursions(stream, [WARN])
    assert (only.end, only.closed_by, only.duration) == (at(0), "gap", timedelta(0))


def test_open_at_the_end_of_the_data() -> None:
    (only,) = find_excursions(every(5, [5, 3, 2.9, 3.1]), [WARN])
    assert (only.start, only.end, only.closed_by, only.worst) == (at(5), at(15), "end_of_data", 2.9)


def test_two_sided_limit_worst_is_furthest_beyond_either_side() -> None:
    (only,) = find_excursions(every(5, [9.2, 6.0, 9.4, 8.0]), [PH])
    # 6.0 is 0.5 below 6.5, 9.4 is 0.4 above 9.0: 6.0 is the worst
    assert (only.worst, only.worst_at, only.readings, only.end) == (6.0, at(5), 3, at(15))


def test_nan_is_skipped_and_out_of_order_raises() -> None:
    (only,) = find_excursions(every(5, [3.0, float("nan"), 5.0]), [WARN])
    assert (only.end, only.readings) == (at(10), 1)
    with pytest.raises(ValueError, match="out of order"):
        find_excursions([(at(5), 3.0), (at(0), 3.0)], [WARN])


def test_profile_limits_are_what_it_takes() -> None:
    limits = load_profile("aquaculture_pond").limits["dissolved_oxygen"]
    report = excursions(every(5, [5, 2.0, 5]), limits)
    assert sorted(e.severity.value for e in report.episodes) == ["critical", "warning"]


def test_merged_seconds_counts_overlaps_once() -> None:
    assert merged_seconds([]) == 0
    assert merged_seconds([(at(0), at(10)), (at(5), at(20)), (at(30), at(40))]) == 30 * 60


def brute_force(
    stream: list[tuple[datetime, float]], limit: Limit, max_gap: timedelta
) -> list[tuple[datetime, datetime, int]]:
    """(start, end, readings) of runs of consecutive breaching readings, split at gaps."""
    runs: list[tuple[datetime, datetime, int]] = []
    run: list[datetime] = []
    for ts, value in stream:
        if limit.breached_by(value):
            if run and ts - run[-1] > max_gap:
                runs.append((run[0], run[-1], len(run)))
                run = []
            run.append(ts)
            continue
        if run:
            back_in_time = ts - run[-1] <= max_gap
            runs.append((run[0], ts if back_in_time else run[-1], len(run)))
            run = []
    if run:
        runs.append((run[0], run[-1], len(run)))
    return runs


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=40), st.floats(min_value=0, max_value=10)),
        max_size=60,
    )
)
def test_matches_brute_force(steps: list[tuple[int, float]]) -> None:
    stream: list[tuple[datetime, float]] = []
    minutes = 0
    for step, value in steps:
        minutes += step
        stream.append((at(minutes), value))
    found = find_excursions(stream, [WARN, CRIT, PH])
    for limit in (WARN, CRIT, PH):
        mine: list[Excursion] = [e for e in found if e.limit is limit]
        expected = brute_force(stream, limit, DEFAULT_MAX_GAP)
        assert [(e.start, e.end, e.readings) for e in mine] == expected
        for episode in mine:
            inside = [v for t, v in stream if episode.start <= t <= episode.end]
            assert limit.breached_by(episode.worst)
            assert episode.worst in inside
    report = excursions(stream, [WARN, CRIT, PH])
    for severity, total in report.by_severity.items():
        spans = [(e.start, e.end) for e in found if e.severity is severity]
        assert total.count == len(spans)
        assert total.seconds_outside <= sum((b - a).total_seconds() for a, b in spans)
