"""The MQTT channel against the session's real mosquitto."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.channels import MqttChannel
from farmwatch_core.settings import MqttSettings
from support.recorder import Recorder
from support.waiting import eventually

from farmwatch.broker import free_port

if TYPE_CHECKING:
    from alerting.conftest import AlertFactory, NotificationFactory

pytestmark = pytest.mark.mosquitto


def test_one_message_per_farm_with_that_farms_alerts(
    mqtt_settings: MqttSettings,
    notification_factory: NotificationFactory,
    alert_factory: AlertFactory,
) -> None:
    alerts = (
        alert_factory("pond-01", "pond-01-n2").as_json(),
        alert_factory("barn-07", "barn-07-n1").as_json(),
        alert_factory("pond-01", "pond-01-n3").as_json(),
    )
    notification = notification_factory(channel="apps", alerts=alerts)
    prefix = mqtt_settings.topic_prefix
    with Recorder(mqtt_settings, [f"{prefix}/farms/+/alerts"]) as recorder:
        result = MqttChannel("apps", mqtt_settings, timeout_s=5).send(notification)
        assert result.ok, result.detail
        received = eventually(lambda: recorder.received() if len(recorder.received()) >= 2 else [])
    by_topic = {r.topic: r.payload for r in received}
    assert sorted(by_topic) == [f"{prefix}/farms/barn-07/alerts", f"{prefix}/farms/pond-01/alerts"]
    pond = json.loads(by_topic[f"{prefix}/farms/pond-01/alerts"])
    assert [a["labels"]["node"] for a in pond["alerts"]] == ["pond-01-n2", "pond-01-n3"]
    assert pond["notification"]["id"] == notification.id
    # Vietnamese arrives byte-exact (UTF-8, no \u escapes).
    assert notification.subject.encode() in by_topic[f"{prefix}/farms/pond-01/alerts"]
    assert pond["notification"]["text"] == notification.text


def test_alerts_without_a_farm_are_not_retried(
    mqtt_settings: MqttSettings, notification_factory: NotificationFactory
) -> None:
    alert = {"fingerprint": "f1", "labels": {"alertname": "X"}}
    result = MqttChannel("apps", mqtt_settings).send(notification_factory(alerts=(alert,)))
    assert (result.ok, result.retryable) == (False, False)
    assert "farm" in result.detail


def test_broker_down_is_retryable(notification_factory: NotificationFactory) -> None:
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}")
    result = MqttChannel("apps", settings, timeout_s=2).send(notification_factory())
    assert (result.ok, result.retryable) == (False, True)
