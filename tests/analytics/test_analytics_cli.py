"""``farmwatch analytics run`` as an operator runs it: a real process on the test broker, fed
a published scenario, stopped with SIGTERM, restarted from its saved state."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmwatch_core.contract.candidates import AlertCandidate, CandidateKind
from farmwatch_core.settings import MqttSettings
from farmwatch_simulators.replay import ScenarioPublisher
from farmwatch_simulators.scenarios import load_scenario
from support.processes import FarmwatchProcess
from support.recorder import Recorder
from support.waiting import eventually

pytestmark = pytest.mark.mosquitto


def test_analytics_run_raises_the_dawn_crash_and_keeps_its_state(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    scenario = load_scenario("dawn-do-crash")
    registry = tmp_path / "registry.yaml"
    registry.write_text(scenario.deployment.to_yaml(), encoding="utf-8")
    prefix = mqtt_settings.topic_prefix
    recorder = Recorder(mqtt_settings, [f"{prefix}/farms/+/candidates"])

    def forecasts() -> list[str]:
        candidates = [AlertCandidate.from_json(m.payload) for m in recorder.received()]
        return [c.node for c in candidates if c.kind is CandidateKind.FORECAST]

    args = [
        "analytics",
        "run",
        *("--mqtt-url", mqtt_settings.url),
        *("--topic-prefix", prefix),
        *("--registry", str(registry)),
        *("--data-dir", str(tmp_path / "data")),
        *("--client-id", f"an-{prefix}"[:60]),
    ]
    analytics = FarmwatchProcess(args, tmp_path / "analytics.log")
    with recorder:
        analytics.start()
        try:
            eventually(lambda: "analytics subscribed" in analytics.log(), timeout=30)
            publisher = ScenarioPublisher(mqtt_settings, client_id=f"pub-{prefix}")
            assert publisher.publish_scenario(scenario).complete
            eventually(forecasts, timeout=60, message="no forecast candidate from the process")
            assert analytics.stop() == 0
            state = tmp_path / "data" / "analytics-state.pickle"
            assert state.exists()
            assert "analytics stopped" in analytics.log()

            again = FarmwatchProcess(args, tmp_path / "again.log")
            again.start()
            eventually(lambda: "restored from" in again.log(), timeout=30)
            assert again.stop() == 0
        finally:
            if analytics.proc is not None and analytics.proc.poll() is None:
                analytics.kill()
        assert set(forecasts()) == {"pond-01-n1"}


def test_analytics_run_without_a_registry_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    process = FarmwatchProcess(
        ["analytics", "run", "--registry", str(missing), "--data-dir", str(tmp_path)],
        tmp_path / "log",
    )
    process.start()
    assert process.proc is not None
    assert process.proc.wait(30) != 0
    assert "registry" in process.log()
    assert "Traceback" not in process.log()
