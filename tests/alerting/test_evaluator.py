"""Rules over time: pending → firing → resolved with minimum durations and hysteresis, rates,
absence, bands, anomaly scores and analytics' candidates; and a restart from the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_alerting.alert import Alert, AlertState, Severity
from farmwatch_alerting.evaluator import Evaluator
from farmwatch_alerting.rules import load_rules
from farmwatch_alerting.store import AlertStore
from farmwatch_analytics.model_profiles import load_profile
from farmwatch_core.contract.candidates import AlertCandidate, CandidateKind
from farmwatch_core.registry import parse_registry

T0 = datetime(2026, 7, 15, 19, 0, tzinfo=UTC)  # 02:00 in Hải Dương
REGISTRY = parse_registry(
    """
cooperatives: [{id: htx-1, name: HTX Cẩm Giàng}]
farms:
  - id: pond-01
    name: Ao cá bà Hương
    model: aquaculture_pond
    cooperative: htx-1
    nodes: [{id: n1}, {id: n2}]
  - id: pig-01
    name: Trại lợn ông Sơn
    model: pig_barn
    nodes: [{id: n1}]
"""
)
PROFILES = {"pond-01": load_profile("aquaculture_pond"), "pig-01": load_profile("pig_barn")}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def evaluator(text: str = "", started: datetime = T0) -> Evaluator:
    return Evaluator(load_rules(text=text), REGISTRY, PROFILES, started)


def run(
    ev: Evaluator, farm: str, node: str, series: Sequence[tuple[float, Mapping[str, float]]]
) -> list[tuple[float, str, str]]:
    """(minute, alertname, new state) of every change, in order."""
    out: list[tuple[float, str, str]] = []
    for minute, values in series:
        out.extend(
            (minute, a.name, a.state.value) for a in ev.observe(farm, node, at(minute), values)
        )
    return out


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        # A critical DO limit fires at once and clears only past 2.3 + 0.3 (hysteresis).
        (
            [(0, 5.0), (5, 2.2), (10, 2.4), (15, 2.29), (20, 2.5), (25, 2.7)],
            [(5, "firing"), (25, "resolved")],
        ),
        # Never below the limit: nothing.
        ([(0, 5.0), (5, 2.31), (10, 2.35)], []),
    ],
)
def test_critical_do_fires_at_once_and_resolves_past_the_clearing_level(
    series: list[tuple[float, float]], expected: list[tuple[float, str]]
) -> None:
    ev = evaluator("profile_defaults: true")
    changes = run(ev, "pond-01", "n1", [(m, {"dissolved_oxygen": v}) for m, v in series])
    critical = [(m, s) for m, name, s in changes if name == "DissolvedOxygenLowCritical"]
    assert critical == expected


def test_a_warning_waits_for_its_minimum_duration_and_a_short_dip_never_fires() -> None:
    ev = evaluator()
    # DO warning: below 4.0 for 10 minutes. A 5-minute dip opens a pending alert that clears.
    dip = run(ev, "pond-01", "n1", [(0, {"dissolved_oxygen": 3.9}), (5, {"dissolved_oxygen": 4.5})])
    assert [(m, s) for m, n, s in dip if n == "DissolvedOxygenLowWarning"] == [
        (0, "pending"),
        (5, "resolved"),
    ]
    held = run(ev, "pond-01", "n1", [(m, {"dissolved_oxygen": 3.8}) for m in (20, 25, 30, 35)])
    assert [(m, s) for m, n, s in held if n == "DissolvedOxygenLowWarning"] == [
        (20, "pending"),
        (30, "firing"),
    ]


def test_labels_and_annotations_carry_where_what_and_what_to_do() -> None:
    ev = evaluator()
    changed = ev.observe("pond-01", "n2", at(0), {"dissolved_oxygen": 1.9})
    # Below both limits: the critical fires, the warning waits (routing inhibits it anyway).
    assert sorted((a.name, a.state.value) for a in changed) == [
        ("DissolvedOxygenLowCritical", "firing"),
        ("DissolvedOxygenLowWarning", "pending"),
    ]
    alert = next(a for a in changed if a.severity is Severity.CRITICAL)
    assert dict(alert.labels) == {
        "alertname": "DissolvedOxygenLowCritical",
        "farm": "pond-01",
        "node": "n2",
        "quantity": "dissolved_oxygen",
        "profile": "aquaculture_pond",
        "cooperative": "htx-1",
        "severity": "critical",
    }
    notes = alert.annotations
    assert (notes["value"], notes["limit"], notes["unit"]) == ("1.9", "2.3", "mg/L")
    assert notes["farm_name"] == "Ao cá bà Hương"
    assert "sục khí" in notes["action_vi"]
    assert "tilapia" in notes["limit_source"]


def test_rate_of_change_needs_its_window_covered_and_clears_when_calm() -> None:
    ev = evaluator(
        "rules: [{name: PondWarming, kind: rate_of_change, subject: water_temperature, "
        "window: 1h, rise: 3}]"
    )
    warming = [(m, {"water_temperature": 28 + m / 15}) for m in range(0, 125, 5)]  # +4 °C/h
    steady = [(m, {"water_temperature": 36.0}) for m in range(125, 200, 5)]
    changes = [c for c in run(ev, "pond-01", "n1", warming + steady) if c[1] == "PondWarming"]
    assert [s for _, _, s in changes] == ["firing", "resolved"]
    assert changes[0][0] == 50  # 48 min covered (80 % of the hour) and +3.3 °C


def test_a_silent_node_goes_offline_after_its_grace_and_comes_back() -> None:
    ev = evaluator("rules: [{name: NodeOffline, kind: absence, after: 15m}]")
    assert ev.tick(at(10)) == []  # start-up grace: nobody is offline yet
    ev.observe("pond-01", "n1", at(12), {"ph": 7.5})
    fired = ev.tick(at(16))  # pond n2 and the barn never reported since start
    assert sorted((a.labels["farm"], a.labels["node"]) for a in fired) == [
        ("pig-01", "n1"),
        ("pond-01", "n2"),
    ]
    assert ev.tick(at(20)) == []  # once
    back = ev.observe("pond-01", "n2", at(21), {"ph": 7.5})
    assert [(a.name, a.state) for a in back] == [("NodeOffline", AlertState.RESOLVED)]
    assert [a.labels["node"] for a in ev.tick(at(28))] == ["n1"]  # pond n1: silent since 12


def test_bands_and_anomaly_scores() -> None:
    ev = evaluator(
        """
