"""Every rejection reason of the contract is reachable through ingest and ends up, with its
detail, in the dead-letter store."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from farmwatch_core.contract import Reason, Record, encode_record
from farmwatch_core.mqtt import new_client
from farmwatch_core.registry import parse_registry
from farmwatch_core.settings import InfluxSettings, IngestSettings, MqttSettings
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.spool import Spool
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.validation import TelemetryValidator
from support.waiting import eventually

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
REGISTRY = parse_registry("farms: [{id: f, name: F, model: greenhouse, nodes: [{id: n}]}]")
TOPIC = "farms/f/nodes/n/telemetry"


def v1(**fields: object) -> bytes:
    body: dict[str, object] = {
        "v": 1,
        "ts": "2026-11-29T02:59:00Z",
        "seq": 1,
        "synced": True,
        "readings": {"air_temperature": 25.0},
    }
    body.update(fields)
    return json.dumps(body).encode()


CASES: dict[Reason, tuple[str, bytes]] = {
    Reason.BAD_TOPIC: ("farms/f/nodes/n/config", v1()),
    Reason.BAD_ID: ("farms/f f/nodes/n/telemetry", v1()),
    Reason.TOO_LARGE: (TOPIC, v1(pad="x" * 300_000)),
    Reason.MALFORMED_JSON: (TOPIC, b'{"v": 1,'),
    Reason.SCHEMA: (TOPIC, v1(seq="one")),
    Reason.UNSUPPORTED_VERSION: (TOPIC, v1(v=9)),
    Reason.UNKNOWN_NODE: ("farms/f/nodes/stranger/telemetry", v1()),
    Reason.UNKNOWN_QUANTITY: (TOPIC, v1(readings={"air_temperature": 25.0, "mood": 1})),
    Reason.WRONG_TYPE: (TOPIC, v1(readings={"air_temperature": 25.0, "co2": "400"})),
    Reason.NOT_FINITE: (
        TOPIC,
        b'{"v":1,"ts":"2026-11-29T02:59:00Z","seq":1,"synced":true,'
        b'"readings":{"air_temperature":25,"co2":NaN}}',
    ),
    Reason.WRONG_UNIT: (TOPIC, v1(readings={"air_temperature": {"value": 25, "unit": "kg"}})),
    Reason.OUT_OF_BOUNDS: (TOPIC, v1(readings={"air_temperature": 25.0, "relative_humidity": 130})),
    Reason.CLOCK_IN_FUTURE: (TOPIC, v1(ts="2026-11-29T04:00:00Z")),
    Reason.TOO_OLD: (TOPIC, v1(ts="1970-01-01T00:00:00Z", synced=False)),
}


def test_every_reason_has_a_case() -> None:
    # STORE_REJECTED comes from the database, not the message: tested with a real influxd below.
    assert set(CASES) | {Reason.STORE_REJECTED} == set(Reason)


@pytest.mark.parametrize("reason", list(CASES))
def test_reason_is_reached_and_explained(reason: Reason) -> None:
    topic, payload = CASES[reason]
    checked = TelemetryValidator(REGISTRY).check(topic, payload, NOW)
    assert checked.dead_letter is not None
    assert checked.dead_letter.reason == reason.value
    assert len(checked.dead_letter.detail) > 20  # a sentence a technician can act on
    assert checked.dead_letter.payload == payload
    if reason in {
        Reason.UNKNOWN_QUANTITY,
        Reason.WRONG_TYPE,
        Reason.NOT_FINITE,
        Reason.OUT_OF_BOUNDS,
    }:
        # Reading-level: the good reading of the same record is kept.
        assert [dict(r.record.readings) for r in checked.records] == [{"air_temperature": 25.0}]


def test_store_rejected_reaches_the_dead_letters_and_spares_the_rest(
    mqtt_settings: MqttSettings, influx_settings: InfluxSettings, tmp_path: Path
) -> None:
    """InfluxDB refuses a float for a field it already holds as a string (a field type
    conflict, per measurement and shard); only that message becomes a dead letter, the other
    message of the same batch is stored."""
    store = InfluxStore(influx_settings)
    # Field types are per shard (a week), so the conflicting point must be recent too.
    recent_ms = int(datetime.now(UTC).timestamp() * 1000) - 120_000
    conflict = httpx.post(
        f"{influx_settings.url}/write",
        params={"db": influx_settings.database, "precision": "ms"},
        content=f'telemetry,farm=f,node=n co2="high" {recent_ms}',
    )
    assert conflict.status_code == 204
    dead = DeadLetterStore(tmp_path / "dead.db")
    registry = parse_registry(
        "farms: [{id: f, name: F, model: greenhouse, nodes: [{id: n}, {id: m}]}]"
    )
    validator = TelemetryValidator(registry, topic_prefix=mqtt_settings.topic_prefix)
    service = IngestService(
        mqtt_settings,
        IngestSettings(client_id=f"rej-{tmp_path.name}"[:60], batch_linger_s=0.5),
        store,
        dead,
        validator,
        Spool(tmp_path / "spool.db", 10**7),
    )
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        assert service.wait_ready(10)
        client, address = new_client(mqtt_settings, f"pub-{tmp_path.name}"[:60], persistent=False)
        client.connect(address.host, address.port)
        client.loop_start()
        ts = datetime.now(UTC) - timedelta(minutes=1)
        prefix = mqtt_settings.topic_prefix
        for node, readings in (("n", {"co2": 900.0}), ("m", {"air_temperature": 21.0})):
            payload = encode_record(Record(ts, 1, True, readings))
            client.publish(
                f"{prefix}/farms/f/nodes/{node}/telemetry", payload, qos=1
            ).wait_for_publish(10)
        client.disconnect()
        client.loop_stop()
        eventually(lambda: service.stats.messages == 2)
    finally:
        service.stop()
        thread.join(15)
    (letter,) = dead.recent()
    assert letter.reason == "store_rejected"
    assert letter.node_id == "n"
    assert "conflict" in letter.detail
    assert [
        r.readings
        for r in store.records("f", "m", ts - timedelta(seconds=1), ts + timedelta(seconds=1))
    ] == [{"air_temperature": 21.0}]
    store.close()
