"""The HTTP API of a running ingest process, over real HTTP, fed through the real broker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from farmwatch_core.contract import Channel, Record, encode_record, node_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.registry import parse_registry
from farmwatch_core.settings import FarmwatchSettings, MqttSettings
from support.waiting import eventually

from farmwatch.components import ApiServer, build_ingest, start_api

REGISTRY = """
farms:
  - id: pond-01
    name: Ao cá ông Sơn
    model: aquaculture_pond
    nodes: [{id: water-1}, {id: water-2}, {id: spare}]
"""


@pytest.fixture
def api(mqtt_settings: MqttSettings, tmp_path: Path) -> Iterator[tuple[httpx.Client, ApiServer]]:
    (tmp_path / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    settings = FarmwatchSettings(data_dir=tmp_path, mqtt=mqtt_settings)
    deployment = parse_registry(REGISTRY)
    ingest = build_ingest(settings, deployment)
    thread = threading.Thread(target=ingest.run)
    thread.start()
    assert ingest.wait_ready(10)
    server = start_api(settings, deployment, ingest, ingest.dead_letters, port=0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
            yield client, server
    finally:
        server.stop()
        ingest.stop()
        thread.join(15)
        ingest.store.close()


def test_nodes_series_metrics_and_dead_letters(
    api: tuple[httpx.Client, ApiServer], mqtt_settings: MqttSettings
) -> None:
    http, _ = api
    # A multiple of 10 minutes since the epoch, so the 2-minute buckets below start at base.
    base = datetime.fromtimestamp(datetime.now(UTC).timestamp() // 600 * 600 - 1200, UTC)
    prefix = mqtt_settings.topic_prefix
    client, address = new_client(mqtt_settings, "api-test-publisher", persistent=False)
    client.connect(address.host, address.port)
    client.loop_start()
    try:

        def send(node: str, channel: Channel, payload: bytes, retain: bool = False) -> None:
            topic = str(node_topic("pond-01", node, channel, prefix=prefix))
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

        for seq, minute in [(1, 0), (2, 1), (5, 4), (3, 2), (2, 1)]:  # 4 lost, 3 late, 2 twice
            record = Record(
                base + timedelta(minutes=minute), seq, True, {"dissolved_oxygen": 4.0 + seq}
            )
            send("water-1", Channel.TELEMETRY, encode_record(record))
        send(
            "water-1", Channel.STATUS, json.dumps({"v": 1, "state": "online"}).encode(), retain=True
        )
        send(
            "water-2",
            Channel.STATUS,
            json.dumps({"v": 1, "state": "offline"}).encode(),
            retain=True,
        )
        send("water-2", Channel.TELEMETRY, b'{"v": 1, "seq": 1}')
        eventually(lambda: http.get("/api/v1/stats").json().get("messages") == 8)
    finally:
        # Clear the retained statuses so they don't outlive the test on the shared broker.
        for node in ("water-1", "water-2"):
            topic = str(node_topic("pond-01", node, Channel.STATUS, prefix=prefix))
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        client.disconnect()
        client.loop_stop()

    nodes = {n["node_id"]: n for n in http.get("/api/v1/nodes").json()}
    assert set(nodes) == {"water-1", "water-2", "spare"}
    one = nodes["water-1"]
    assert (
        one["state"],
        one["records"],
        one["missing_seq"],
        one["out_of_order"],
        one["duplicates"],
    ) == (
        "online",
        5,
        1,
        1,
        1,
    )
    assert one["last_reading_at"].startswith(
        (base + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M")
    )
    assert nodes["water-2"]["state"] == "offline"
    assert nodes["spare"]["state"] == "unknown"
    assert nodes["spare"]["registered"]

    params: dict[str, str | int] = {
        "quantity": "dissolved_oxygen",
        "start": base.isoformat(),
        "end": (base + timedelta(minutes=10)).isoformat(),
        "interval_s": 120,
        "fn": "max",
    }
    buckets = http.get("/api/v1/farms/pond-01/nodes/water-1/series", params=params).json()
    assert [(b["value"], b["count"]) for b in buckets] == [(6.0, 2), (7.0, 1), (9.0, 1)]
    assert (
        http.get(
            "/api/v1/farms/pond-01/nodes/water-1/series", params={**params, "quantity": "x"}
        ).status_code
        == 404
    )

    metrics = http.get("/metrics").text
    assert 'farmwatch_ingest_rejections_total{reason="schema"} 1.0' in metrics
    assert 'farmwatch_node_missing_seq{farm="pond-01",node="water-1"} 1.0' in metrics
    assert 'farmwatch_node_online{farm="pond-01",node="water-2"} 0.0' in metrics
    assert "farmwatch_ingest_lag_seconds_count 5.0" in metrics

    letters = http.get("/api/v1/dead-letters").json()
    assert [d["reason"] for d in letters] == ["schema"]
    assert http.get("/readyz").json()["mqtt_connected"] is True
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/api/v1/nodes", "/api/v1/latest", "/api/v1/dead-letters"} <= set(paths)