profile_defaults: false
rules:
  - {name: HeatStress, kind: band, subject: thi_band, at_least: 2, severity: critical}
  - {name: Strange, kind: anomaly, subject: anomaly_node, above: 0.99, for: 1h}
"""
    )
    series = [(0, {"thi_band": 1.0}), (5, {"thi_band": 2.0}), (10, {"thi_band": 1.0})]
    assert run(ev, "pig-01", "n1", series) == [
        (5, "HeatStress", "firing"),
        (10, "HeatStress", "resolved"),
    ]
    scores = [(m, {"anomaly_node": 1.0}) for m in (60, 120, 180)] + [(240, {"anomaly_node": 0.3})]
    assert run(ev, "pig-01", "n1", scores) == [
        (60, "Strange", "pending"),
        (120, "Strange", "firing"),
        (240, "Strange", "resolved"),
    ]


def _candidate(kind: CandidateKind, state: str, minute: float, **extra: object) -> AlertCandidate:
    return AlertCandidate(
        "pond-01", "n1", str(extra.pop("subject", "dissolved_oxygen")), kind,
        str(extra.pop("source", "do_dawn_forecast")),
        Severity(str(extra.pop("severity", "critical"))),
        state, at(0), at(minute), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_candidates_from_analytics_become_alerts_with_their_own_severity() -> None:
    ev = evaluator("rules: [{name: Analytics, kind: candidate, kinds: [forecast, offline]}]")
    fired = ev.candidate(
        _candidate(CandidateKind.FORECAST, "firing", 1, value=1.8, limit=2.3, expected_at=at(180))
    )
    assert len(fired) == 1
    assert fired[0].name == "Forecast"
    assert fired[0].severity is Severity.CRITICAL
    assert fired[0].labels["detector"] == "do_dawn_forecast"
    assert fired[0].annotations["expected_at"].startswith("2026-07-15T22:00")
    # The same candidate again (a redelivery) changes nothing; a kind not listed is ignored.
    assert ev.candidate(_candidate(CandidateKind.FORECAST, "firing", 2)) == []
    assert ev.candidate(_candidate(CandidateKind.SENSOR_FAULT, "firing", 2, source="spike")) == []
    resolved = ev.candidate(_candidate(CandidateKind.FORECAST, "resolved", 60))
    assert [a.state for a in resolved] == [AlertState.RESOLVED]


def test_a_restart_from_the_store_neither_forgets_nor_repeats(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "alerts.sqlite"
    store = AlertStore(path)
    ev = evaluator()
    for alert in ev.observe("pond-01", "n1", at(0), {"dissolved_oxygen": 2.0}):
        store.save(alert)
    store.close()

    store = AlertStore(path)  # the service restarts
    reopened = Evaluator(
        load_rules(text=""), REGISTRY, PROFILES, at(3), store.open_alerts().values()
    )
    assert reopened.observe("pond-01", "n1", at(5), {"dissolved_oxygen": 2.1}) == []  # no repeat
    later = reopened.observe("pond-01", "n1", at(10), {"dissolved_oxygen": 3.0})
    assert sorted((a.name, a.state.value) for a in later) == [
        ("DissolvedOxygenLowCritical", "resolved"),  # 3.0 is past 2.3 + 0.3
        ("DissolvedOxygenLowWarning", "firing"),  # still under 4.0, now for 10 minutes
    ]
    for alert in later:
        store.save(alert)
    assert [a.name for a in store.open_alerts().values()] == ["DissolvedOxygenLowWarning"]


def test_an_acknowledged_alert_stays_acknowledged_until_it_resolves(tmp_path: object) -> None:
    from pathlib import Path

    store = AlertStore(Path(str(tmp_path)) / "a.sqlite")
    ev = evaluator()
    changed = ev.observe("pond-01", "n1", at(0), {"dissolved_oxygen": 2.0})
    alert = next(a for a in changed if a.severity is Severity.CRITICAL)
    episode = store.save(alert)
    acked = store.acknowledge(store.ack_code(episode).lower(), "Hương", at(2))
    ev.acknowledged(acked)
    assert ev.observe("pond-01", "n1", at(5), {"dissolved_oxygen": 2.1}) == []
    states = {a.name: a.state for a in ev.open_alerts}
    assert states["DissolvedOxygenLowCritical"] is AlertState.ACKNOWLEDGED
    done = [
        a
        for a in ev.observe("pond-01", "n1", at(10), {"dissolved_oxygen": 2.9})
        if a.severity is Severity.CRITICAL
    ]
    assert [a.state for a in done] == [AlertState.RESOLVED]
    store.save(done[0])
    assert [state for _, state, _ in store.history(episode)] == [
        "firing",
        "acknowledged",
        "resolved",
    ]
    assert isinstance(store.get(episode), Alert)
