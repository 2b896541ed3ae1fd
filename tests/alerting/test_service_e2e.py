"""End to end with the real broker: a DO crash → one critical message to the farmer, escalation
to the technician when nobody acknowledges, a resolved message; acknowledging stops escalation;
a restart neither loses nor repeats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.config import load_alerting_config
from farmwatch_alerting.service import AlertingService
from farmwatch_core.contract import Record, node_topic
from farmwatch_core.contract.payload import encode_record
from farmwatch_core.contract.topics import Channel
from farmwatch_core.mqtt import new_client
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.registry import parse_registry
from support.waiting import eventually

if TYPE_CHECKING:
    from alerting.conftest import HttpReceiver


pytestmark = pytest.mark.mosquitto

REGISTRY = parse_registry(
    "farms: [{id: pond-01, name: Ao cá bà Hương, model: aquaculture_pond, nodes: [{id: n1}]}]"
)


def config_file(tmp_path: Path, receiver: HttpReceiver, escalate_after: str) -> Path:
    path = tmp_path / "alerting.yaml"
    path.write_text(
        f"""
public_url: http://farm.example
rules:
  profile_defaults: true
routing:
  receivers:
    - name: farmer
      contacts: [{{channel: hook, to: "{receiver.url}/farmer"}}]
      escalate_to: technician
      escalate_after: {escalate_after}
    - name: technician
      contacts: [{{channel: hook, to: "{receiver.url}/technician"}}]
  route:
    receiver: farmer
    group_by: [farm, node, alertname]
    group_wait: 0s
    group_interval: 2s  # a resolved group is announced at its next interval
    repeat_interval: 4h
channels:
  - {{name: hook, type: webhook}}
""",
        encoding="utf-8",
    )
    return path


class Publisher:
    def __init__(self, mqtt: MqttSettings) -> None:
        self.mqtt = mqtt
        self.client, address = new_client(mqtt, "e2e-node", persistent=False)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.seq = 0

    def do(self, value: float) -> None:
        self.seq += 1
        record = Record(datetime.now(UTC), self.seq, True, {"dissolved_oxygen": value, "ph": 7.4})
        topic = node_topic("pond-01", "n1", Channel.TELEMETRY, prefix=self.mqtt.topic_prefix)
        self.client.publish(str(topic), encode_record(record), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def publisher(mqtt_settings: MqttSettings) -> Iterator[Publisher]:
    p = Publisher(mqtt_settings)
    yield p
    p.close()


def service(path: Path, mqtt: MqttSettings, data: Path) -> AlertingService:
    svc = AlertingService(
        load_alerting_config(path, mqtt), REGISTRY, mqtt, data, client_id="e2e-alerting",
        tick_s=0.2,
    )  # fmt: skip
    svc.start()
    return svc


def bodies(receiver: HttpReceiver, who: str) -> list[dict[str, object]]:
    """The notifications a webhook receiver got (the envelope's ``notification`` part)."""
    return [r.json()["notification"] for r in receiver.requests(f"/{who}")]


def test_a_do_crash_notifies_once_escalates_and_resolves(
    tmp_path: Path, mqtt_settings: MqttSettings, http_receiver: HttpReceiver, publisher: Publisher
) -> None:
    svc = service(config_file(tmp_path, http_receiver, "2s"), mqtt_settings, tmp_path / "data")
    try:
        svc.connected.wait(10)
        for value in (5.2, 4.8, 2.1, 1.9, 1.8):  # the crash: below 2.3 three times
            publisher.do(value)
        first = eventually(lambda: bodies(http_receiver, "farmer"), timeout=10)
        assert first[0]["reason"] == "new"
        assert first[0]["severity"] == "critical"
        assert "Oxy hòa tan (DO) thấp" in str(first[0]["text"])
        assert "Bật máy sục khí" in str(first[0]["text"])
        escalated = eventually(lambda: bodies(http_receiver, "technician"), timeout=10)
        assert escalated[0]["reason"] == "escalation"
        assert str(escalated[0]["text"]).startswith("[Chuyển cấp 1]")
        for value in (2.4, 2.9, 3.5):  # back past 2.3 + 0.3
            publisher.do(value)
        resolved = eventually(
            lambda: [b for b in bodies(http_receiver, "farmer") if b["reason"] == "resolved"],
            timeout=10,
        )
        assert str(resolved[0]["text"]).startswith("✅ ĐÃ ỔN")
        # The all-clear asks whether the alert was useful, with the episode's own link.
        code = str(first[0]["ack_code"])
        assert f"/a/{code} hoặc nhắn 1/2/3 {code}" in str(resolved[0]["text"])
        critical_new = [
            b for b in bodies(http_receiver, "farmer")
            if b["reason"] == "new" and b["severity"] == "critical"
        ]  # fmt: skip
        assert len(critical_new) == 1  # exactly one critical notification, not one per reading
    finally:
        svc.stop()


def test_acknowledging_stops_escalation_and_a_restart_repeats_nothing(
    tmp_path: Path, mqtt_settings: MqttSettings, http_receiver: HttpReceiver, publisher: Publisher
) -> None:
    path = config_file(tmp_path, http_receiver, "3s")
    svc = service(path, mqtt_settings, tmp_path / "data")
    try:
        svc.connected.wait(10)
        publisher.do(1.9)
        first = eventually(lambda: bodies(http_receiver, "farmer"), timeout=10)
        code = str(first[0]["ack_code"])
        assert first[0]["ack_url"] == f"http://farm.example/a/{code}"
        svc.acknowledge(code, "Hương", datetime.now(UTC))
    finally:
        svc.stop()
    svc = service(path, mqtt_settings, tmp_path / "data")  # restarted with the same data
    try:
        publisher.do(2.0)  # still low: same alert, acknowledged
        eventually(lambda: svc.counts["messages"] >= 1, timeout=10)
        deadline = datetime.now(UTC) + timedelta(seconds=4.5)  # past escalate_after
        while datetime.now(UTC) < deadline:
            svc.dispatch_once(datetime.now(UTC))
        assert bodies(http_receiver, "technician") == []  # acknowledged: no escalation
        assert len(bodies(http_receiver, "farmer")) == 1  # nothing repeated after the restart
    finally:
        svc.stop()
