"""``farmwatch analytics`` against the real mosquitto: the dawn-crash scenario in, candidates and
derived values out; stopped and restarted, it resumes with what it had learned."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from farmwatch_analytics.service import AnalyticsService
from farmwatch_core.contract.candidates import AlertCandidate, CandidateKind, Severity
from farmwatch_core.contract.derived import decode_derived
from farmwatch_core.settings import IngestSettings, MqttSettings
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.spool import Spool
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_ingest.validation import TelemetryValidator
from farmwatch_simulators.replay import ScenarioPublisher
from farmwatch_simulators.scenarios import load_scenario, parse_scenario
from support.recorder import Recorder
from support.waiting import eventually

pytestmark = pytest.mark.mosquitto


def candidates_of(recorder: Recorder) -> list[AlertCandidate]:
    return [AlertCandidate.from_json(m.payload) for m in recorder.received("/candidates")]


def derived_per_node(recorder: Recorder) -> dict[str, int]:
    """How many derived values arrived for each node (each message decoded by the contract)."""
    counts: dict[str, int] = {}
    for message in recorder.received("/analytics"):
        node = message.topic.split("/")[-2]
        counts[node] = counts.get(node, 0) + len(decode_derived(message.payload).readings)
    return counts


def test_a_published_crash_becomes_candidates_and_state_survives_a_restart(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    scenario = load_scenario("dawn-do-crash")
    state = tmp_path / "analytics-state.pickle"
    prefix = mqtt_settings.topic_prefix
    filters = [f"{prefix}/farms/+/candidates", f"{prefix}/farms/+/nodes/+/analytics"]
    with Recorder(mqtt_settings, filters) as listener:
        service = AnalyticsService(
            mqtt_settings, scenario.deployment, state, client_id=f"analytics-{prefix}", tick_s=0.5
        )
        service.start()
        try:
            assert service.wait_ready(10)
            publisher = ScenarioPublisher(mqtt_settings, client_id=f"pub-{prefix}")
            report = publisher.publish_scenario(scenario)  # July 2026: in ingest's 180-day window
            assert report.complete
            records = report.records

            def all_analysed() -> bool:
                return service.counts["records"] == records

            eventually(all_analysed, timeout=60, message=f"analytics saw only {service.counts}")
        finally:
            service.stop()

        def forecast_arrived() -> bool:
            return any(c.kind is CandidateKind.FORECAST for c in candidates_of(listener))

        def derived_arrived() -> bool:
            derived = derived_per_node(listener)
            return len(derived) == 3 and min(derived.values()) >= records // 3

        eventually(forecast_arrived, timeout=10, message=f"counts {dict(service.counts)}")
        eventually(derived_arrived, timeout=20, message="derived values missing")
        candidates = candidates_of(listener)
        derived = derived_per_node(listener)
    forecast = [c for c in candidates if c.kind is CandidateKind.FORECAST and c.state == "firing"]
    assert [c.node for c in forecast] == ["pond-01-n1"]
    critical = [
        c for c in candidates
        if c.severity is Severity.CRITICAL and c.kind is CandidateKind.LIMIT and c.state == "firing"
    ]  # fmt: skip
    assert {c.node for c in critical} == {"pond-01-n1"}
    assert set(derived) == {"pond-01-n1", "pond-02-n1", "pond-03-n1"}
    assert min(derived.values()) >= records // 3  # every record produced derived values

    # The state was saved at stop; a new service starts from it, not from scratch.
    assert state.exists()
    again = AnalyticsService(mqtt_settings, scenario.deployment, state, tick_s=0.5)
    assert again.engine.faults.readings == service.engine.faults.readings > 0
    forecaster = again.engine._forecasters["pond-01-n1"]
    assert forecaster.reaeration_per_h != 0.1


def test_an_unreadable_state_file_starts_fresh_instead_of_crashing(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    state = tmp_path / "analytics-state.pickle"
    state.write_bytes(b"not a pickle")
    service = AnalyticsService(mqtt_settings, load_scenario("demo").deployment, state)
    assert service.engine.faults.readings == 0


def test_derived_values_are_stored_beside_the_readings_by_ingest(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    """Analytics → MQTT → ingest → SQLite: THI sits in the barn's own rows, no gaps invented."""
    text = """
name: barn-day
seed: 3
start: 2026-06-10T00:00:00Z
duration: 6h
interval: 10m
farms:
  - {model: pig_barn, nodes_per_farm: 1}
"""
    scenario = parse_scenario(text, "barn-day")
    prefix = mqtt_settings.topic_prefix
    store = SqliteStore(tmp_path / "fw.db")
    ingest = IngestService(
        mqtt_settings,
        IngestSettings(client_id=f"ingest-{prefix}"),
        store,
        DeadLetterStore(tmp_path / "dead.db"),
        TelemetryValidator(scenario.deployment, topic_prefix=prefix),
        Spool(tmp_path / "spool.db", 10**7),
    )
    runner = threading.Thread(target=ingest.run)
    runner.start()
    analytics = AnalyticsService(
        mqtt_settings, scenario.deployment, tmp_path / "state.pickle", client_id=f"an-{prefix}"
    )
    try:
        assert ingest.wait_ready(10)
        analytics.start()
        assert analytics.wait_ready(10)
        report = ScenarioPublisher(mqtt_settings, client_id=f"pub-{prefix}").publish_scenario(
            scenario
        )
        assert report.complete

        def thi_stored() -> int:
            rows = store.records("pig-01", "pig-01-n1", scenario.start, scenario.end)
            return sum(1 for r in rows if "thi_pig" in r.readings)

        eventually(lambda: thi_stored() == report.records, timeout=30)
    finally:
        analytics.stop()
        ingest.stop()
        runner.join(15)
    rows = store.records("pig-01", "pig-01-n1", scenario.start, scenario.end)
    assert len(rows) == report.records  # derived values joined the points, added none
    for record in rows:
        assert {"air_temperature", "nh3", "thi_pig", "thi_band", "anomaly_nh3"} <= set(
            record.readings
        )
    state = ingest.nodes.snapshot()[0]
    assert state.missing == set()  # the repeated seq of the derived messages is not a gap
    assert state.records == report.records
    assert state.duplicates == 0
    store.close()
