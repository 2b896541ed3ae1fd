"""The clean-water and effluent station scenarios end to end: the simulator publishes to a real
mosquitto, ``farmwatch analytics`` computes the pump/tank indicators and publishes them,
``farmwatch alerting`` turns readings and indicators into alerts with the profiles' default
rules and notifies a real webhook. Exactly the expected alerts fire, inside their incidents'
windows, none on the control station or the clean stretches; the farmer's message says what
to do in Vietnamese."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.alert import AlertState
from farmwatch_alerting.config import load_alerting_config
from farmwatch_alerting.messages import Contact
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.service import AlertingService
from farmwatch_analytics.service import AnalyticsService
from farmwatch_core.settings import MqttSettings
from farmwatch_simulators.replay import ScenarioPublisher
from farmwatch_simulators.scenarios import load_scenario
from support.stations import check_fired
from support.waiting import eventually

if TYPE_CHECKING:
    from alerting.conftest import HttpReceiver

pytestmark = pytest.mark.mosquitto

# What the farmer's first message about each alert must tell them to do (rules.py).
ACTIONS = {
    "FreeChlorineLowWarning": "bơm định lượng clo",
    "TurbidityHighWarning": "rửa lọc",
    "PumpFailureHighCritical": "tắt bơm ngay",
    "TankRunningDryHighWarning": "dùng nước tiết kiệm",
    "CodHighWarning": "tạm ngừng xả",
}


def config_file(tmp_path: Path, receiver: HttpReceiver) -> Path:
    path = tmp_path / "alerting.yaml"
    path.write_text(
        f"""
public_url: http://farm.example
rules:
  profile_defaults: true
routing:
  receivers:
    - name: operator
      contacts: [{{channel: hook, to: "{receiver.url}/operator"}}]
  route:
    receiver: operator
    group_by: [farm, node, alertname]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 4h
channels:
  - {{name: hook, type: webhook}}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("name", ["clean-water-station", "effluent-station"])
def test_a_station_scenario_raises_exactly_its_alerts_end_to_end(
    name: str, tmp_path: Path, mqtt_settings: MqttSettings, http_receiver: HttpReceiver
) -> None:
    scenario = load_scenario(name)
    prefix = mqtt_settings.topic_prefix
    alerting = AlertingService(
        load_alerting_config(config_file(tmp_path, http_receiver), mqtt_settings),
        scenario.deployment, mqtt_settings, tmp_path / "alerting", client_id=f"al-{prefix}",
        tick_s=0.2,
    )  # fmt: skip
    analytics = AnalyticsService(
        mqtt_settings, scenario.deployment, tmp_path / "analytics.pickle",
        client_id=f"an-{prefix}", tick_s=0.5,
    )  # fmt: skip
    alerting.start()
    analytics.start()
    try:
        assert alerting.connected.wait(10)
        assert analytics.wait_ready(10)
        # December 2026 is ahead of the test's clock: shifted so that it ends now.
        publisher = ScenarioPublisher(mqtt_settings, client_id=f"pub-{prefix}")
        report = publisher.publish_scenario(scenario, shift_to_now=True)
        assert report.complete
        eventually(
            lambda: analytics.counts["records"] == report.records,
            timeout=60,
            message=f"analytics saw {dict(analytics.counts)} of {report.records}",
        )
        # Every record reached alerting, and so did analytics' derived values and candidates
        # (how many messages those are depends on the scenario and on how the publisher
        # batched the records): wait until nothing more comes.
        seen: list[int] = []

        def settled() -> bool:
            seen.append(alerting.counts["messages"])
            return seen[-1] > 0 and seen[-5:] == [seen[-1]] * 5

        eventually(
            settled, timeout=60, interval=0.3, message=f"alerting saw {dict(alerting.counts)}"
        )
        episodes = alerting.store.episodes_between(
            scenario.start + report.shift, scenario.end + report.shift
        )
        fired = [
            (alert.name, alert.labels["node"], alert.starts_at)
            for _episode, alert in episodes
            if alert.fired_at is not None or alert.state is AlertState.FIRING
        ]
        check_fired(scenario, fired, report.shift)

        # What the operator is told about each alert says what to do, in Vietnamese (rendered
        # by the service's own renderer from the stored alerts: three days pass in seconds
        # here, so most alerts resolve before their group is first sent).
        for _episode, alert in episodes:
            if alert.name in ACTIONS and alert.fired_at is not None:
                notice = Notice("operator", "g", {}, [alert], NoticeReason.NEW, alert.fired_at)
                text = alerting.renderer.render(notice, Contact("hook", "x")).text
                assert ACTIONS[alert.name] in text, text
        # And whatever went out over the webhook is about the alerts that fired (an alert that
        # fired and resolved between two dispatches is not sent at all, as in Alertmanager).
        for request in http_receiver.requests("/operator"):
            for alert_json in request.json()["alerts"]:
                assert alert_json["labels"]["alertname"] in {n for n, _node, _ts in fired}
    finally:
        analytics.stop()
        alerting.stop()
