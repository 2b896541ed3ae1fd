"""Clean-water and effluent stations: the pump/tank indicators, the profiles, and the named
scenarios through the engine and the alert rules (offline; tests/alerting has the real-MQTT run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_alerting.alert import AlertState
from farmwatch_alerting.evaluator import Evaluator
from farmwatch_alerting.rules import RuleSet
from farmwatch_analytics.engine import AnalyticsEngine, CandidateKind
from farmwatch_analytics.indicators.water_supply import (
    StationIndicators,
    pump_no_flow_minutes,
    tank_running_dry,
)
from farmwatch_analytics.model_profiles import Severity, load_profile, profile_for_model
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import load_scenario
from hypothesis import given
from hypothesis import strategies as st
from support.stations import Fired, check_fired

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(0, 300), st.floats(0.5, 30)), min_size=1, max_size=40
    )
)
def test_the_no_flow_count_is_the_time_since_the_pump_last_delivered(
    steps: list[tuple[bool, float, float]],
) -> None:
    minutes = 0.0
    run = 0.0
    for on, flow, dt in steps:
        minutes = pump_no_flow_minutes(minutes, dt, on, flow, 5.0)
        run = run + dt if on and flow < 5.0 else 0.0
        assert minutes == pytest.approx(run)


def test_a_pump_that_delivers_never_fails_and_one_that_does_not_fails_after_n_minutes() -> None:
    station = StationIndicators({"pump_failure_after_min": 15})
    flags = []
    for i in range(12):
        flow = 150.0 if i < 6 else 0.2  # delivers for half an hour, then nothing
        out = station.observe(T0 + timedelta(minutes=5 * i), {"pump_state": 1, "water_flow": flow})
        flags.append(out["pump_failure"])
    assert flags == [0.0] * 8 + [1.0] * 4  # 15 minutes after the last reading with flow
    off = station.observe(T0 + timedelta(minutes=60), {"pump_state": 0, "water_flow": 0.0})
    assert off["pump_failure"] == 0.0


def test_a_silent_hour_does_not_count_as_minutes_of_failure() -> None:
    station = StationIndicators({})
    station.observe(T0, {"pump_state": 1, "water_flow": 0.0})
    later = station.observe(T0 + timedelta(hours=2), {"pump_state": 1, "water_flow": 0.0})
    assert later["pump_no_flow_minutes"] == 0.0


def test_a_low_tank_that_is_refilling_is_not_running_dry() -> None:
    assert tank_running_dry(15.0, -3.0, 25.0, 1.0)
    assert not tank_running_dry(15.0, 8.0, 25.0, 1.0)
    assert not tank_running_dry(15.0, -0.5, 25.0, 1.0)  # level noise, not a fall
    station = StationIndicators({"tank_dry_level_pct": 25.0})
    outs = [
        station.observe(T0 + timedelta(minutes=5 * i), {"tank_level": 20.0 + 2 * i})
        for i in range(8)
    ]
    assert all(o["tank_running_dry"] == 0.0 for o in outs)
    assert outs[-1]["tank_level_trend"] == pytest.approx(24.0)  # 2 % per 5 min


def test_the_clean_water_profile_has_the_qcvn_01_limits() -> None:
    station = load_profile("clean_water_station")
    assert profile_for_model("clean_water_station") == station
    chlorine = station.limit_for("free_chlorine", 0.15)
    assert chlorine is not None
    assert chlorine.severity is Severity.WARNING
    assert "QCVN 01-1:2018/BYT" in chlorine.source
    assert station.limit_for("free_chlorine", 0.5) is None
    assert station.limit_for("free_chlorine", 1.2) is not None
    assert station.limit_for("turbidity", 2.5) is not None
    assert station.limit_for("turbidity", 1.5) is None
    assert station.limit_for("ph", 5.9) is not None
    assert station.limit_for("ph", 8.6) is not None
    assert station.limit_for("ph", 7.2) is None


def test_the_effluent_limits_are_the_configured_column_and_a_farm_can_choose_another() -> None:
    effluent = load_profile("effluent_station")
    params = effluent.parameters
    assert params["regulation"] == "QCVN 62:2025/BTNMT"
    column = params["qcvn62_columns"][params["receiving_water"]]
    limits = effluent.limits
    assert limits["cod"][0].above == column["cod_mg_l"]
    assert limits["ammonium"][0].above == column["total_nitrogen_mg_l"]
    assert limits["total_suspended_solids"][0].above == column["tss_mg_l"]
    assert (limits["ph"][0].below, limits["ph"][0].above) == (column["ph_min"], column["ph_max"])
    assert all("PLACEHOLDER" in limits[s][0].source for s in ("cod", "ammonium", "ph"))
    a = params["qcvn62_columns"]["A"]
    strict = effluent.with_overrides(
        {
            "parameters": {"receiving_water": "A"},
            "limits": {"cod": [{"severity": "warning", "above": a["cod_mg_l"],
                                "source": "QCVN 62:2025/BTNMT column A"}]},
        }
    )  # fmt: skip
    assert strict.limit_for("cod", 150.0) is not None
    assert effluent.limit_for("cod", 150.0) is None
    assert strict.limits["ammonium"] == effluent.limits["ammonium"]  # untouched keys survive


@pytest.mark.parametrize("name", ["clean-water-station", "effluent-station"])
def test_each_station_scenario_raises_exactly_its_alerts(name: str) -> None:
    scenario = load_scenario(name)
    farms = scenario.deployment.farms
    profiles = {farm.id: profile_for_model(farm.model) for farm in farms}
    engine = AnalyticsEngine(profiles, {farm.id: [n.id for n in farm.nodes] for farm in farms})
    evaluator = Evaluator(RuleSet([]), scenario.deployment, profiles, scenario.start)
    fired: list[Fired] = []
    limit_nodes: set[str] = set()
    for farm, node, record in generate_dataset(scenario):
        out = engine.process(farm, node, record.ts, record.readings)
        values = dict(record.readings)
        values.update({point.name: point.value for point in out.derived})
        limit_nodes.update(
            c.node for c in out.candidates if c.kind is CandidateKind.LIMIT and c.state == "firing"
        )
        fired.extend(
            (alert.name, node, alert.starts_at)
            for alert in evaluator.observe(farm, node, record.ts, values)
            if alert.state is AlertState.FIRING
        )
    check_fired(scenario, fired, timedelta(0))
    event_nodes = {node for event in scenario.events for _farm, node in event.forcings}
    assert limit_nodes == event_nodes  # analytics' own limit episodes: the same nodes only
