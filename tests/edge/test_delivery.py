"""The edge agent's delivery guarantees, against a real mosquitto (no broker mocks).

* A broker outage during which 10,000 readings are taken loses none: after the broker is back,
  every sequence number arrives, in order when deduplicated by seq.
* The broker stopped again in the middle of the replay that follows such an outage: all
  readings still arrive, in order, and repeats are identical records (deduplicated by ingest).
* ``kill -9`` of the agent process mid-stream loses nothing that had been taken.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from farmwatch_core.contract import Channel, TimeWindow, decode_telemetry, node_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import MqttSettings
from farmwatch_edge.agent import Agent
from farmwatch_edge.clock import ClockMode
from farmwatch_edge.config import (
    ClockConfig,
    EdgeConfig,
    FakeSensor,
    MqttLinkSettings,
    OutboxConfig,
)
from farmwatch_edge.drivers import DriverError
from support.mosquitto import unique_prefix
from support.processes import FarmwatchProcess
from support.waiting import eventually

from farmwatch.broker import MosquittoProcess, free_port

_ANY_TIME = TimeWindow(max_future=timedelta(days=3650), max_past=timedelta(days=3650))


class Collector:
    """A persistent QoS 1 subscriber (like ingest) recording every record it receives.

    Its session lives in the broker, so what the agent publishes while the collector is still
    reconnecting after a broker restart is queued for it, not lost to the test.
    """

    def __init__(self, settings: MqttSettings, farm_id: str, node_id: str) -> None:
        self.topic = str(
            node_topic(farm_id, node_id, Channel.TELEMETRY, prefix=settings.topic_prefix)
        )
        self.client, address = new_client(
            settings, f"collector-{uuid.uuid4().hex[:8]}", persistent=True
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._lock = threading.Lock()
        self.arrivals: list[tuple[int, datetime]] = []  # (seq, ts) in arrival order
        self.subscribed = threading.Event()
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        eventually(self.subscribed.is_set, timeout=10, message="collector subscribed")

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        client.subscribe(self.topic, qos=1)
        self.subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        decoded = decode_telemetry(bytes(msg.payload), now=datetime.now(UTC), window=_ANY_TIME)
        assert not decoded.rejections, decoded.rejections
        with self._lock:
            self.arrivals.extend((r.seq, r.ts) for r in decoded.records)

    def all_arrivals(self) -> list[tuple[int, datetime]]:
        """Every (seq, ts) received, repeats included, in arrival order."""
        with self._lock:
            return list(self.arrivals)

    def first_arrivals(self) -> dict[int, datetime]:
        """seq -> ts, in order of first arrival (dicts keep insertion order)."""
        with self._lock:
            out: dict[int, datetime] = {}
            for seq, ts in self.arrivals:
                out.setdefault(seq, ts)
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class MeteredDriver:
    """A sensor the test lets read ``allow(n)`` more times; afterwards it reports "paused".

    Being paused is a driver failure like any other, so this also exercises error reporting.
    """

    name = "probe"
    quantities = ("dissolved_oxygen",)

    def __init__(self) -> None:
        self._budget = 0
        self.taken = 0
        self._lock = threading.Lock()

    def allow(self, count: int) -> None:
        with self._lock:
            self._budget += count

    def read(self) -> dict[str, float]:
        with self._lock:
            if self._budget == 0:
                raise DriverError("paused by the test")
            self._budget -= 1
            self.taken += 1
            return {"dissolved_oxygen": 3.0 + (self.taken % 100) / 20}

    def close(self) -> None:
        """Nothing to release."""


def _assert_in_order(arrivals: dict[int, datetime], expected: range) -> None:
    assert sorted(arrivals) == list(expected), "some sequence numbers never arrived"
    seqs = list(arrivals)
    assert seqs == sorted(seqs), "records arrived out of order (deduplicated by seq)"
    stamps = [arrivals[s] for s in sorted(arrivals)]
    assert all(a < b for a, b in itertools.pairwise(stamps)), "timestamps not unique"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A mosquitto of this test's own, so the test can stop and restart it."""
    broker = MosquittoProcess(tmp_path / "broker", free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_outage_with_10000_readings_loses_nothing(
    tmp_path: Path, own_broker: MosquittoProcess
) -> None:
    settings = MqttSettings(url=own_broker.url, topic_prefix=unique_prefix("outage"))
    config = EdgeConfig(
        farm_id="pond-01",
        node_id="n1",
        data_dir=tmp_path / "edge",
        mqtt=MqttLinkSettings(url=settings.url, topic_prefix=settings.topic_prefix),
        reconnect_min_s=1,
        reconnect_max_s=2,
        status_interval_s=1,
        outbox=OutboxConfig(rate_limit_per_s=50_000),
        clock=ClockConfig(mode=ClockMode.SYNCED),
        sensors=[
            FakeSensor(name="probe", interval_s=0.0001, values={"ph": 7.0}),
        ],
    )
    driver = MeteredDriver()
    agent = Agent(config, drivers=[driver])
    collector = Collector(settings, "pond-01", "n1")
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        driver.allow(100)
        eventually(lambda: len(collector.first_arrivals()) == 100, timeout=20)

        own_broker.stop()  # SIGTERM: mosquitto saves the collector's session, as in production
        eventually(lambda: agent.delivery is not None and not agent.delivery.connected)
        driver.allow(10_000)
        eventually(lambda: driver.taken == 10_100, timeout=60, message="readings taken")
        assert agent.outbox is not None
        assert agent.outbox.depth >= 10_000
        assert agent.status()["driver_errors"] == {"probe": "paused by the test"}

        own_broker.start()
        started = time.monotonic()
        eventually(
            lambda: len(collector.first_arrivals()) == 10_100,
            timeout=120,
            message="all readings arrive after the broker restarts",
        )
        replay_s = time.monotonic() - started
        eventually(lambda: agent.outbox is not None and agent.outbox.depth == 0, timeout=20)
        assert agent.outbox.evicted == 0
        _assert_in_order(collector.first_arrivals(), range(1, 10_101))
        # Generous: mostly the reconnect backoff; the bench measures the replay rate itself.
        assert replay_s < 60
    finally:
        stop.set()
        thread.join(30)
        collector.close()
    assert not thread.is_alive()


def test_broker_stopped_in_the_middle_of_the_replay_loses_and_reorders_nothing(
    tmp_path: Path, own_broker: MosquittoProcess
) -> None:
    """The broker goes away again while the outbox is being flushed after a reconnect."""
    settings = MqttSettings(url=own_broker.url, topic_prefix=unique_prefix("mid-replay"))
    config = EdgeConfig(
        farm_id="pond-01",
        node_id="n3",
        data_dir=tmp_path / "edge",
        mqtt=MqttLinkSettings(url=settings.url, topic_prefix=settings.topic_prefix),
        reconnect_min_s=1,
        reconnect_max_s=1,
        status_interval_s=1,
        # Slow enough that the replay of 6,000 readings takes ~3 s: time to stop the broker.
        outbox=OutboxConfig(rate_limit_per_s=2_000, batch_records=100, max_inflight=5),
        clock=ClockConfig(mode=ClockMode.SYNCED),
        sensors=[
            FakeSensor(name="probe", interval_s=0.0001, values={"ph": 7.0}),
        ],
    )
    driver = MeteredDriver()
    agent = Agent(config, drivers=[driver])
    collector = Collector(settings, "pond-01", "n3")
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    total = 6_100
    try:
        driver.allow(100)
        eventually(lambda: len(collector.first_arrivals()) == 100, timeout=20)
        own_broker.stop()
        eventually(lambda: agent.delivery is not None and not agent.delivery.connected)
        driver.allow(total - 100)
        eventually(lambda: driver.taken == total, timeout=60, message="readings taken")

        own_broker.start()  # same port, same persistence directory
        eventually(
            lambda: len(collector.first_arrivals()) >= 1_500,
            timeout=30,
            message="the replay is under way",
        )
        own_broker.stop()  # in the middle of the flush
        assert agent.outbox is not None
        depth = agent.outbox.depth
        arrived = len(collector.first_arrivals())
        assert depth >= 1_000, f"the replay was nearly over ({depth} left) — not mid-replay"
        assert arrived < total
        eventually(lambda: agent.delivery is not None and not agent.delivery.connected)

        own_broker.start()
        eventually(
            lambda: len(collector.first_arrivals()) == total,
            timeout=60,
            message="all readings arrive after the second restart",
        )
        eventually(lambda: agent.outbox is not None and agent.outbox.depth == 0, timeout=20)
    finally:
        stop.set()
        thread.join(30)
        collector.close()
    assert not thread.is_alive()
    arrivals = collector.first_arrivals()
    _assert_in_order(arrivals, range(1, total + 1))
    # At least once on the wire: a batch whose PUBACK the stop cut off is sent again. Every
    # repeat is the same record (same seq and timestamp), so ingest, which keys on node and
    # timestamp, stores each reading exactly once; and repeats are bounded by the window.
    received = collector.all_arrivals()
    assert dict(received) == arrivals  # a repeat's timestamp is the first one's
    repeats = len(received) - total
    limits = config.outbox
    assert 0 <= repeats <= 2 * limits.max_inflight * limits.batch_records
    assert agent.outbox.evicted == 0


def _outbox_max_seq(path: Path) -> int:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT MAX(seq) FROM outbox").fetchone()
    db.close()
    return int(row[0] or 0)


def test_kill_9_mid_stream_loses_nothing(tmp_path: Path, mqtt_settings: MqttSettings) -> None:
    data_dir = tmp_path / "edge"
    config_file = tmp_path / "edge.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "farm_id": "pond-01",
                "node_id": "n2",
                "data_dir": str(data_dir),
                "mqtt": {"url": mqtt_settings.url, "topic_prefix": mqtt_settings.topic_prefix},
                "reconnect_min_s": 1,
                "reconnect_max_s": 2,
                "clock": {"mode": "synced"},
                "sensors": [
                    {
                        "name": "probe",
                        "driver": "fake",
                        "interval_s": 0.002,
                        "values": {"dissolved_oxygen": 5.5},
                    }
                ],
            }
        )
    )
    collector = Collector(mqtt_settings, "pond-01", "n2")
    agent = FarmwatchProcess(
        ["run", "--config", str(config_file)], tmp_path / "edge.log", module="farmwatch_edge"
    )
    try:
        agent.start()
        eventually(lambda: len(collector.first_arrivals()) >= 300, timeout=30)
        agent.kill()
        # Everything taken before the kill is either delivered already or still in the outbox.
        taken = max(_outbox_max_seq(data_dir / "outbox.db"), *collector.first_arrivals())
        agent.start()
        eventually(
            lambda: set(range(1, taken + 1)) <= set(collector.first_arrivals()),
            timeout=30,
            message="every reading taken before kill -9 arrives after the restart",
        )
        # The restarted agent continues with new, higher sequence numbers.
        eventually(lambda: max(collector.first_arrivals()) > taken + 200, timeout=30)
        assert agent.stop() == 0
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()
        collector.close()
    arrivals = collector.first_arrivals()
    first_run = sorted(s for s in arrivals if s <= taken)
    second_run = sorted(s for s in arrivals if s > taken)
    assert first_run == list(range(1, taken + 1))
    # After a crash the sequence store skips to its next reserved block (a visible gap, never
    # a reused number); from there the second run is contiguous too.
    assert second_run == list(range(second_run[0], second_run[-1] + 1))
    stamps = [arrivals[s] for s in sorted(arrivals)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
