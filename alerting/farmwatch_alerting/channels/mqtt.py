"""MQTT: publish alerts on ``[{prefix}/]farms/{farm_id}/alerts`` for apps and dashboards.

One message per farm of the notification (the farm is each alert's ``labels["farm"]``), with
the same JSON envelope as the webhook, QoS 1 and not retained. ``send`` returns only after the
broker's PUBACK for every message (or a timeout), so "delivered" means the broker has it.

A connection per send, not a long-lived client: a message whose PUBACK timed out is then
dropped with its connection instead of sitting in paho's queue and arriving later *as well as*
the outbox's retry; and there is no reconnect state to get wrong. Alerts are rare enough that
a local CONNECT/CONNACK round trip (milliseconds) does not matter.

Classification: connection refused or lost, CONNACK "server unavailable", a PUBACK timeout are
retryable; bad credentials or not authorised (CONNACK 4/5) and alerts without a valid farm id
are not.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as paho
from farmwatch_core.contract.rejections import ContractError
from farmwatch_core.contract.topics import alerts_topic, validate_id
from farmwatch_core.mqtt import new_client
from farmwatch_core.mqtt_settings import MqttSettings
from paho.mqtt.reasoncodes import ReasonCode

from farmwatch_alerting.channels.payload import dumps, envelope
from farmwatch_alerting.notification import DeliveryResult, Notification

__all__ = ["MqttChannel", "alerts_by_farm"]

# CONNACK refusals no retry will fix: MQTT 3.1.1 §3.2.2.3 codes 1, 2, 4, 5 (protocol version,
# client id, bad user name or password, not authorised), which paho 2 reports as the MQTT 5
# reason codes 132, 133, 134, 135. Code 3 / 136 "server unavailable" is retryable.
_PERMANENT_CONNACK = {132, 133, 134, 135}


def alerts_by_farm(
    alerts: Any,
) -> tuple[dict[str, list[Mapping[str, Any]]], list[str]]:
    """Alerts grouped by a valid ``labels["farm"]``, and a note for each alert without one."""
    farms: dict[str, list[Mapping[str, Any]]] = {}
    problems: list[str] = []
    for alert in alerts:
        farm = alert.get("labels", {}).get("farm", "")
        try:
            validate_id("farm", farm)
        except ContractError as exc:
            problems.append(f"alert {alert.get('fingerprint', '?')}: {exc}")
            continue
        farms.setdefault(farm, []).append(alert)
    return farms, problems


class MqttChannel:
    """Publishes each notification's alerts to their farms' alerts topics on one broker."""

    def __init__(self, name: str, settings: MqttSettings, *, timeout_s: float = 10.0) -> None:
        self.name = name
        self.settings = settings
        self.timeout_s = timeout_s

    def send(self, notification: Notification) -> DeliveryResult:
        farms, problems = alerts_by_farm(notification.alerts)
        if not farms:
            why = "; ".join(problems) or "the notification has no alerts"
            return DeliveryResult.fail(f"MQTT: no farm to publish to ({why})")
        messages = [
            (alerts_topic(farm, self.settings.topic_prefix), dumps(envelope(notification, alerts)))
            for farm, alerts in farms.items()
        ]
        result = self._publish(messages)
        if result.ok and problems:
            return DeliveryResult.success(f"{result.detail}; skipped: {'; '.join(problems)}")
        return result

    def _publish(self, messages: list[tuple[str, bytes]]) -> DeliveryResult:
        deadline = time.monotonic() + self.timeout_s
        client, address = new_client(
            self.settings, f"farmwatch-alerting-{uuid.uuid4().hex[:12]}", persistent=False
        )
        client.connect_timeout = self.timeout_s
        connack: list[ReasonCode] = []
        connected = threading.Event()

        def on_connect(
            _c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object
        ) -> None:
            # paho's network thread; the Event hands the CONNACK over to send().
            connack.append(reason)
            connected.set()

        client.on_connect = on_connect
        try:
            client.connect(address.host, address.port, keepalive=self.settings.keepalive_s)
        except (OSError, ValueError) as exc:
            return DeliveryResult.retry(f"MQTT connect to {address.url()}: {exc}")
        client.loop_start()
        try:
            if not connected.wait(max(deadline - time.monotonic(), 0.0)):
                return DeliveryResult.retry(f"MQTT: no CONNACK from {address.url()} in time")
            if connack[0].is_failure:
                detail = f"MQTT: {address.url()} refused the connection ({connack[0]})"
                if connack[0].value in _PERMANENT_CONNACK:
                    return DeliveryResult.fail(f"{detail}; check the username/password")
                return DeliveryResult.retry(detail)
            infos = [(topic, client.publish(topic, payload, qos=1)) for topic, payload in messages]
            for topic, info in infos:
                try:
                    info.wait_for_publish(max(deadline - time.monotonic(), 0.0))
                except (RuntimeError, ValueError) as exc:
                    return DeliveryResult.retry(f"MQTT publish to {topic}: {exc}")
                if not info.is_published():
                    waited = f"{self.timeout_s:g} s"
                    return DeliveryResult.retry(f"MQTT: no PUBACK for {topic} in {waited}")
            topics = ", ".join(topic for topic, _ in infos)
            return DeliveryResult.success(f"MQTT PUBACK for {topics}")
        finally:
            client.disconnect()
            client.loop_stop()
