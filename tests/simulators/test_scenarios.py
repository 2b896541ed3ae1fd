"""Scenario files: the shipped ones load, times resolve, and every mistake is located."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from farmwatch_simulators.faults import EventKind, FaultKind
from farmwatch_simulators.scenarios import (
    SCENARIO_DIR,
    ScenarioError,
    load_scenario,
    parse_duration,
    parse_scenario,
    scenario_names,
)
from hypothesis import given
from hypothesis import strategies as st

SHIPPED = (
    "demo",
    "dawn-do-crash",
    "cold-spell-2026-01",
    "heat-wave-barn",
    "sensor-faults",
    "typhoon-2026-09",
    "clean-water-station",
    "effluent-station",
)

BASE = """
name: t
seed: 3
start: 2026-07-01T00:00:00Z
duration: 2d
interval: 5m
farms:
  - {model: aquaculture_pond, count: 2, nodes_per_farm: 1}
  - {model: pig_barn}
"""


def test_the_named_scenarios_ship() -> None:
    assert set(SHIPPED) <= set(scenario_names())


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_scenario_loads_by_name_and_by_path(name: str) -> None:
    by_name = load_scenario(name)
    assert by_name == load_scenario(SCENARIO_DIR / f"{name}.yaml")
    assert by_name.name == name
    assert by_name.faults or by_name.events, "a named scenario should inject something"


def test_sensor_faults_has_one_of_each_kind() -> None:
    scenario = load_scenario("sensor-faults")
    # An unsynchronised clock moves timestamps; it is shown in typhoon-2026-09 instead, so the
    # time-keyed label checks of test_dataset.py can run on this one.
    assert {fault.kind for fault in scenario.faults} == set(FaultKind) - {FaultKind.CLOCK_UNSYNCED}


def test_relative_and_absolute_times_agree() -> None:
    relative = parse_scenario(
        BASE + "faults: [{kind: dropout, farm: pond-01, start: +1d2h, duration: 3h}]"
    )
    absolute = parse_scenario(
        BASE
        + "faults: [{kind: dropout, farm: pond-01, start: 2026-07-02T02:00:00Z,"
        + " end: 2026-07-02T05:00:00Z}]"
    )
    assert relative.faults == absolute.faults
    fault = relative.faults[0]
    assert (fault.start, fault.end) == (
        datetime(2026, 7, 2, 2, tzinfo=UTC),
        datetime(2026, 7, 2, 5, tzinfo=UTC),
    )
    assert fault.node_id == "pond-01-n1", "the farm's first node by default"


def test_farms_and_defaults() -> None:
    scenario = parse_scenario(BASE)
    assert [farm.id for farm in scenario.deployment.farms] == ["pond-01", "pond-02", "pig-03"]
    assert scenario.end - scenario.start == timedelta(days=2)
    assert set(scenario.intervals.values()) == {timedelta(minutes=5)}


def test_events_default_to_every_applicable_farm() -> None:
    scenario = parse_scenario(BASE + "events: [{kind: cold_spell, start: +1d, duration: 6h}]")
    (event,) = scenario.events
    assert event.kind is EventKind.COLD_SPELL
    assert {farm for farm, _ in event.forcings} == {"pond-01", "pond-02", "pig-03"}
    scenario = parse_scenario(BASE + "events: [{kind: do_crash, start: +1d, duration: 6h}]")
    assert {farm for farm, _ in scenario.events[0].forcings} == {"pond-01", "pond-02"}


@pytest.mark.parametrize(("extra", "expected"), [
    ("faults: [{kind: stuck, farm: pond-09, quantity: ph, start: +1h, duration: 1h}]",
     "t.yaml: faults[0].farm: no farm 'pond-09' in this scenario (pond-01, pond-02, pig-03)"),
    ("faults: [{kind: stuck, farm: pond-01, node: x, quantity: ph, start: +1h, duration: 1h}]",
     "t.yaml: faults[0].node: farm 'pond-01' has no node 'x'"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: soil_moisture, start: +1h, duration: 1h}]",
     "t.yaml: faults[0].quantity: node 'pond-01-n1' (pond_water) does not report 'soil_moisture'"),
    ("faults: [{kind: spike, farm: pond-01, start: +1h}]",
     "t.yaml: faults[0].quantity: spike needs one of water_temperature"),
    ("faults: [{kind: dropout, farm: pond-01, quantity: ph, start: +1h, duration: 1h}]",
     "t.yaml: faults[0].quantity: dropout concerns the whole node"),
    ("faults: [{kind: unit_error, farm: pond-01, quantity: ph, start: +1h, duration: 1h}]",
     "t.yaml: faults[0].unit: no unit error None for ph"),
    ("faults: [{kind: unit_error, farm: pig-03, quantity: air_temperature, unit: mV, "
     "start: +1h, duration: 1h}]",
     "t.yaml: faults[0].unit: no unit error 'mV' for air_temperature; use degF"),
    ("faults: [{kind: drift, farm: pond-01, quantity: ph, start: +1h}]",
     "t.yaml: faults[0]: drift needs a non-zero bias or rate_per_day"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: +1h, duration: 2m}]",
     "t.yaml: faults[0]: the window (0:02:00) is shorter than the node interval (0:05:00)"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: +3d}]",
     "t.yaml: faults[0].start: 2026-07-04T00:00:00+00:00 is outside the scenario"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: +1d, end: +1h}]",
     "t.yaml: faults[0].end: 2026-07-01T01:00:00+00:00 is not after"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: +1h, duration: 1h, end: +3h}]",
     "t.yaml: faults[0]: give end or duration, not both"),
    ("faults: [{kind: melt, farm: pond-01, start: +1h}]",
     "t.yaml: faults[0].kind: Input should be 'stuck', 'spike'"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: +1h, colour: red}]",
     "t.yaml: faults[0].colour: Extra inputs are not permitted"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: tomorrow}]",
     "t.yaml: faults[0].start: Value error, 'tomorrow' is neither a UTC time"),
    ("faults: [{kind: stuck, farm: pond-01, quantity: ph, start: +1h, duration: soon}]",
     "t.yaml: faults[0].duration: Value error, 'soon' is not a duration"),
    ("events: [{kind: do_crash, farms: [pig-03], start: +1h, duration: 1h}]",
     "t.yaml: events[0].farms[0]: do_crash does not apply to 'pig-03' (pig_barn); "
     "it applies to aquaculture_pond"),
    ("events: [{kind: irrigation_need, start: +1h, duration: 1h}]",
     "t.yaml: events[0]: no farm of this scenario is a target of irrigation_need"),
    ("events: [{kind: heat_stress, models: [orchard], start: +1h, duration: 1h}]",
     "t.yaml: events[0].models[0]: heat_stress does not apply to orchard"),
    ("events: [{kind: cold_spell, start: +1h, duration: 1h, temperature_offset: -40}]",
     "t.yaml: events[0].temperature_offset: Input should be greater than or equal to -20"),
])  # fmt: skip
def test_mistakes_are_reported_with_their_location(extra: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(BASE + extra, "t.yaml")
    assert expected.replace("Value error, ", "") in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    text = BASE + (
        "faults:\n"
        "  - {kind: stuck, farm: nope, quantity: ph, start: +1h}\n"
        "  - {kind: dropout, farm: pond-01, quantity: ph, start: +1h}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "t.yaml")
    assert str(caught.value).count("\n") == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("name: t\nstart: 2026-07-01T00:00:00\nfarms: [{model: orchard}]",
     "t.yaml: start: Value error, time 2026-07-01T00:00:00 has no time zone; write UTC with a Z"),
    ("name: t\nstart: '2026-07-01T00:00:00'\nfarms: [{model: orchard}]",
     "t.yaml: start: Value error, time 2026-07-01T00:00:00 has no time zone"),
    ("name: t\nstart: +1d\nfarms: [{model: orchard}]",
     "t.yaml: start: Value error, the scenario start must be an absolute UTC time"),
    ("name: t\nstart: 2026-07-01T00:00:00Z\nfarms: []",
     "t.yaml: farms: Tuple should have at least 1 item"),
    ("name: t\nstart: 2026-07-01T00:00:00Z\nend: 2026-06-01T00:00:00Z\nfarms: [{model: orchard}]",
     "t.yaml: end: 2026-06-01T00:00:00+00:00 is not after the start"),
    ("name: t\nstart: 2026-07-01T00:00:00Z\nfarms: [{model: fish_farm}]",
     "t.yaml: farms[0].model: Input should be 'aquaculture_pond'"),
    ("[1, 2]", "t.yaml: the top level must be a mapping"),
    ("name: [", "t.yaml: not valid YAML"),
])  # fmt: skip
def test_document_level_mistakes(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "t.yaml")
    assert expected.replace("Value error, ", "") in str(caught.value)


def test_unknown_names_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError, match=r"no scenario named 'nope'; the shipped ones are .*demo"
    ):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "missing.yaml")
    path = tmp_path / "mine.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_scenario(str(path)).name == "t"


@given(
    days=st.integers(0, 30),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
)
def test_durations_parse(days: int, hours: int, minutes: int, seconds: int) -> None:
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
    expected = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    assert parse_duration(text) == expected
    assert parse_duration(expected.total_seconds()) == expected


@pytest.mark.parametrize("bad", ["", "5", "m5", "1h1d", "-5m", "5 min", True, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(bad)
