"""The live runner keeps thousands of nodes on schedule in one process, losing nothing.

Against the session's real mosquitto (tests/conftest.py). The bounds are deliberately loose
(the machine is shared and small): the test proves no loss and no runaway lag, not speed —
bench/simulate.py measures that.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
import pytest
from farmwatch_core.contract import NodeTopic, decode_telemetry
from farmwatch_core.settings import MqttSettings
from farmwatch_simulators.runner import PublishedRecord, SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from farmwatch.broker import MosquittoProcess

pytestmark = pytest.mark.mosquitto

NODES = 2000
INTERVAL_S = 2.0
COUNT = 3


class TelemetryCounter:
    """Every telemetry payload published under a prefix, kept raw (decoded after the run)."""

    def __init__(self, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.port = port
        self.payloads: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        client.subscribe(f"{self.prefix}/farms/+/nodes/+/telemetry", qos=1)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.payloads.append((message.topic, bytes(message.payload)))

    def start(self) -> None:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the counter could not subscribe"

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def count(self) -> int:
        with self.lock:
            return len(self.payloads)

    def triples(self) -> list[PublishedRecord]:
        with self.lock:
            payloads = list(self.payloads)
        now = datetime.now(UTC)
        found = []
        for topic_text, payload in payloads:
            topic = NodeTopic.parse(topic_text, self.prefix)
            decoded = decode_telemetry(payload, now=now)
            assert decoded.rejections == [], decoded.rejections
            found += [PublishedRecord(topic.farm_id, topic.node_id, r.seq) for r in decoded.records]
        return found


def test_two_thousand_nodes_keep_their_schedule_and_lose_nothing(
    mosquitto: MosquittoProcess, mqtt_settings: MqttSettings
) -> None:
    deployment = build_deployment(NODES, seed=5, nodes_per_farm=1)
    runner = SimulatorRunner(
        mqtt_settings,
        deployment,
        interval_s=INTERVAL_S,
        count=COUNT,
        seed=5,
        ack_timeout_s=60.0,
    )
    assert runner.node_count == NODES
    counter = TelemetryCounter(mosquitto.port, mqtt_settings.topic_prefix)
    counter.start()
    try:
        warm = runner.warm_up()  # the spin-up happens here, before the clock starts
        began = time.monotonic()
        runner.start()
        runner.join(120)
        elapsed = time.monotonic() - began
        deadline = time.monotonic() + 30
        while counter.count() < NODES * COUNT and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        counter.stop()

    expected = NODES * COUNT
    assert runner.warm_up() == 0.0  # idempotent: run() did not spin the models up again
    assert runner.published == runner.acknowledged == expected
    assert runner.unacknowledged == 0
    assert runner.skipped == 0
    published = runner.published_records()
    assert len(set(published)) == expected
    received = counter.triples()
    assert sorted(received) == sorted(published)  # each record once, none missing
    per_node: dict[tuple[str, str], list[int]] = {}
    for record in received:
        per_node.setdefault((record.farm_id, record.node_id), []).append(record.seq)
    assert len(per_node) == NODES
    assert all(sorted(seqs) == list(range(1, COUNT + 1)) for seqs in per_node.values())

    # The schedule: COUNT intervals, phases spread over the first; generous bounds for a
    # loaded 2-core machine. Without the warm-up the first pass alone would spin up 2000
    # models inside one interval and fall seconds behind.
    p99 = runner.lag_behind_schedule(0.99)
    assert p99 is not None
    assert p99 < INTERVAL_S / 2, f"p99 lag {p99:.3f} s (warm-up took {warm:.1f} s)"
    assert runner.restarted == 0
    assert elapsed < COUNT * INTERVAL_S + 30
