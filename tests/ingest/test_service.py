"""The ingest service against a real mosquitto and real stores."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
from farmwatch_core.contract import Channel, Reason, Record, encode_batch, encode_record, node_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.registry import parse_registry
from farmwatch_core.settings import InfluxSettings, IngestSettings, MqttSettings
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.spool import Spool
from farmwatch_ingest.stores.base import NodeRecord, Store
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_ingest.validation import TelemetryValidator
from support.mosquitto import start_mosquitto
from support.waiting import eventually

from farmwatch.broker import free_port

REGISTRY = parse_registry(
    """
farms:
  - id: pond-01
    name: Ao 1
    model: aquaculture_pond
    nodes: [{id: water-1}, {id: water-2}]
"""
)


@contextmanager
def running(
    mqtt: MqttSettings,
    store: Store,
    dead_letters: DeadLetterStore,
    spool: Spool,
    *,
    client_id: str = "ingest-test",
    auto_register: bool = False,
) -> Iterator[IngestService]:
    validator = TelemetryValidator(
        REGISTRY, topic_prefix=mqtt.topic_prefix, auto_register=auto_register
    )
    service = IngestService(
        mqtt, IngestSettings(client_id=client_id), store, dead_letters, validator, spool
    )
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        assert service.wait_ready(10)
        yield service
    finally:
        service.stop()
        thread.join(15)
        assert not thread.is_alive()


@contextmanager
def publisher(mqtt: MqttSettings) -> Iterator[paho.Client]:
    client, address = new_client(mqtt, "test-publisher", persistent=False)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish(client: paho.Client, topic: str, payload: bytes) -> None:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    assert info.is_published()


def topic(mqtt: MqttSettings, node: str = "water-1", farm: str = "pond-01") -> str:
    return str(node_topic(farm, node, Channel.TELEMETRY, prefix=mqtt.topic_prefix))


def rec(seq: int, **readings: float) -> Record:
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=600 - seq)
    return Record(ts, seq, True, readings or {"dissolved_oxygen": 5.0 + seq / 100})


def stored_seqs(store: Store, node: str = "water-1") -> list[int]:
    now = datetime.now(UTC)
    return [r.seq for r in store.records("pond-01", node, now - timedelta(days=1), now)]


def test_valid_and_invalid_messages(mqtt_settings: MqttSettings, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "fw.db")
    dead = DeadLetterStore(tmp_path / "dead.db")
    with (
        running(mqtt_settings, store, dead, Spool(tmp_path / "spool.db", 10**7)) as service,
        publisher(mqtt_settings) as pub,
    ):
        publish(pub, topic(mqtt_settings), encode_record(rec(1)))
        publish(pub, topic(mqtt_settings), encode_batch([rec(2), rec(3, ph=7.5)]))
        mixed = json.loads(encode_record(rec(4, ph=7.1)))
        mixed["readings"]["dissolved_oxygen"] = -3
        publish(pub, topic(mqtt_settings), json.dumps(mixed).encode())
        publish(pub, topic(mqtt_settings), b"{\x00garbage")
        publish(pub, topic(mqtt_settings, node="intruder"), encode_record(rec(5)))
        bad_id = topic(mqtt_settings).replace("pond-01", "pond 01")  # still matches farms/+/...
        publish(pub, bad_id, encode_record(rec(6)))
        eventually(lambda: service.stats.messages == 6)
    assert stored_seqs(store) == [1, 2, 3, 4]
    latest = {(r.node_id, r.quantity): r.value for r in store.latest("pond-01")}
    assert latest[("water-1", "ph")] == 7.1
    letters = {d.reason: d for d in dead.recent()}
    assert set(letters) == {"out_of_bounds", "malformed_json", "unknown_node", "bad_id"}
    assert letters["out_of_bounds"].rejections[0]["quantity"] == "dissolved_oxygen"
    assert letters["malformed_json"].payload == b"{\x00garbage"
    assert "not in the registry" in letters["unknown_node"].detail
    assert service.stats.rejections[Reason.OUT_OF_BOUNDS.value] == 1


def test_auto_register_accepts_unknown_nodes(mqtt_settings: MqttSettings, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "fw.db")
    dead = DeadLetterStore(tmp_path / "dead.db")
    with (
        running(
            mqtt_settings, store, dead, Spool(tmp_path / "spool.db", 10**7), auto_register=True
        ) as service,
        publisher(mqtt_settings) as pub,
    ):
        publish(pub, topic(mqtt_settings, farm="demo", node="n9"), encode_record(rec(1)))
        eventually(lambda: service.stats.records == 1)
    assert [r.node_id for r in store.latest("demo")] == ["n9"]
    assert dead.count() == 0


def test_store_down_readings_wait_in_the_spool_and_are_replayed(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    """While the database is unreachable, readings are spooled to disk (and acknowledged, so
    the broker does not hold them in memory); the next run replays them into the store."""
    dead = DeadLetterStore(tmp_path / "dead.db")
    spool = Spool(tmp_path / "spool.db", 10**7)
    down = InfluxStore(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", create_database=False))
    with (
        running(mqtt_settings, down, dead, spool, client_id="ingest-outage") as service,
        publisher(mqtt_settings) as pub,
    ):
        for seq in range(1, 51):
            publish(pub, topic(mqtt_settings), encode_record(rec(seq)))
        eventually(lambda: service.stats.messages == 50)
        assert service.stats.spooled_records == 50
        assert service.stats.records == 50  # accepted: durable in the spool
    assert len(spool) == 50
    spool.close()
    store = SqliteStore(tmp_path / "fw.db")
    spool = Spool(tmp_path / "spool.db", 10**7)
    with running(mqtt_settings, store, dead, spool, client_id="ingest-outage") as service:
        eventually(lambda: stored_seqs(store) == list(range(1, 51)), timeout=20)
        eventually(lambda: service.stats.replayed_records == 50)
    assert len(spool) == 0
    assert dead.count() == 0


def test_new_readings_queue_behind_the_spool_and_order_is_kept(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    dead = DeadLetterStore(tmp_path / "dead.db")
    spool = Spool(tmp_path / "spool.db", 10**7)
    spool.append([NodeRecord("pond-01", "water-1", rec(seq)) for seq in range(1, 11)])
    store = SqliteStore(tmp_path / "fw.db")
    with (
        running(mqtt_settings, store, dead, spool) as service,
        publisher(mqtt_settings) as pub,
    ):
        for seq in range(11, 21):
            publish(pub, topic(mqtt_settings), encode_record(rec(seq)))
        eventually(lambda: stored_seqs(store) == list(range(1, 21)), timeout=20)
        node = service.nodes.snapshot()[0]
        assert (node.records, node.missing_count, node.out_of_order) == (10, 0, 0)


def test_when_even_the_spool_fails_nothing_is_acknowledged(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    """Last line of defence: if neither the store nor the spool can take the data, the
    messages stay unacknowledged in the broker's persistent session."""
    dead = DeadLetterStore(tmp_path / "dead.db")
    broken_spool = Spool(tmp_path / "broken.db", 10**7)
    broken_spool.close()  # every write now fails, as on a full or read-only disk
    down = InfluxStore(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", create_database=False))
    with (
        running(mqtt_settings, down, dead, broken_spool, client_id="ingest-hold") as service,
        publisher(mqtt_settings) as pub,
    ):
        for seq in range(1, 31):
            publish(pub, topic(mqtt_settings), encode_record(rec(seq)))
        eventually(lambda: service.stats.store_retries >= 2)
        assert service.stats.messages == 0
    store = SqliteStore(tmp_path / "fw.db")
    with running(
        mqtt_settings, store, dead, Spool(tmp_path / "spool.db", 10**7), client_id="ingest-hold"
    ):
        eventually(lambda: stored_seqs(store) == list(range(1, 31)), timeout=20)


def test_senml_and_line_protocol_arrive_like_v1(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    """Off-the-shelf gateways (SenML) and Telegraf-style loggers (line protocol) go through the
    same validation and storage as v1; the format is sniffed (MQTT 3.1.1 has no content type)."""
    store = SqliteStore(tmp_path / "fw.db")
    dead = DeadLetterStore(tmp_path / "dead.db")
    now = int(datetime.now(UTC).timestamp())
    senml = json.dumps(
        [
            {"bn": "urn:dev:ow:10e2073a01080063:", "bt": now - 120, "n": "seq", "v": 1},
            {"n": "synced", "vb": True},
            {"n": "dissolved_oxygen", "v": 4.6},
            {"n": "water_temperature", "u": "Cel", "v": 27.8},
        ]
    ).encode()
    line_protocol = (
        "telemetry,farm=pond-01,node=water-1 "
        f"dissolved_oxygen=4.4,ph=19,seq=2i,synced=true {now - 60}000000000\n"
    ).encode()
    with (
        running(mqtt_settings, store, dead, Spool(tmp_path / "spool.db", 10**7)) as service,
        publisher(mqtt_settings) as pub,
    ):
        publish(pub, topic(mqtt_settings), senml)
        publish(pub, topic(mqtt_settings), line_protocol)
        eventually(lambda: service.stats.messages == 2)
    now_dt = datetime.now(UTC)
    records = store.records("pond-01", "water-1", now_dt - timedelta(hours=1), now_dt)
    assert [(r.seq, dict(r.readings)) for r in records] == [
        (1, {"dissolved_oxygen": 4.6, "water_temperature": 27.8}),
        (2, {"dissolved_oxygen": 4.4}),
    ]
    (letter,) = dead.recent()
    assert letter.reason == "out_of_bounds"  # ph=19 from the line-protocol message
    assert letter.rejections[0]["quantity"] == "ph"


def test_ingest_reconnects_after_the_broker_restarts(tmp_path: Path) -> None:
    """The broker goes away and comes back on the same port: ingest reconnects to its
    persistent session by itself and goes on storing."""
    broker = start_mosquitto(tmp_path / "broker")
    mqtt = MqttSettings(url=broker.url, topic_prefix="rc", keepalive_s=5)
    store = SqliteStore(tmp_path / "fw.db")
    dead = DeadLetterStore(tmp_path / "dead.db")
    try:
        with running(mqtt, store, dead, Spool(tmp_path / "spool.db", 10**7)) as service:
            with publisher(mqtt) as pub:
                publish(pub, topic(mqtt), encode_record(rec(1)))
            eventually(lambda: service.stats.records == 1)
            broker.stop()
            eventually(lambda: not service.stats.connected, timeout=10)
            broker.start()
            eventually(lambda: service.stats.connected, timeout=15)
            with publisher(mqtt) as pub:
                publish(pub, topic(mqtt), encode_record(rec(2)))
            eventually(lambda: service.stats.records == 2)
        assert stored_seqs(store) == [1, 2]
    finally:
        broker.stop()
