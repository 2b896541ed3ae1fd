"""A test-side MQTT subscriber that records what the system under test published.

Tests check what reached the broker (telemetry, derived values, alert candidates) through a
separate client, as another service would see it. Raw messages are kept and decoded by the
test afterwards, so a decoding error fails the test instead of dying on paho's thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType

import paho.mqtt.client as paho
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import MqttSettings


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    at: float  # time.monotonic() on arrival


class Recorder:
    """Subscribes to ``filters`` (QoS 1) and keeps every message; use it as a context manager."""

    def __init__(self, mqtt: MqttSettings, filters: list[str]) -> None:
        self.filters = filters
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._subscribed = threading.Event()
        self.client, self._address = new_client(
            mqtt, f"recorder-{uuid.uuid4().hex[:10]}", persistent=False
        )
        self.client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in self.filters])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._received.append(Received(message.topic, bytes(message.payload), time.monotonic()))

    def __enter__(self) -> Recorder:
        self.client.connect(self._address.host, self._address.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), f"the recorder could not subscribe to {self.filters}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def received(self, suffix: str = "") -> list[Received]:
        """What arrived so far, optionally only on topics ending with ``suffix``."""
        with self._lock:
            return [r for r in self._received if r.topic.endswith(suffix)]
